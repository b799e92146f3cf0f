"""Couples and their two partners."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clinic import audit
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Clinician, Couple, Partner, Practice


class CoupleError(ValueError):
    """A request about a couple that cannot be carried out; safe to show."""


@dataclass(frozen=True)
class PartnerDetails:
    display_name: str
    email: str | None = None
    pronouns: str | None = None


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _check(label: str, partners: Sequence[PartnerDetails]) -> None:
    # The forms check these too; the service holds the line for every other caller
    # (SQLite does not enforce column lengths).
    if not label.strip():
        raise CoupleError("Give the couple a label, such as their initials.")
    if len(label.strip()) > 60:
        raise CoupleError("Keep the label to 60 characters.")
    if len(partners) != 2:
        raise CoupleError("A couple has exactly two partners.")
    if any(not p.display_name.strip() for p in partners):
        raise CoupleError("Each partner needs a name to be addressed by.")
    if any(
        len(p.display_name.strip()) > 80 or len(p.pronouns or "") > 40 or len(p.email or "") > 254 for p in partners
    ):
        raise CoupleError("A partner's name, pronouns or email is too long.")


def create_couple(
    practice: Practice, clinician: Clinician, *, label: str, partners: Sequence[PartnerDetails]
) -> Couple:
    """A new couple with its two partners, assigned to a clinician of the practice."""
    _check(label, partners)
    if clinician.practice_id != practice.id:
        raise CoupleError("That clinician is not part of this practice.")
    couple = Couple(practice_id=practice.id, clinician_id=clinician.id, label=label.strip(), partners=[])
    for position, details in enumerate(partners, start=1):
        couple.partners.append(
            Partner(
                position=position,
                display_name=details.display_name.strip(),
                email=_clean(details.email) and details.email.strip().lower(),
                pronouns=_clean(details.pronouns),
            )
        )
    db.session.add(couple)
    db.session.flush()
    audit.record("couple.created", couple_id=couple.id, practice_id=practice.id, target=f"couple:{couple.id}")
    return couple


def update_couple(
    couple: Couple, *, label: str, partners: Sequence[PartnerDetails], clinician: Clinician | None = None
) -> None:
    """Change the label, the partners' details and (for owners) the therapist."""
    _check(label, partners)
    couple.label = label.strip()
    for partner, details in zip(couple.partners, partners, strict=True):
        partner.display_name = details.display_name.strip()
        partner.email = _clean(details.email) and details.email.strip().lower()
        partner.pronouns = _clean(details.pronouns)
    if clinician is not None:
        if clinician.practice_id != couple.practice_id or not clinician.active:
            raise CoupleError("Choose an active clinician of this practice.")
        couple.clinician_id = clinician.id
    couple.last_activity_at = utcnow()
    db.session.flush()
    audit.record("couple.updated", couple_id=couple.id, practice_id=couple.practice_id, target=f"couple:{couple.id}")


def set_archived(couple: Couple, archived: bool) -> None:
    """Archive a couple (its open links stop working) or bring it back."""
    from clinic.services import invitations

    # Invitations first, then the couple: the order autosave takes its row locks in (an
    # answer saved as the couple is archived waits instead of deadlocking on PostgreSQL).
    if archived:
        invitations.revoke_all_open(couple)
    couple.archived = archived
    db.session.flush()
    audit.record(
        "couple.archived" if archived else "couple.unarchived",
        couple_id=couple.id,
        practice_id=couple.practice_id,
        target=f"couple:{couple.id}",
    )


PREP_NOTES_LIMIT = 20_000


def save_prep_notes(couple: Couple, notes: str) -> None:
    """Keep the therapist's preparation notes with the couple."""
    notes = (notes or "").replace("\r\n", "\n").strip()
    if len(notes) > PREP_NOTES_LIMIT:
        raise CoupleError(f"Notes can be up to {PREP_NOTES_LIMIT:,} characters.")
    couple.prep_notes = notes
    db.session.flush()
    # The notes themselves never reach the audit trail; only that they changed.
    audit.record("couple.notes_saved", couple_id=couple.id, practice_id=couple.practice_id)
