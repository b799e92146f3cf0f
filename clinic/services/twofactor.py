"""Two-factor sign-in: TOTP codes from an authenticator app, and one-time recovery codes.

Each TOTP code works once: the time step of the last accepted code is kept on the
clinician, and a code is accepted only for a later step, by a conditional UPDATE
so two requests racing with the same code cannot both win. Recovery codes are
kept as SHA-256 digests and spent the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import pyotp
import segno
import sqlalchemy as sa
from pyotp.exceptions import OTPVerificationError
from sqlalchemy.orm.attributes import set_committed_value

from clinic import audit
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Clinician
from clinic.services import accounts

ISSUER = "Tandem"
# One step either side of now: phones whose clocks are up to 30 seconds off still work.
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
# 16 characters from 32 (no 0/O or 1/I to misread) carry 80 random bits: far beyond
# guessing, so a fast unsalted SHA-256 is enough to keep a leaked database from
# using them; a slow password hash would only add sign-in time.
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
RECOVERY_LENGTH = 16
_SEPARATORS = re.compile(r"[\s\-]+")

WRONG_CODE = "That code is not right. Enter the current code from your app, or one of your recovery codes."
MISSING_APP_CODE = "Enter the 6-digit code your authenticator app shows now."
WRONG_APP_CODE = (
    "That code is not right, or was already used. Enter the code your authenticator app shows now "
    "(recovery codes do not work here)."
)


class TwoFactorError(ValueError):
    """A two-factor request that cannot be carried out; the message is safe to show."""

    def __init__(self, message: str, *, field: str = "code"):
        super().__init__(message)
        self.field = field  # the form field the message belongs beside


def normalise_code(code: str) -> str:
    """A typed code without spaces or dashes, upper-cased."""
    return _SEPARATORS.sub("", code or "").upper()


def hash_recovery_code(code: str) -> str:
    """The stored form of a recovery code (hex SHA-256 of its normalised form)."""
    return hashlib.sha256(normalise_code(code).encode("ascii", "replace")).hexdigest()


def _new_recovery_code() -> str:
    """A random recovery code, shown as four groups of four."""
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def _new_recovery_codes(clinician: Clinician) -> list[str]:
    """A fresh set of recovery codes for the clinician (earlier ones stop working); returned to be shown once."""
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    clinician.recovery_code_hashes = " ".join(hash_recovery_code(c) for c in codes)
    return codes


def begin_enrolment(clinician: Clinician) -> None:
    """Give the clinician a new secret to scan; it only counts once a code from it is confirmed."""
    if clinician.two_factor_enabled:
        raise TwoFactorError("Two-factor sign-in is already on.")
    clinician.totp_secret = pyotp.random_base32()
    clinician.totp_enabled_at = None
    clinician.totp_last_counter = None
    clinician.recovery_code_hashes = ""
    db.session.flush()


def provisioning_uri(clinician: Clinician) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(clinician.totp_secret).provisioning_uri(name=clinician.email, issuer_name=ISSUER)


def qr_code(clinician: Clinician) -> str:
    """The enrolment QR code as an SVG data URI (an <img> the page's CSP allows)."""
    return segno.make(provisioning_uri(clinician), error="m").svg_data_uri(scale=5, border=2)


def grouped_secret(clinician: Clinician) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    secret = clinician.totp_secret or ""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _matching_step(secret: str, code: str) -> int | None:
    """The time step this six-digit code belongs to (within the window), or None."""
    code = normalise_code(code)
    if not (len(code) == 6 and code.isdigit()):
        return None
    try:
        return pyotp.TOTP(secret).verify_and_get_timecode(code, valid_window=VALID_WINDOW)
    except OTPVerificationError:
        return None


def _use_totp(clinician: Clinician, code: str) -> bool:
    """Accept a TOTP code once: only for a step later than the last accepted one."""
    step = _matching_step(clinician.totp_secret or "", code)
    if step is None:
        return False
    result = db.session.execute(
        sa.update(Clinician)
        .where(
            Clinician.id == clinician.id,
            sa.or_(Clinician.totp_last_counter.is_(None), Clinician.totp_last_counter < step),
        )
        .values(totp_last_counter=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False  # replayed, or another request just used it
    set_committed_value(clinician, "totp_last_counter", step)
    return True


def _use_recovery_code(clinician: Clinician, code: str) -> bool:
    """Spend one recovery code, if it is one of the clinician's unused ones."""
    typed = normalise_code(code)
    if len(typed) != RECOVERY_LENGTH:
        return False
    digest = hash_recovery_code(typed)
    stored = clinician.recovery_code_hashes.split()
    if not any(hmac.compare_digest(digest, known) for known in stored):
        return False
    remaining = " ".join(known for known in stored if known != digest)
    # Only if nobody spent a code since we read the list: a code works once even under a race.
    result = db.session.execute(
        sa.update(Clinician)
        .where(Clinician.id == clinician.id, Clinician.recovery_code_hashes == clinician.recovery_code_hashes)
        .values(recovery_code_hashes=remaining)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    set_committed_value(clinician, "recovery_code_hashes", remaining)
    audit.record(
        "2fa.recovery_used",
        actor="clinician",
        actor_id=clinician.id,
        practice_id=clinician.practice_id,
        detail={"remaining": clinician.recovery_codes_left},
    )
    return True


def _use_code(clinician: Clinician, code: str) -> str | None:
    """ "totp" or "recovery" when the code is good (and now spent), else None."""
    if _use_totp(clinician, code):
        return "totp"
    if _use_recovery_code(clinician, code):
        return "recovery"
    return None


def confirm_enrolment(clinician: Clinician, code: str) -> list[str]:
    """Turn two-factor sign-in on with a code from the new secret; returns the recovery codes (shown once)."""
    if clinician.two_factor_enabled or not clinician.totp_secret:
        raise TwoFactorError("Start setting up two-factor sign-in first.")
    if not _use_totp(clinician, code):
        raise TwoFactorError("That code does not match. Check that your phone's clock is right and try the next one.")
    codes = _new_recovery_codes(clinician)
    clinician.totp_enabled_at = utcnow()
    audit.record("2fa.enabled", actor="clinician", actor_id=clinician.id, practice_id=clinician.practice_id)
    db.session.flush()
    return codes


def verify_signin(clinician: Clinician, code: str) -> str | None:
    """The second sign-in step: "totp" or "recovery" when the code is good, else None (counted towards the lock)."""
    if accounts.is_locked(clinician):
        accounts.failure_event(clinician, "two_factor", locked=True)
        return None
    method = _use_code(clinician, code)
    if method is None:
        accounts.note_failure(clinician, step="two_factor")
    return method


def disable(clinician: Clinician, *, password: str, code: str) -> None:
    """Turn two-factor sign-in off; needs the password and a current code (or a recovery code)."""
    if not clinician.two_factor_enabled:
        raise TwoFactorError("Two-factor sign-in is not on.")
    try:
        accounts.confirm_password(clinician, password)
    except accounts.AccountError as exc:
        raise TwoFactorError(str(exc), field="password") from None
    if _use_code(clinician, code) is None:
        accounts.note_failure(clinician, step="two_factor")
        raise TwoFactorError(WRONG_CODE)
    clear(clinician)
    audit.record("2fa.disabled", actor="clinician", actor_id=clinician.id, practice_id=clinician.practice_id)
    db.session.flush()


def clear(clinician: Clinician) -> None:
    """Two-factor sign-in off: the secret, the last used step and the recovery codes are forgotten.

    No checks and no audit event: the callers (turning it off, the owner's reset) do both."""
    clinician.totp_secret = None
    clinician.totp_enabled_at = None
    clinician.totp_last_counter = None
    clinician.recovery_code_hashes = ""


def check_app_code(clinician: Clinician, code: str) -> None:
    """Spend a current code from the clinician's authenticator app, or raise TwoFactorError.

    Recovery codes are refused here on purpose. This check guards acts on a signed-in
    session (making new recovery codes, an owner's recovery actions on someone else's
    account), where it must prove the person at the keyboard holds the authenticator
    right now. A recovery code is a long-lived paper fallback for signing in: whoever
    found a printout could otherwise use it to act as this clinician, and a clinician
    who has lost the app should reset two-factor instead."""
    if not normalise_code(code):
        raise TwoFactorError(MISSING_APP_CODE)
    if not _use_totp(clinician, code):
        accounts.note_failure(clinician, step="two_factor")  # guesses count towards the lock, as at sign-in
        raise TwoFactorError(WRONG_APP_CODE)


def regenerate_recovery_codes(clinician: Clinician, code: str) -> list[str]:
    """New recovery codes after a current code from the app; the old ones stop working. Returned to be shown once."""
    if not clinician.two_factor_enabled:
        raise TwoFactorError("Two-factor sign-in is not on, so there are no recovery codes to replace.")
    check_app_code(clinician, code)
    codes = _new_recovery_codes(clinician)
    audit.record(
        "two_factor.recovery_codes_regenerated",
        actor="clinician",
        actor_id=clinician.id,
        practice_id=clinician.practice_id,
        detail={"count": len(codes)},
    )
    db.session.flush()
    return codes
