"""Fictional couples in bulk, for benchmarks and for trying Tandem at scale (`seed-demo --couples N`).

Rows go in through SQLAlchemy Core, a batch of couples at a time (multi-row
INSERTs of about a thousand rows, never the per-row services), yet they read like
what the services write: every couple has two partners and at least one
submitted assessment (connection and check-in), some a second one (submitted,
still open, or run out); scores are the engine's own, computed once per answer
profile and reused; and each couple's status, status_until and last_activity_at
are what services.status computes from its latest assessment. Nothing is written
to the audit trail: these couples are data, nobody acted on them.

All names are invented and emails use the reserved example.org domain. Links
are random hashes nobody holds, so no bulk link can be opened.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from clinic import catalog
from clinic.db_types import utcnow
from clinic.demo import level_answers
from clinic.extensions import db
from clinic.models import Answer, Assessment, Clinician, Couple, CoupleStatus, Invitation, Partner, Practice, Score
from clinic.services.responses import result_json
from instruments import Instrument, score

BATCH = 1000  # couples per batch; child tables are inserted about a thousand rows at a time
ROWS_PER_INSERT = 1000
INSTRUMENTS = ("connection", "checkin")

# Where a profile stands on the pursue-withdraw pattern.
PURSUER, WITHDRAWER, BALANCED = "pursuer", "withdrawer", "balanced"
ROLES = (PURSUER, WITHDRAWER, BALANCED)
LEVELS = 24  # health levels per role, from strained to strong
VARIANTS = 2  # profiles per (role, level): same standing, different items carry the rounding
HEALTH = ("heard", "affection", "sharing", "kindness", "rituals")

FIRST_NAMES = (
    "Ada", "Amara", "Anika", "Ari", "Aurelio", "Bea", "Bram", "Camille", "Cato", "Dalia", "Dara", "Eero",
    "Elif", "Emeka", "Esme", "Farah", "Femi", "Gideon", "Greta", "Hale", "Hana", "Idris", "Ines", "Ivo",
    "Jalen", "Joon", "Kai", "Kavya", "Keiko", "Lars", "Leila", "Lior", "Lucia", "Mads", "Maren", "Milo",
    "Nadia", "Nico", "Noor", "Oisin", "Olu", "Pia", "Priya", "Quinn", "Rafael", "Rania", "Remy", "Rosa",
    "Sami", "Sanne", "Selin", "Soren", "Tamsin", "Tariq", "Teo", "Una", "Valeria", "Wren", "Yara", "Zane",
)  # fmt: skip
SURNAME_INITIALS = "ABCDEFGHIJKLMNOPRSTVWY"
PRONOUNS = ("she/her", "he/him", "they/them", None, None, None)


@dataclass(frozen=True)
class AnswerProfile:
    """One partner's full answers to the bulk instruments, and the engine's result for each."""

    role: str
    level: int
    rows: tuple[tuple[str, str, int], ...]  # (instrument id, item id, value), every item
    results: dict[str, dict]  # instrument id -> what a Score row keeps


@dataclass
class BulkCounts:
    couples: int = 0
    partners: int = 0
    assessments: int = 0
    invitations: int = 0
    answers: int = 0
    scores: int = 0
    seconds: float = 0.0


def _clamp(value: float) -> float:
    return min(5.0, max(1.0, value))


def _levels(instrument: Instrument, role: str, health: float, rng: random.Random) -> dict[str, float]:
    """Where a partner stands on each subscale of the instrument."""
    if instrument.id == "checkin":
        return {"overall": _clamp(health + rng.gauss(0, 0.4))}
    levels = {subscale: _clamp(health + rng.gauss(0, 0.35)) for subscale in HEALTH}
    levels["withdrawal"] = _clamp(6 - health + rng.gauss(0, 0.4))
    high, low, middling = rng.uniform(3.5, 4.75), rng.uniform(1.25, 2.25), rng.uniform(1.5, 3.0)
    levels["pursuing"] = {PURSUER: high, WITHDRAWER: low, BALANCED: middling}[role]
    levels["withdrawing"] = {PURSUER: low, WITHDRAWER: high, BALANCED: rng.uniform(1.5, 3.0)}[role]
    missing = {s.id for s in instrument.subscales} - set(levels)
    if missing:
        raise ValueError(f"The bulk profiles do not cover {instrument.id} subscales {sorted(missing)}.")
    return levels


def answer_profiles(instruments: Sequence[Instrument], seed: int = 0) -> dict[str, list[AnswerProfile]]:
    """Profiles by role, each list ordered from strained to strong; every result scored once, here."""
    rng = random.Random(f"tandem-bulk-profiles-{seed}")  # noqa: S311 -- fictional data, not security
    pools: dict[str, list[AnswerProfile]] = {}
    for role in ROLES:
        pool = []
        for level in range(LEVELS):
            health = 1.6 + 3.0 * level / (LEVELS - 1)
            for _ in range(VARIANTS):
                rows: list[tuple[str, str, int]] = []
                results = {}
                for instrument in instruments:
                    levels = _levels(instrument, role, health, rng)
                    answers = level_answers(instrument, levels, {}, shift=rng.randrange(8))
                    results[instrument.id] = result_json(score(instrument, answers))
                    rows.extend((instrument.id, item_id, value) for item_id, value in sorted(answers.items()))
                pool.append(AnswerProfile(role, level, tuple(rows), results))
        pools[role] = pool
    return pools


@dataclass
class _Invite:
    """One partner's link in a planned assessment."""

    position: int
    sent: datetime
    expires: datetime
    opened: datetime | None = None
    started: datetime | None = None
    submitted: datetime | None = None
    profile: AnswerProfile | None = None
    partial: int = 0  # items saved so far when started but not submitted

    @property
    def last_activity(self) -> datetime | None:
        """The invitation's last save or its submission (opening a link saves nothing)."""
        return self.submitted or self.started


