"""Practices, clinician accounts, sign-in, the sign-in lock, passwords and one-time links.

The lock: SIGNIN_LOCK_FAILURES wrong passwords or second-factor codes for one
account within SIGNIN_LOCK_WINDOW_MINUTES lock it for SIGNIN_LOCK_MINUTES. The
count lives on the clinician row, not in the rate limiter's storage: it then holds
across workers and restarts even where no Redis runs (a small self-hosted
install), and it is changed by one atomic UPDATE, so parallel guesses cannot slip
past it. A locked account answers exactly like a wrong password, after the same
password hashing, so nobody learns that it exists or is locked; unknown emails
take the same path against a dummy hash.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from clinic import audit, passwords
from clinic.db_types import UTCDateTime, utcnow
from clinic.extensions import db
from clinic.models import AccountToken, Clinician, Practice, Role, TokenPurpose
from clinic.tokens import hash_token, new_token

LOCKED = "Too many wrong attempts. Please wait a few minutes and try again."


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


def failure_event(clinician: Clinician, step: str, *, locked: bool = False) -> None:
    """An audit row for a failed attempt on a known account (never the typed email or secret)."""
    audit.record(
        "signin.failure",
        actor="anonymous",
        practice_id=clinician.practice_id,
        target=f"clinician:{clinician.id}",
        detail={"step": step, "locked": True} if locked else {"step": step},
    )


def is_locked(clinician: Clinician, now: datetime | None = None) -> bool:
    """True while too many recent failures keep this account from signing in."""
    return clinician.locked_until is not None and clinician.locked_until > (now or utcnow())


def note_failure(clinician: Clinician, *, step: str) -> None:
    """Count one wrong password or code against the account; enough of them lock it."""
    cfg = current_app.config
    now = utcnow()
    at = sa.literal(now, UTCDateTime())
    in_window = sa.and_(
        Clinician.failed_signins_since.is_not(None),
        Clinician.failed_signins_since
        > sa.literal(now - timedelta(minutes=cfg["SIGNIN_LOCK_WINDOW_MINUTES"]), UTCDateTime()),
    )
    count = sa.case((in_window, Clinician.failed_signins + 1), else_=1)
    # One statement, so concurrent failures each count (no read-modify-write race).
    row = db.session.execute(
        sa.update(Clinician)
        .where(Clinician.id == clinician.id)
        .values(
            failed_signins=count,
            failed_signins_since=sa.case((in_window, Clinician.failed_signins_since), else_=at),
            locked_until=sa.case(
                (
                    count >= cfg["SIGNIN_LOCK_FAILURES"],
                    sa.literal(now + timedelta(minutes=cfg["SIGNIN_LOCK_MINUTES"]), UTCDateTime()),
                ),
                else_=Clinician.locked_until,
            ),
        )
        .returning(Clinician.failed_signins, Clinician.failed_signins_since, Clinician.locked_until)
        .execution_options(synchronize_session=False)
    ).one()
    for name, value in zip(("failed_signins", "failed_signins_since", "locked_until"), row, strict=True):
        set_committed_value(clinician, name, value)
    failure_event(clinician, step)
    # Attempts on a locked account are refused before they are counted, so this is the one that locked it.
    if row.failed_signins == cfg["SIGNIN_LOCK_FAILURES"]:
        audit.record(
            "signin.locked",
            actor="system",
            practice_id=clinician.practice_id,
            target=f"clinician:{clinician.id}",
            detail={"minutes": cfg["SIGNIN_LOCK_MINUTES"]},
        )


def clear_failures(clinician: Clinician) -> None:
    """Forget the counted failures and any sign-in lock they led to."""
    clinician.failed_signins = 0
    clinician.failed_signins_since = None
    clinician.locked_until = None


def authenticate(email: str, password: str) -> Clinician | None:
    """The clinician whose password this is, or None — the caller cannot tell why."""
    # A right password is not yet a sign-in: finish_signin() is, after the second factor if any.
    clinician = db.session.scalar(sa.select(Clinician).where(Clinician.email == normalise_email(email)))
    # Always one hash verification, whatever happens next: equal time for every case.
    ok = passwords.verify_password(clinician.password_hash if clinician else None, password)
    if clinician is None:
        audit.record("signin.failure", actor="anonymous", detail={"step": "password"})
        return None
    if is_locked(clinician):
        failure_event(clinician, "password", locked=True)
        return None
    if not ok or not clinician.is_active:
        note_failure(clinician, step="password")
        return None
    if passwords.needs_rehash(clinician.password_hash):
        clinician.password_hash = passwords.hash_password(password)
    db.session.flush()
    return clinician


def finish_signin(clinician: Clinician, *, two_factor: str | None = None) -> None:
    """Record a completed sign-in (password, and second factor when required); failures start over."""
    clear_failures(clinician)
    clinician.last_sign_in_at = utcnow()
    audit.record(
        "signin.success",
        actor="clinician",
        actor_id=clinician.id,
        practice_id=clinician.practice_id,
        detail={"two_factor": two_factor},
    )
    db.session.flush()


def confirm_password(clinician: Clinician, password: str) -> None:
    """Raise AccountError unless this is the signed-in clinician's password (wrong ones count towards the lock)."""
    if is_locked(clinician):
        raise AccountError(LOCKED)
    if not passwords.verify_password(clinician.password_hash, password):
        note_failure(clinician, step="password_confirm")
        raise AccountError("That is not your current password.")


