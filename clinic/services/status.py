"""A couple's status, kept on the couple so the dashboard never scans invitations."""

from __future__ import annotations

from datetime import datetime

from clinic.db_types import utcnow
from clinic.models import Couple, CoupleStatus, Invitation


def status_of(invitations: list[Invitation], now: datetime) -> tuple[CoupleStatus, datetime | None]:
    """Status of an assessment from its invitations, and when it runs out by itself.

    nothing sent: no invitations; completed: every partner submitted; waiting:
    links open, nobody started; in progress: someone started or submitted and a
    link is still open; expired: not complete and no link left open.
    """
    if not invitations:
        return CoupleStatus.NOTHING_SENT, None
    if all(i.submitted_at is not None for i in invitations):
        return CoupleStatus.COMPLETED, None
    open_links = [i for i in invitations if i.usable(now)]
    if not open_links:
        return CoupleStatus.EXPIRED, None
    until = max(i.expires_at for i in open_links)
    started = any(i.started_at is not None or i.submitted_at is not None for i in invitations)
    return (CoupleStatus.IN_PROGRESS if started else CoupleStatus.WAITING), until


def refresh(couple: Couple, latest_invitations: list[Invitation], *, touch: bool = True) -> None:
    """Recompute the couple's stored status from its latest assessment's invitations."""
    now = utcnow()
    couple.status, couple.status_until = status_of(latest_invitations, now)
    if touch:
        couple.last_activity_at = now
