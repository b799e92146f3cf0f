"""What the practice owner can do for a clinician who cannot sign in: clear a sign-in lock,
or reset two-factor sign-in after a lost phone.

Both act on someone else's account, so both are the owner's alone (the views load the
clinician through the practice's scope), both are audited, and when the owner has
two-factor sign-in on, both need a current code from the owner's own authenticator app
(twofactor.check_app_code: each code works once, recovery codes do not count). The
checks run before the code is spent, so a refused request costs the owner no code.
"""

from __future__ import annotations

from flask import current_app

from clinic import audit
from clinic.extensions import db
from clinic.models import Clinician
from clinic.services import accounts, twofactor
from clinic.services.accounts import AccountError


def _check_owner(clinician: Clinician, owner: Clinician) -> None:
    """Refuse anyone but the owner of the clinician's practice (the views reach it only through the scope anyway)."""
    if not owner.is_owner or clinician.practice_id != owner.practice_id:
        raise AccountError("Only the owner of this clinician's practice can do this.")


def _confirm_owner(owner: Clinician, code: str | None) -> bool:
    """Spend the owner's current app code when the owner has two-factor on; True when one was checked."""
    if not owner.two_factor_enabled:
        return False
    twofactor.check_app_code(owner, code or "")
    return True


def unlock_signin(clinician: Clinician, *, by: Clinician, code: str | None = None) -> None:
    """Clear a clinician's sign-in lock and their count of wrong attempts, so they can sign in now."""
    _check_owner(clinician, by)
    if clinician.id == by.id:
        minutes = current_app.config["SIGNIN_LOCK_MINUTES"]
        raise AccountError(
            "This is for other clinicians. A lock on your own account ends by itself "
            f"{minutes} minutes after it began, or when you reset your password by email."
        )
    if not accounts.is_locked(clinician):
        raise AccountError(f"{clinician.name} is not locked out: they can sign in now.")
    checked = _confirm_owner(by, code)
    failures = clinician.failed_signins
    accounts.clear_failures(clinician)
    audit.record(
        "clinician.unlocked",
        actor="clinician",
        actor_id=by.id,
        practice_id=clinician.practice_id,
        target=f"clinician:{clinician.id}",
        detail={"failures": failures, "owner_code": checked},
    )
    db.session.flush()


def reset_two_factor(clinician: Clinician, *, by: Clinician, code: str | None = None) -> None:
    """Turn a clinician's two-factor sign-in off (secret and recovery codes forgotten) and end their sessions.

    Where the practice requires two-factor sign-in, the clinician is asked to set it up
    again before anything else at their next sign-in (clinic.login holds them there)."""
    _check_owner(clinician, by)
    if clinician.id == by.id:
        raise AccountError(
            "To turn off your own two-factor sign-in, use Security on your account page "
            "(it asks for your password and a code)."
        )
    if not clinician.two_factor_enabled:
        raise AccountError(f"{clinician.name} does not have two-factor sign-in on: there is nothing to reset.")
    checked = _confirm_owner(by, code)
    twofactor.clear(clinician)
    # A lost phone may still hold a signed-in session: the next sign-in starts from the password.
    clinician.session_version += 1
    audit.record(
        "clinician.two_factor_reset",
        actor="clinician",
        actor_id=by.id,
        practice_id=clinician.practice_id,
        target=f"clinician:{clinician.id}",
        detail={
            "owner_code": checked,
            "sessions_ended": True,
            "must_enrol": clinician.practice.require_two_factor,
        },
    )
    db.session.flush()