@dataclass
class _Assessment:
    occasion: str
    sent: datetime
    invites: list[_Invite]


@dataclass
class _Couple:
    clinician_id: int
    label: str
    created: datetime
    archived: bool
    partners: list[dict]
    assessments: list[_Assessment]
    status: CoupleStatus = CoupleStatus.COMPLETED
    status_until: datetime | None = None
    last_activity: datetime | None = None


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


class _Planner:
    """Draws each couple's story: who they are, what they answered and when."""

    def __init__(self, clinician_ids: Sequence[int], expiry_days: int, now: datetime, seed: int, start: int):
        self.rng = random.Random(f"tandem-bulk-couples-{seed}-{start}")  # noqa: S311 -- fictional data
        self.clinician_ids = list(clinician_ids)
        self.lifetime = timedelta(days=expiry_days)
        self.now = now
        self.pools: dict[str, list[AnswerProfile]] = {}

    def _profile(self, role: str, level: int) -> AnswerProfile:
        pool = self.pools[role]
        level = min(LEVELS - 1, max(0, level))
        return pool[level * VARIANTS + self.rng.randrange(VARIANTS)]

    def _partners(self, number: int) -> tuple[list[dict], str]:
        rng = self.rng
        names = rng.sample(FIRST_NAMES, 2)
        partners = []
        for position, first in enumerate(names, start=1):
            initial = rng.choice(SURNAME_INITIALS)
            email = f"{_ascii(first)}.{initial.lower()}{number}@example.org" if rng.random() < 0.8 else None
            partners.append(
                {
                    "position": position,
                    "display_name": f"{first} {initial}.",
                    "email": email,
                    "pronouns": rng.choice(PRONOUNS),
                }
            )
        return partners, f"{names[0][0]} & {names[1][0]} {number:05d}"

    def _submitted(self, sent: datetime, profiles: tuple[AnswerProfile, AnswerProfile]) -> _Assessment:
        invites = []
        # Each partner answers within nine days, and always before the link runs out.
        within = min(24 * 9, self.lifetime.total_seconds() / 3600 * 0.9)
        for position, profile in enumerate(profiles, start=1):
            submitted = sent + timedelta(hours=self.rng.uniform(min(1, within / 2), within))
            started = submitted - timedelta(minutes=self.rng.uniform(6, 35))
            invites.append(
                _Invite(
                    position,
                    sent,
                    sent + self.lifetime,
                    opened=started - timedelta(minutes=1),
                    started=started,
                    submitted=submitted,
                    profile=profile,
                )
            )
        return _Assessment("", sent, invites)

    def plan(self, number: int) -> _Couple:
        rng, now = self.rng, self.now
        partners, label = self._partners(number)
        created = now - timedelta(days=rng.uniform(12, 730))
        if rng.random() < 0.3:  # the demand-withdraw cycle: one pursues, the other withdraws
            roles = (PURSUER, WITHDRAWER) if rng.random() < 0.5 else (WITHDRAWER, PURSUER)
        else:
            roles = (BALANCED, BALANCED)
        level_a = rng.randrange(LEVELS)
        levels = (level_a, level_a + rng.randint(-4, 4))
        profiles = (self._profile(roles[0], levels[0]), self._profile(roles[1], levels[1]))
        intake = self._submitted(created + timedelta(hours=rng.uniform(1, 48)), profiles)
        intake.occasion = "Intake"
        couple = _Couple(
            clinician_id=rng.choice(self.clinician_ids),
            label=label,
            created=created,
            archived=rng.random() < 0.05,
            partners=partners,
            assessments=[intake],
        )
        intake_done = max(i.submitted for i in intake.invites)
        roll = rng.random()
        if not couple.archived and roll < 0.11 and intake_done < now - timedelta(days=1):
            self._open_followup(couple, intake_done, profiles, waiting=roll < 0.05)
        elif not couple.archived and roll < 0.14:
            self._expired_followup(couple, intake_done, profiles)
        elif roll < 0.42:
            self._done_followup(couple, intake_done, profiles)
        self._status(couple)
        return couple

    def _moved(self, profiles: tuple[AnswerProfile, AnswerProfile]) -> tuple[AnswerProfile, AnswerProfile]:
        """The partners some weeks later: mostly a little better, sometimes worse."""
        step = self.rng.choice((-2, -1, 0, 1, 2, 3, 4))
        return tuple(self._profile(p.role, p.level + step + self.rng.randint(-1, 1)) for p in profiles)

    def _done_followup(self, couple, intake_done, profiles) -> None:
        sent = intake_done + timedelta(days=self.rng.uniform(35, 120))
        if sent > self.now - timedelta(days=10):
            return
        followup = self._submitted(sent, self._moved(profiles))
        followup.occasion = f"Week {max(5, round((sent - couple.created).days / 7))}"
        couple.assessments.append(followup)

    def _open_followup(self, couple, intake_done, profiles, *, waiting: bool) -> None:
        rng = self.rng
        sent = max(intake_done + timedelta(hours=2), self.now - timedelta(days=rng.uniform(0.2, 10)))
        invites = [_Invite(position, sent, sent + self.lifetime) for position in (1, 2)]
        if not waiting:
            moved = self._moved(profiles)
            first = invites[0]
            first.submitted = min(self.now - timedelta(minutes=5), sent + timedelta(hours=rng.uniform(1, 72)))
            first.started = first.opened = first.submitted - timedelta(minutes=rng.uniform(6, 30))
            first.profile = moved[0]
            if rng.random() < 0.5:  # the other partner has begun and saved part of it
                other = invites[1]
                other.started = other.opened = sent + (self.now - sent) * rng.uniform(0.1, 0.9)
                other.profile, other.partial = moved[1], rng.randrange(5, 30)
        couple.assessments.append(_Assessment("Check-in", sent, invites))

    def _expired_followup(self, couple, intake_done, profiles) -> None:
        sent = intake_done + timedelta(days=self.rng.uniform(35, 90))
        if sent + self.lifetime > self.now:
            return
        followup = self._submitted(sent, self._moved(profiles))
        followup.occasion = "Check-in"
        late = followup.invites[1]
        late.started = late.submitted = late.profile = None
        late.opened = None if self.rng.random() < 0.5 else sent + timedelta(days=2)
        couple.assessments.append(followup)

    def _status(self, couple: _Couple) -> None:
        """What services.status computes from the latest assessment (see status_of)."""
        latest = couple.assessments[-1].invites
        now = self.now
        if all(i.submitted for i in latest):
            couple.status, couple.status_until = CoupleStatus.COMPLETED, None
        else:
            open_links = [i for i in latest if not i.submitted and i.expires > now]
            if not open_links:
                couple.status, couple.status_until = CoupleStatus.EXPIRED, None
            else:
                started = any(i.started or i.submitted for i in latest)
                couple.status = CoupleStatus.IN_PROGRESS if started else CoupleStatus.WAITING
                couple.status_until = max(i.expires for i in open_links)
        # Sending, a partner's first save and each submission touch the couple (services.status.refresh).
        events = [a.sent for a in couple.assessments]
        events += [i.last_activity for a in couple.assessments for i in a.invites if i.last_activity]
        couple.last_activity = max(events)


