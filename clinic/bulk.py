"""Fictional couples in bulk, for benchmarks and for trying Tandem at scale (`seed-demo --couples N`).

Rows go in through SQLAlchemy Core, a batch of couples at a time (multi-row
INSERTs of about a thousand rows, never the per-row services), yet they read like
what the services write: every couple has two partners and at least one
submitted assessment (connection and check-in), some a second one (submitted,
still open, or run out); about two in five active couples meet on a weekly or
fortnightly check-in schedule (services.checkins) with 3 to 10 past sessions,
each session's check-in sent its lead time before it and closing when it starts,
answered by both partners (now and then one lets it run out), drifting gently
from the intake's check-in (mostly a little better, some flat, some worse);
scores are the engine's own, computed once per answer profile and reused; and
each couple's status, status_until and last_activity_at are what services.status
computes from its latest assessment. Nothing is written to the audit trail:
these couples are data, nobody acted on them.

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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from clinic import catalog
from clinic.db_types import utcnow
from clinic.demo import level_answers
from clinic.extensions import db
from clinic.models import (
    Answer,
    Assessment,
    CheckinCadence,
    CheckinSchedule,
    CheckinSending,
    Clinician,
    Couple,
    CoupleStatus,
    Invitation,
    Partner,
    Practice,
    Score,
)
from clinic.services import checkins
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

# Check-ins on a schedule (services.checkins): who has one, how it stands, how the sessions went.
SCHEDULED = 0.4  # share of active couples with a schedule
LEAD_HOURS = 24
SESSIONS = (3, 10)  # past sessions, fewer when the couple is too new for them
RUNNING, PAUSED, ENDED = 0.6, 0.15, 0.25  # how the schedule stands now
MISSED = 0.08  # sessions where one partner let the check-in run out
# How a couple's check-ins drift per session: (weight, slope range); each partner varies around it.
DRIFTS = ((0.6, (0.03, 0.13)), (0.25, (-0.02, 0.02)), (0.15, (-0.12, -0.04)))


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
    schedules: int = 0
    sessions: int = 0  # check-ins sent on a schedule (CheckinSending rows)
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


def checkin_profiles(instrument: Instrument) -> list[list[AnswerProfile]]:
    """Answers to the check-in alone for every mean it can reach (steps of 1/k for k items),
    lowest first, each a few ways round (which items carry the rounding); scored once, here."""
    (subscale,) = instrument.subscales
    items = instrument.items_of(subscale.id)
    scale = instrument.scale_of(items[0])
    k = len(items)
    pool = []
    for step in range((scale.high - scale.low) * k + 1):
        variants = []
        for shift in range(k):
            answers = level_answers(instrument, {subscale.id: scale.low + step / k}, {}, shift=shift)
            rows = tuple((instrument.id, item_id, value) for item_id, value in sorted(answers.items()))
            variants.append(
                AnswerProfile("checkin", step, rows, {instrument.id: result_json(score(instrument, answers))})
            )
        pool.append(variants)
    return pool


def _measure_value(result: dict) -> float:
    """The value of a one-measure instrument's stored result (the check-in's overall score)."""
    (measure,) = (result["totals"] or result["scores"]).values()
    return measure["value"]


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
    keys: list | None = None  # its instruments, when not every bulk instrument (a scheduled check-in)


@dataclass
class _Schedule:
    """A couple's check-in schedule and the sessions whose check-in went out, oldest first."""

    cadence: CheckinCadence
    first_session: datetime
    created: datetime
    updated: datetime
    paused: bool = False
    ended: datetime | None = None
    sessions: list[tuple[datetime, _Assessment]] = field(default_factory=list)


@dataclass
class _Couple:
    clinician_id: int
    label: str
    created: datetime
    archived: bool
    partners: list[dict]
    assessments: list[_Assessment]
    schedule: _Schedule | None = None
    status: CoupleStatus = CoupleStatus.COMPLETED
    status_until: datetime | None = None
    last_activity: datetime | None = None


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


