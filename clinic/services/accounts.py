"""Practices, clinician accounts, sign-in and invitation links."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import available_timezones

import sqlalchemy as sa

from clinic import passwords
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import AccountToken, Clinician, Practice, Role, TokenPurpose
from clinic.tokens import hash_token, new_token


class AccountError(ValueError):
    """A request that cannot be carried out; the message is safe to show."""


def normalise_email(email: str) -> str:
    """The form an email is stored and looked up in."""
    return email.strip().lower()


def check_password(password: str) -> None:
    """Raise AccountError when the password is too weak to accept."""
    problem = passwords.password_problem(password)
    if problem:
        raise AccountError(problem)


def email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(sa.exists().where(Clinician.email == normalise_email(email))))


def _new_clinician(practice: Practice, *, name: str, email: str, credential: str | None, role: Role) -> Clinician:
    if email_taken(email):
        raise AccountError("An account with this email address already exists.")
    clinician = Clinician(
        practice=practice,
        name=name.strip(),
        email=normalise_email(email),
        credential=(credential or "").strip() or None,
        role=role,
    )
    db.session.add(clinician)
    return clinician


def create_practice(
    *,
    practice_name: str,
    owner_name: str,
    email: str,
    password: str,
    credential: str | None = None,
    timezone: str = "UTC",
) -> Clinician:
    """A new practice and its owner, ready to sign in."""
    check_password(password)
    if timezone not in available_timezones():
        raise AccountError(f"Unknown time zone {timezone!r}; use a name like Europe/Berlin.")
    practice = Practice(name=practice_name.strip(), timezone=timezone)
    db.session.add(practice)
    owner = _new_clinician(practice, name=owner_name, email=email, credential=credential, role=Role.OWNER)
    owner.password_hash = passwords.hash_password(password)
    db.session.flush()
    return owner


def authenticate(email: str, password: str) -> Clinician | None:
    """The clinician these credentials open, or None — the caller cannot tell why."""
    clinician = db.session.scalar(sa.select(Clinician).where(Clinician.email == normalise_email(email)))
    ok = passwords.verify_password(clinician.password_hash if clinician else None, password)
    if not ok or clinician is None or not clinician.is_active:
        return None
    if passwords.needs_rehash(clinician.password_hash):
        clinician.password_hash = passwords.hash_password(password)
    clinician.last_sign_in_at = utcnow()
    db.session.flush()
    return clinician


def _issue_token(clinician: Clinician, purpose: TokenPurpose, lifetime: timedelta) -> str:
    """A new one-time link token; earlier unused tokens of the same purpose die."""
    now = utcnow()
    db.session.execute(
        sa.update(AccountToken)
        .where(
            AccountToken.clinician_id == clinician.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    raw, digest = new_token()
    db.session.add(
        AccountToken(clinician=clinician, purpose=purpose, token_hash=digest, created_at=now, expires_at=now + lifetime)
    )
    db.session.flush()
    return raw


def invite_clinician(
    practice: Practice, *, name: str, email: str, credential: str | None, lifetime: timedelta
) -> tuple[Clinician, str]:
    """A clinician account without a password, and the raw invitation token (shown once)."""
    clinician = _new_clinician(practice, name=name, email=email, credential=credential, role=Role.CLINICIAN)
    db.session.flush()
    return clinician, _issue_token(clinician, TokenPurpose.INVITE, lifetime)


def reissue_invitation(clinician: Clinician, *, lifetime: timedelta) -> str:
    """A new invitation link for a clinician who has not set a password; the old one dies."""
    if clinician.password_hash is not None:
        raise AccountError("This clinician has already set a password.")
    return _issue_token(clinician, TokenPurpose.INVITE, lifetime)


def find_token(raw: str, purpose: TokenPurpose) -> AccountToken | None:
    """The unused, unexpired token matching this raw value, or None."""
    if not raw or len(raw) > 200:
        return None
    token = db.session.scalar(
        sa.select(AccountToken).where(AccountToken.token_hash == hash_token(raw), AccountToken.purpose == purpose)
    )
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        return None
    if not token.clinician.active:
        return None
    return token


def accept_invitation(token: AccountToken, password: str) -> Clinician:
    """Set the invited clinician's password and spend the token."""
    check_password(password)
    clinician = token.clinician
    clinician.password_hash = passwords.hash_password(password)
    clinician.session_version += 1
    token.used_at = utcnow()
    db.session.flush()
    return clinician


def deactivate_clinician(clinician: Clinician, *, by: Clinician) -> None:
    """Lock a clinician out and end any session they have open."""
    if clinician.id == by.id or clinician.is_owner:
        raise AccountError("The practice owner's own account cannot be deactivated.")
    clinician.active = False
    clinician.session_version += 1
    db.session.flush()


def reactivate_clinician(clinician: Clinician) -> None:
    """Let a deactivated clinician sign in again."""
    clinician.active = True
    db.session.flush()


def load_session_user(user_id: str) -> Clinician | None:
    """The clinician a session cookie names, if that session is still valid."""
    try:
        ident, version = (int(part) for part in user_id.split(":", 1))
    except (ValueError, AttributeError):
        return None
    clinician = db.session.get(Clinician, ident)
    if clinician is None or clinician.session_version != version or not clinician.is_active:
        return None
    return clinician