def _chunks(rows: list[dict], size: int = ROWS_PER_INSERT) -> Iterator[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert_ids(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> list[int]:
    """Multi-row INSERT … RETURNING id, ids in the order of the rows."""
    statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for chunk in _chunks(rows):
        ids.extend(conn.execute(statement, chunk).scalars().all())
    return ids


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """executemany, about a thousand rows at a time (compiled once; the driver pipelines the rows)."""
    statement = sa.insert(table)
    for chunk in _chunks(rows):
        conn.execute(statement, chunk)


def _token_hash() -> str:
    # The hash of random bytes nobody keeps: no link of a bulk couple can be opened.
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def _write(conn: sa.Connection, practice_id: int, planned: list[_Couple], keys: list, counts: BulkCounts) -> None:
    """Insert one batch of planned couples, parents first (their ids come back in row order)."""
    couple_ids = _insert_ids(
        conn,
        Couple.__table__,
        [
            {
                "practice_id": practice_id,
                "clinician_id": c.clinician_id,
                "label": c.label,
                "archived": c.archived,
                "status": c.status,
                "status_until": c.status_until,
                "last_activity_at": c.last_activity,
                "prep_notes": "",
                "created_at": c.created,
                "updated_at": c.last_activity,
            }
            for c in planned
        ],
    )
    partner_ids = _insert_ids(
        conn,
        Partner.__table__,
        [{"couple_id": couple_id, **p} for c, couple_id in zip(planned, couple_ids, strict=True) for p in c.partners],
    )
    partner_of = {}
    for n, couple_id in enumerate(couple_ids):
        partner_of[couple_id, 1], partner_of[couple_id, 2] = partner_ids[2 * n], partner_ids[2 * n + 1]
    planned_assessments = [
        (couple_id, c, a) for c, couple_id in zip(planned, couple_ids, strict=True) for a in c.assessments
    ]
    assessment_ids = _insert_ids(
        conn,
        Assessment.__table__,
        [
            {
                "couple_id": couple_id,
                "occasion": a.occasion,
                "instruments": keys,
                "created_by_id": c.clinician_id,
                "created_at": a.sent,
            }
            for couple_id, c, a in planned_assessments
        ],
    )
    invites: list[_Invite] = []
    invitation_rows = []
    for (couple_id, c, a), assessment_id in zip(planned_assessments, assessment_ids, strict=True):
        for i in a.invites:
            emailed = c.partners[i.position - 1]["email"] is not None
            invites.append(i)
            invitation_rows.append(
                {
                    "assessment_id": assessment_id,
                    "partner_id": partner_of[couple_id, i.position],
                    "token_hash": _token_hash(),
                    "created_at": i.sent,
                    "expires_at": i.expires,
                    "revoked_at": None,
                    "opened_at": i.opened,
                    "started_at": i.started,
                    "submitted_at": i.submitted,
                    "last_activity_at": i.last_activity,
                    "last_sent_at": i.sent if emailed else None,
                    "reminders_sent": 0,
                }
            )
    invitation_ids = _insert_ids(conn, Invitation.__table__, invitation_rows)
    answers: list[dict] = []
    scores: list[dict] = []
    for invite, invitation_id in zip(invites, invitation_ids, strict=True):
        profile = invite.profile
        if profile is None:
            continue
        done = invite.submitted
        saved = done - timedelta(minutes=2) if done else invite.started
        rows = profile.rows if done else profile.rows[: invite.partial]
        answers.extend(
            {"invitation_id": invitation_id, "instrument_id": i, "item_id": item, "value": v, "updated_at": saved}
            for i, item, v in rows
        )
        if done:
            scores.extend(
                {
                    "invitation_id": invitation_id,
                    "instrument_id": instrument_id,
                    "instrument_version": version,
                    "result": profile.results[instrument_id],
                    "created_at": done,
                }
                for instrument_id, version in keys
            )
    _insert(conn, Answer.__table__, answers)
    _insert(conn, Score.__table__, scores)
    counts.couples += len(couple_ids)
    counts.partners += len(partner_ids)
    counts.assessments += len(assessment_ids)
    counts.invitations += len(invitation_ids)
    counts.answers += len(answers)
    counts.scores += len(scores)


def add_bulk_couples(
    practice: Practice,
    n: int,
    *,
    seed: int = 0,
    now: datetime | None = None,
    progress: Callable[[BulkCounts], None] | None = None,
) -> BulkCounts:
    """Add n fictional couples to the practice, spread over its active clinicians (in the caller's transaction)."""
    started = time.perf_counter()
    now = now or utcnow()
    clinician_ids = db.session.scalars(
        sa.select(Clinician.id)
        .where(Clinician.practice_id == practice.id, Clinician.active.is_(True), Clinician.password_hash.is_not(None))
        .order_by(Clinician.id)
    ).all()
    if not clinician_ids:
        raise ValueError("The practice has no active clinician to give the couples to.")
    registry = catalog.registry()
    instruments = [registry.latest(instrument_id) for instrument_id in INSTRUMENTS]
    keys = [[inst.id, inst.version] for inst in instruments]
    pools = answer_profiles(instruments, seed)
    # Numbers continue after the practice's couples, so labels stay unique across runs.
    first = db.session.scalar(sa.select(sa.func.count()).select_from(Couple).where(Couple.practice_id == practice.id))
    first = (first or 0) + 1
    conn = db.session.connection()
    counts = BulkCounts()
    for start in range(0, n, BATCH):
        planner = _Planner(clinician_ids, practice.invite_expiry_days, now, seed, first + start)
        planner.pools = pools
        planned = [planner.plan(first + start + k) for k in range(min(BATCH, n - start))]
        _write(conn, practice.id, planned, keys, counts)
        counts.seconds = time.perf_counter() - started
        if progress is not None:
            progress(counts)
    counts.seconds = time.perf_counter() - started
    return counts