class _Planner:
    """Draws each couple's story: who they are, what they answered and when."""

    def __init__(
        self,
        clinician_ids: Sequence[int],
        expiry_days: int,
        now: datetime,
        seed: int,
        start: int,
        *,
        pools: dict[str, list[AnswerProfile]],
        checkin_pool: list[list[AnswerProfile]],
        checkin_keys: list,
        zone: ZoneInfo,
    ):
        self.rng = random.Random(f"tandem-bulk-couples-{seed}-{start}")  # noqa: S311 -- fictional data
        self.clinician_ids = list(clinician_ids)
        self.lifetime = timedelta(days=expiry_days)
        self.now = now
        self.pools = pools
        self.checkin_pool = checkin_pool
        self.checkin_keys = checkin_keys
        self.zone = zone

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
        if not couple.archived and rng.random() < SCHEDULED:
            self._schedule(couple, intake_done, profiles)
        # Sessions and follow-ups interleave: ids go in the order they were sent, the latest decides the status.
        couple.assessments.sort(key=lambda a: a.sent)
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

    def _session_at(self, day: date, hour: int) -> datetime:
        """A session at this wall-clock hour in the practice's zone, in UTC (as checkins.next_session computes it)."""
        return datetime(day.year, day.month, day.day, hour, tzinfo=self.zone).astimezone(UTC)

    def _schedule(self, couple: _Couple, intake_done: datetime, profiles: tuple[AnswerProfile, AnswerProfile]) -> None:
        """A weekly or fortnightly schedule set after the intake, with its past sessions' check-ins;
        running (with the next session's check-in out if it is due), paused or ended."""
        rng, now, zone = self.rng, self.now, self.zone
        cadence = CheckinCadence.WEEKLY if rng.random() < 0.7 else CheckinCadence.FORTNIGHTLY
        step = checkins.STEP_DAYS[cadence]
        count, hour, standing = rng.randint(*SESSIONS), rng.randint(8, 19), rng.random()
        today = now.astimezone(zone).date()
        # The first session at least a day after the intake was done, so its check-in goes out after it.
        earliest = (intake_done + timedelta(days=2)).astimezone(zone).date()
        running = standing < RUNNING
        if running:
            # The next session is still to come (tomorrow at the earliest), the `count` before it are past.
            first_day = today + timedelta(days=rng.randint(1, step - 1) - step * count)
        else:
            first_day = earliest + timedelta(days=rng.randint(0, 12))
        while count > SESSIONS[0] and (first_day < earliest or first_day + timedelta(days=step * (count - 1)) >= today):
            count -= 1
            if running:
                first_day += timedelta(days=step)
        if first_day < earliest or first_day + timedelta(days=step * (count - 1)) >= today:
            return  # too new a couple for a schedule with past sessions
        days = [first_day + timedelta(days=step * k) for k in range(count + 1)]
        moments = [self._session_at(day, hour) for day in days]
        first, upcoming = moments[0], moments[-1]
        lead = timedelta(hours=LEAD_HOURS)
        # Set in the days before the first session's check-in went out, after the intake was done.
        window = min(first - lead - intake_done, timedelta(days=10))
        created = first - lead - window * rng.uniform(0.1, 0.9)
        schedule = _Schedule(cadence, first, created, created)
        if not running:
            # Paused or ended some time after the last session, before the next one's check-in was due.
            stopped = moments[-2] + (min(upcoming - lead, now) - moments[-2]) * rng.uniform(0.05, 0.95)
            schedule.updated = stopped
            if standing < RUNNING + PAUSED:
                schedule.paused = True
            else:
                schedule.ended = stopped
        schedule.sessions = [(at, self._checkin(at)) for at in moments[:-1]]
        if running and upcoming - lead <= now:  # send-checkins has sent the next session's check-in
            schedule.sessions.append((upcoming, self._checkin(upcoming)))
        self._answer_checkins(schedule, profiles)
        couple.schedule = schedule
        couple.assessments.extend(a for _, a in schedule.sessions)

    def _checkin(self, session_at: datetime) -> _Assessment:
        """The session's check-in as send-checkins starts it: sent its lead time before, closing at the session."""
        sent = session_at - timedelta(hours=LEAD_HOURS)
        local = session_at.astimezone(self.zone)
        invites = [_Invite(position, sent, session_at) for position in (1, 2)]
        return _Assessment(f"Check-in before {local.day} {local:%b} session", sent, invites, self.checkin_keys)

    def _answer_checkins(self, schedule: _Schedule, profiles: tuple[AnswerProfile, AnswerProfile]) -> None:
        """Both partners answer each session's check-in, drifting from where their intake's check-in stood."""
        rng, now = self.rng, self.now
        _, (low, high) = rng.choices(DRIFTS, weights=[weight for weight, _ in DRIFTS])[0]
        slope = rng.uniform(low, high)
        starts = [_measure_value(p.results[checkins.INSTRUMENT]) for p in profiles]
        slopes = [slope + rng.gauss(0, 0.02) for _ in profiles]
        pool = self.checkin_pool
        lowest, highest = (_measure_value(pool[k][0].results[checkins.INSTRUMENT]) for k in (0, -1))
        for number, (session_at, assessment) in enumerate(schedule.sessions):
            missed = rng.randrange(2) if rng.random() < MISSED else None
            for invite, start, per_session in zip(assessment.invites, starts, slopes, strict=True):
                level = _clamp(start + per_session * number + rng.gauss(0, 0.2))
                if invite.position - 1 == missed:
                    opened = invite.sent + timedelta(hours=rng.uniform(1, 20))
                    invite.opened = opened if rng.random() < 0.4 and opened < now else None
                    continue
                # Answered within the day before the session; the open one (still to come) only up to now.
                submitted = invite.sent + timedelta(hours=rng.uniform(0.5, LEAD_HOURS - 0.5))
                if submitted >= now - timedelta(minutes=5):
                    if session_at <= now or rng.random() < 0.5:
                        continue  # not yet answered
                    submitted = invite.sent + (now - invite.sent) * rng.uniform(0.2, 0.9)
                    if submitted - timedelta(minutes=6) <= invite.sent:
                        continue
                invite.submitted = submitted
                invite.started = submitted - timedelta(minutes=rng.uniform(1, 5))
                invite.opened = invite.started - timedelta(minutes=1)
                ways = pool[round((level - lowest) / (highest - lowest) * (len(pool) - 1))]
                invite.profile = ways[rng.randrange(len(ways))]

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
    """executemany, about a thousand rows at a time (compiled once; the driver pipelines the rows);
    on PostgreSQL one INSERT … SELECT FROM unnest(arrays) per ten thousand rows instead."""
    if not rows:
        return
    names = list(rows[0])
    if conn.dialect.name == "postgresql" and not any(isinstance(table.c[n].type, sa.JSON) for n in names):
        # One array per column: about twice as fast as the driver's pipeline for the answers, the
        # bulk of the rows. (JSON columns stay on executemany: a json[] array is slower than rows.)
        arrays = [sa.bindparam(name, type_=postgresql.ARRAY(table.c[name].type)) for name in names]
        source = sa.func.unnest(*arrays).table_valued(*names).render_derived()
        statement = sa.insert(table).from_select(names, sa.select(*source.c))
        for chunk in _chunks(rows, 10 * ROWS_PER_INSERT):
            conn.execute(statement, {name: [row[name] for row in chunk] for name in names})
        return
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
                "instruments": a.keys or keys,
                "created_by_id": c.clinician_id,
                "created_at": a.sent,
            }
            for couple_id, c, a in planned_assessments
        ],
    )
    assessment_of = {
        id(a): assessment_id for (_, _, a), assessment_id in zip(planned_assessments, assessment_ids, strict=True)
    }
    scheduled = [(couple_id, c.schedule) for c, couple_id in zip(planned, couple_ids, strict=True) if c.schedule]
    schedule_ids = _insert_ids(
        conn,
        CheckinSchedule.__table__,
        [
            {
                "couple_id": couple_id,
                "cadence": schedule.cadence,
                "first_session_at": schedule.first_session,
                "session_dates": [],
                "lead_hours": LEAD_HOURS,
                "paused": schedule.paused,
                "ended_at": schedule.ended,
                "created_at": schedule.created,
                "updated_at": schedule.updated,
            }
            for couple_id, schedule in scheduled
        ],
    )
    sendings = [
        {
            "schedule_id": schedule_id,
            "session_at": session_at,
            "assessment_id": assessment_of[id(a)],
            "created_at": a.sent,
        }
        for (_, schedule), schedule_id in zip(scheduled, schedule_ids, strict=True)
        for session_at, a in schedule.sessions
    ]
    _insert(conn, CheckinSending.__table__, sendings)
    invites: list[_Invite] = []
    invitation_keys: list[list] = []
    invitation_rows = []
    for (couple_id, c, a), assessment_id in zip(planned_assessments, assessment_ids, strict=True):
        for i in a.invites:
            emailed = c.partners[i.position - 1]["email"] is not None
            invites.append(i)
            invitation_keys.append(a.keys or keys)
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
    # Plain executemany, then the ids read back by (assessment, partner): about twice as fast as
    # INSERT … RETURNING for a row this wide, and invitations are the most numerous parent rows.
    _insert(conn, Invitation.__table__, invitation_rows)
    invitation_of = {
        (assessment_id, partner_id): invitation_id
        for invitation_id, assessment_id, partner_id in conn.execute(
            sa.select(Invitation.id, Invitation.assessment_id, Invitation.partner_id).where(
                Invitation.assessment_id.between(min(assessment_ids), max(assessment_ids))
            )
        )
    }
    invitation_ids = [invitation_of[row["assessment_id"], row["partner_id"]] for row in invitation_rows]
    answers: list[dict] = []
    scores: list[dict] = []
    for invite, invitation_id, answered in zip(invites, invitation_ids, invitation_keys, strict=True):
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
                for instrument_id, version in answered
            )
    _insert(conn, Answer.__table__, answers)
    _insert(conn, Score.__table__, scores)
    counts.couples += len(couple_ids)
    counts.partners += len(partner_ids)
    counts.assessments += len(assessment_ids)
    counts.invitations += len(invitation_ids)
    counts.answers += len(answers)
    counts.scores += len(scores)
    counts.schedules += len(schedule_ids)
    counts.sessions += len(sendings)


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
    checkin = registry.latest(checkins.INSTRUMENT)
    checkin_pool = checkin_profiles(checkin)
    zone = checkins.practice_zone(practice.timezone)
    # Numbers continue after the practice's couples, so labels stay unique across runs.
    first = db.session.scalar(sa.select(sa.func.count()).select_from(Couple).where(Couple.practice_id == practice.id))
    first = (first or 0) + 1
    conn = db.session.connection()
    counts = BulkCounts()
    for start in range(0, n, BATCH):
        planner = _Planner(
            clinician_ids,
            practice.invite_expiry_days,
            now,
            seed,
            first + start,
            pools=pools,
            checkin_pool=checkin_pool,
            checkin_keys=[[checkin.id, checkin.version]],
            zone=zone,
        )
        planned = [planner.plan(first + start + k) for k in range(min(BATCH, n - start))]
        _write(conn, practice.id, planned, keys, counts)
        counts.seconds = time.perf_counter() - started
        if progress is not None:
            progress(counts)
    counts.seconds = time.perf_counter() - started
    return counts
