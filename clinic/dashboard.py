"""The dashboard's rows: a page of couples, each with its status, its safety flags and the next step.

A page costs two statements whatever the practice's size: the page's couple ids come
from an index (scoped, filtered, newest activity first), then those couples' columns
with both partners' names and, for each partner who has not sent the couple's latest
assessment, when their link was made (for "Waiting for Wren since 3 Dec"), each found
through an index. Rows are plain values, never ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import sqlalchemy as sa

from clinic.extensions import db
from clinic.models import Assessment, Clinician, Couple, CoupleStatus, Invitation, Partner, label_key

PAGE_SIZE = 50
ATTENTION = "attention"  # the "Needs attention" filter
# Statuses in which a partner has not sent the couple's latest assessment.
WAITED_FOR = (CoupleStatus.WAITING, CoupleStatus.IN_PROGRESS, CoupleStatus.EXPIRED)
# A link that runs out within this long needs attention.
RUNS_OUT_SOON = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class Step:
    """The next step on a dashboard row: words, and since when (shown in the practice's zone)."""

    text: str
    since: datetime | None = None


@dataclass(slots=True)
class Row:
    """One dashboard row."""

    COLUMNS: ClassVar = (
        Couple.id,
        Couple.label,
        Couple.archived,
        Couple.status,
        Couple.status_until,
        Couple.last_activity_at,
        Couple.unreviewed_flags,
    )

    id: int
    label: str
    archived: bool
    status: CoupleStatus
    status_until: datetime | None
    last_activity_at: datetime
    unreviewed_flags: int
    therapist: str
    names: dict[int, str]  # by position
    waiting: dict[int, datetime]  # partners who have not sent the latest assessment: when their link was made

    current_status = Couple.current_status  # the model's own rule, on these columns

    @property
    def partner_names(self) -> str:
        return " & ".join(self.names[pos] for pos in sorted(self.names))

    def next_step(self, now: datetime) -> Step:
        """What the therapist does next, in a few words (and since when, for a wait)."""
        status = self.current_status(now)
        if self.archived:
            return Step("Archived")
        if status == CoupleStatus.NOTHING_SENT:
            return Step("Send the intake questionnaires")
        if status in (CoupleStatus.WAITING, CoupleStatus.IN_PROGRESS):
            if self.waiting:
                return Step(f"Waiting for {self._who()}", since=min(self.waiting.values()))
            return Step("Waiting")
        if status == CoupleStatus.EXPIRED:
            if self.waiting:
                return Step(f"Links ran out: make a new link for {self._who()}")
            return Step("Links ran out")
        if self.unreviewed_flags:
            flags = "flag" if self.unreviewed_flags == 1 else "flags"
            return Step(f"Review the safety {flags} before the session")
        return Step("Ready: read the session brief")

    def _who(self) -> str:
        return " and ".join(self.names.get(pos, f"Partner {'AB'[pos - 1]}") for pos in sorted(self.waiting))


def _partner_name(position: int) -> sa.ScalarSelect:
    return (
        sa.select(Partner.display_name)
        .where(Partner.couple_id == Couple.id, Partner.position == position)
        .scalar_subquery()
    )


def _waiting_since(position: int) -> sa.ColumnElement:
    """When the partner at `position` was sent the couple's latest assessment, if they have not sent
    it; looked up only for a couple whose status says someone has not (most rows are complete)."""
    # Correlated to the partner's row of the enclosing statement (its couple's latest assessment).
    latest = sa.select(sa.func.max(Assessment.id)).where(Assessment.couple_id == Partner.couple_id).scalar_subquery()
    since = (
        sa.select(Invitation.created_at)
        .join(Partner, Partner.id == Invitation.partner_id)
        .where(
            Partner.couple_id == Couple.id,
            Partner.position == position,
            Invitation.assessment_id == latest,
            Invitation.submitted_at.is_(None),
        )
        .scalar_subquery()
    )
    return sa.case((Couple.status.in_(WAITED_FOR), since), else_=sa.null())


def _open_link(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Invitation.submitted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now)


def needs_attention(now: datetime, not_started_days: int) -> sa.ColumnElement[bool]:
    """Unreviewed safety flags, an open link that runs out within RUNS_OUT_SOON, or a partner who
    has not started within `not_started_days` of being sent a link that still works."""
    links = (
        sa.select(Invitation.id)
        .join(Partner, Partner.id == Invitation.partner_id)
        .where(
            Partner.couple_id == Couple.id,
            _open_link(now),
            sa.or_(
                Invitation.expires_at <= now + RUNS_OUT_SOON,
                sa.and_(
                    Invitation.started_at.is_(None), Invitation.created_at <= now - timedelta(days=not_started_days)
                ),
            ),
        )
        .exists()
    )
    return sa.or_(Couple.unreviewed_flags > 0, links)


def status_filter(stmt: sa.Select, status: str, now: datetime, *, not_started_days: int) -> sa.Select:
    """Filter on the status a couple has *now* (open links run out by themselves), or on needing attention."""
    if status == ATTENTION:
        return stmt.where(needs_attention(now, not_started_days))
    running = Couple.status.in_([CoupleStatus.WAITING, CoupleStatus.IN_PROGRESS])
    if status in (CoupleStatus.WAITING, CoupleStatus.IN_PROGRESS):
        return stmt.where(Couple.status == status, Couple.status_until > now)
    if status == CoupleStatus.EXPIRED:
        return stmt.where(
            sa.or_(
                Couple.status == CoupleStatus.EXPIRED,
                sa.and_(running, sa.or_(Couple.status_until.is_(None), Couple.status_until <= now)),
            )
        )
    return stmt.where(Couple.status == status)


def label_matches(q: str) -> sa.ColumnElement[bool]:
    """Labels that contain `q`, in any case (ILIKE '%q%'; lower() LIKE lower() on SQLite).

    PostgreSQL answers it from the label's trigram indexes: the keyed label's (see
    clinic.models.label_key) narrows initials such as "M & D" to the labels that hold them,
    where the plain one alone matches a large share of the practice. The keyed condition
    follows from the first, so the matches are exactly ILIKE's."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return sa.and_(
        Couple.label.ilike(pattern, escape="\\"),
        label_key(Couple.label).like(label_key(sa.literal(pattern, sa.String)), escape="\\"),
    )


def page_of(scoped: sa.Select, page: int, now: datetime) -> tuple[list[Row], bool]:
    """One page of the scoped, filtered couples, newest activity first, and whether a next page exists."""
    newest_first = (Couple.last_activity_at.desc(), Couple.id.desc())
    # The page's ids come from the scoped query alone, which an index answers without
    # reading the table however deep the page; only those rows are then read.
    page_ids = (
        scoped.with_only_columns(Couple.id)
        .order_by(*newest_first)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)  # one more tells whether a next page exists, without counting
    )
    stmt = (
        sa.select(
            *Row.COLUMNS,
            Clinician.name,
            _partner_name(1),
            _partner_name(2),
            _waiting_since(1),
            _waiting_since(2),
        )
        .join(Couple.clinician)
        .where(Couple.id.in_(page_ids.scalar_subquery()))
        .order_by(*newest_first)
    )
    rows = [
        Row(
            *found[:-5],
            therapist=found[-5],
            names={pos: name for pos, name in ((1, found[-4]), (2, found[-3])) if name},
            waiting={pos: since for pos, since in ((1, found[-2]), (2, found[-1])) if since},
        )
        for found in db.session.execute(stmt)
    ]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
