"""The dashboard's rows: a page of couples, each with its status, its safety flags and the next step.

A page costs two statements whatever the practice's size: the page's couple ids come
from an index (scoped, filtered, newest activity first), then those couples' columns
with both partners' names and, for each partner who has not sent the couple's latest
assessment, when their link was made (for "Waiting for Wren since 3 Dec"), each found
through an index. Rows are plain values, never ORM objects.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import sqlalchemy as sa

from clinic.db_types import UTCDateTime
from clinic.extensions import db
from clinic.models import Assessment, Clinician, Couple, CoupleStatus, Invitation, Partner, label_key
from clinic.scoping import couples_in_scope, scope_params

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


def needs_attention(now, runs_out_before, not_started_before) -> sa.ColumnElement[bool]:
    """Unreviewed safety flags, an open link that runs out before `runs_out_before` (now plus
    RUNS_OUT_SOON), or a partner not started on a link that still works and was made before
    `not_started_before` (now less the practice's reminder days). Moments are values or bound
    parameters (the dashboard's statements are built once, see page)."""
    links = (
        sa.select(Invitation.id)
        .join(Partner, Partner.id == Invitation.partner_id)
        .where(
            Partner.couple_id == Couple.id,
            _open_link(now),
            sa.or_(
                Invitation.expires_at <= runs_out_before,
                sa.and_(Invitation.started_at.is_(None), Invitation.created_at <= not_started_before),
            ),
        )
        .exists()
    )
    return sa.or_(Couple.unreviewed_flags > 0, links)


def status_filter(stmt: sa.Select, status: str, now, *, runs_out_before, not_started_before) -> sa.Select:
    """Filter on the status a couple has *now* (open links run out by themselves), or on needing attention."""
    if status == ATTENTION:
        return stmt.where(needs_attention(now, runs_out_before, not_started_before))
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


def search_pattern(q: str) -> str:
    """The LIKE pattern for labels that contain `q` as typed (% _ and \\ are literal)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def label_matches(pattern) -> sa.ColumnElement[bool]:
    """Labels that match a search_pattern() (a value or a bound parameter), in any case: ILIKE
    (lower() LIKE lower() on SQLite).

    PostgreSQL answers it from the label's trigram indexes: the keyed label's (see
    clinic.models.label_key) narrows initials such as "M & D" to the labels that hold them,
    where the plain one alone matches a large share of the practice. The keyed condition
    follows from the first, so the matches are exactly ILIKE's."""
    if isinstance(pattern, str):
        pattern = sa.literal(pattern, sa.String)
    return sa.and_(
        Couple.label.ilike(pattern, escape="\\"), label_key(Couple.label).like(label_key(pattern), escape="\\")
    )


@functools.cache
def _page_statement(owner: bool, status: str, searching: bool) -> sa.Select:
    """The statement of one shape of dashboard page, built once per process: the practice, the
    clinician, the moments, the search and the offset are bound parameters. Building and keying a
    statement of this size for every request cost about as much as running it."""
    now = sa.bindparam("now", type_=UTCDateTime())
    scoped = couples_in_scope(owner=owner).where(Couple.archived.is_(status == "archived"))
    if status and status != "archived":
        scoped = status_filter(
            scoped,
            status,
            now,
            runs_out_before=sa.bindparam("runs_out_before", type_=UTCDateTime()),
            not_started_before=sa.bindparam("not_started_before", type_=UTCDateTime()),
        )
    if searching:
        scoped = scoped.where(label_matches(sa.bindparam("pattern", type_=sa.String())))
    newest_first = (Couple.last_activity_at.desc(), Couple.id.desc())
    # The page's ids come from the scoped query alone, which an index answers without
    # reading the table however deep the page; only those rows are then read.
    page_ids = (
        scoped.with_only_columns(Couple.id)
        .order_by(*newest_first)
        .offset(sa.bindparam("offset", type_=sa.Integer()))
        .limit(PAGE_SIZE + 1)  # one more tells whether a next page exists, without counting
    )
    return (
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


def page(
    clinician: Clinician, *, status: str, q: str, page: int, now: datetime, not_started_days: int
) -> tuple[list[Row], bool]:
    """One page of the couples the clinician may see (the owner: the practice's), filtered by
    status and searched by label, newest activity first, and whether a next page exists."""
    params = {
        **scope_params(clinician),
        "now": now,
        "runs_out_before": now + RUNS_OUT_SOON,
        "not_started_before": now - timedelta(days=not_started_days),
        "pattern": search_pattern(q),
        "offset": (page - 1) * PAGE_SIZE,
    }
    stmt = _page_statement(clinician.is_owner, status, bool(q))
    rows = [
        Row(
            *found[:-5],
            therapist=found[-5],
            names={pos: name for pos, name in ((1, found[-4]), (2, found[-3])) if name},
            waiting={pos: since for pos, since in ((1, found[-2]), (2, found[-1])) if since},
        )
        for found in db.session.execute(stmt, params)
    ]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