def end_all_sessions(clinician: Clinician, *, reason: str) -> None:
    """Sign the clinician out on every browser: each session cookie names the old version."""
    clinician.session_version += 1
    audit.record(
        "session.ended",
        actor="clinician",
        actor_id=clinician.id,
        practice_id=clinician.practice_id,
        detail={"reason": reason, "all": True},
    )
    db.session.flush()


def change_password(clinician: Clinician, *, current: str, new: str) -> None:
    """Set a new password for a signed-in clinician; every other session ends."""
    confirm_password(clinician, current)
    check_password(new)
    clinician.password_hash = passwords.hash_password(new)
    clinician.session_version += 1
    audit.record("password.changed", actor="clinician", actor_id=clinician.id, practice_id=clinician.practice_id)
    db.session.flush()


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
    audit.record("clinician.invited", practice_id=practice.id, target=f"clinician:{clinician.id}")
    return clinician, _issue_token(clinician, TokenPurpose.INVITE, lifetime)


def reissue_invitation(clinician: Clinician, *, lifetime: timedelta) -> str:
    """A new invitation link for a clinician who has not set a password; the old one dies."""
    if clinician.password_hash is not None:
        raise AccountError("This clinician has already set a password.")
    audit.record("clinician.invitation_reissued", practice_id=clinician.practice_id, target=f"clinician:{clinician.id}")
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


def request_password_reset(email: str, *, lifetime: timedelta) -> tuple[Clinician, str] | None:
    """A reset link token for the active account with this email, or None (the caller says the same either way)."""
    clinician = db.session.scalar(sa.select(Clinician).where(Clinician.email == normalise_email(email)))
    if clinician is None:
        audit.record("password.reset_requested", actor="anonymous")
        return None
    audit.record(
        "password.reset_requested",
        actor="anonymous",
        practice_id=clinician.practice_id,
        target=f"clinician:{clinician.id}",
        detail={"sent": clinician.is_active},
    )
    # Invited clinicians finish with their invitation; deactivated ones stay out.
    if not clinician.is_active:
        return None
    return clinician, _issue_token(clinician, TokenPurpose.RESET, lifetime)


def _set_password_from_link(token: AccountToken, password: str) -> Clinician:
    """What both emailed links do: a checked password, every other session ended, the link spent."""
    check_password(password)
    clinician = token.clinician
    clinician.password_hash = passwords.hash_password(password)
    clinician.session_version += 1
    token.used_at = utcnow()
    return clinician


def reset_password(token: AccountToken, password: str) -> Clinician:
    """Set a new password from a reset link: the link is spent and every session ends."""
    clinician = _set_password_from_link(token, password)
    # Whoever holds the mailbox may sign in again at once; the second factor still applies.
    clear_failures(clinician)
    audit.record(
        "password.reset_done",
        actor="clinician",
        actor_id=clinician.id,
        practice_id=clinician.practice_id,
        target=f"clinician:{clinician.id}",
    )
    db.session.flush()
    return clinician


def accept_invitation(token: AccountToken, password: str) -> Clinician:
    """Set the invited clinician's password and spend the token."""
    clinician = _set_password_from_link(token, password)
    audit.record("clinician.joined", actor="clinician", actor_id=clinician.id, practice_id=clinician.practice_id)
    db.session.flush()
    return clinician


def deactivate_clinician(clinician: Clinician, *, by: Clinician) -> None:
    """Lock a clinician out and end any session they have open."""
    if clinician.id == by.id or clinician.is_owner:
        raise AccountError("The practice owner's own account cannot be deactivated.")
    clinician.active = False
    clinician.session_version += 1
    audit.record(
        "clinician.deactivated",
        actor="clinician",
        actor_id=by.id,
        practice_id=clinician.practice_id,
        target=f"clinician:{clinician.id}",
        detail={"sessions_ended": True},
    )
    db.session.flush()


def reactivate_clinician(clinician: Clinician) -> None:
    """Let a deactivated clinician sign in again."""
    clinician.active = True
    audit.record("clinician.reactivated", practice_id=clinician.practice_id, target=f"clinician:{clinician.id}")
    db.session.flush()


# Every signed-in request starts with it: built once (session.get would build and key it each time).
_SESSION_USER = sa.select(Clinician).where(Clinician.id == sa.bindparam("clinician_id"))


def load_session_user(user_id: str) -> Clinician | None:
    """The clinician a session cookie names, if that session is still valid."""
    try:
        ident, version = (int(part) for part in user_id.split(":", 1))
    except (ValueError, AttributeError):
        return None
    clinician = db.session.scalar(_SESSION_USER, {"clinician_id": ident})
    if clinician is None or clinician.session_version != version or not clinician.is_active:
        return None
    return clinician
