"""The outcomes overview: how a clinician's couples (or a practice's) changed, counted.

For each couple in scope with two or more assessments of a scored questionnaire in the chosen
period, each partner's change from the first to the latest of them, and the change in the gap
between the partners, judged exactly as the couple view judges them (clinic.results: reliable
change where the measure has a basis, published or the practice's own estimate, else a clear raw
change). And the check-in's average score by session number, from the check-ins sent on a
schedule (session 1 is a couple's first scheduled check-in).

`load_overview` reads a fixed number of statements whatever the number of couples (answers in
chunks of CHUNK links); `tally` is a pure function of what was built, so its counts can be
checked by hand. The CSV (`csv_text`) is de-identified: couples and partners are random codes
made afresh for each download, with no names, emails, free text or dates (the time between the
first and the latest assessment is given in days instead).
"""

from __future__ import annotations

import csv
import io
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from clinic import catalog
from clinic.extensions import db
from clinic.models import Assessment, CheckinSchedule, CheckinSending, Couple, Invitation, Partner, Score
from clinic.results import (
    BETTER,
    CLOSER,
    FURTHER_APART,
    NO_CLEAR_CHANGE,
    WORSE,
    CoupleResults,
    OverTime,
    Trend,
    load_many,
)
from clinic.scoping import couples_in_scope
from clinic.services.checkins import INSTRUMENT as CHECKIN
from clinic.services.checkins import checkin_total
from instruments import Instrument
from instruments.numbers import fmt

# The CSV's columns, in order.
CSV_COLUMNS = (
    "couple",
    "partner",
    "row",
    "instrument",
    "version",
    "measure",
    "assessments",
    "days_between",
    "first",
    "latest",
    "change",
    "verdict",
    "judged_on",
    "session",
    "checkin_score",
)
PARTNER_ROW, GAP_ROW, CHECKIN_ROW = "partner change", "gap change", "check-in"


@dataclass(frozen=True)
class Period:
    """Assessments sent (and check-in sessions held) from `start` to `end`, both days included,
    in the practice's time zone; None leaves that side open."""

    start: date | None = None
    end: date | None = None

    def bounds(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """The period as UTC-comparable moments: [from, until)."""
        since = datetime.combine(self.start, time.min, zone) if self.start else None
        until = datetime.combine(self.end + timedelta(days=1), time.min, zone) if self.end else None
        return since, until


@dataclass
class Counts:
    """How many partners (or couples' gaps) moved each way on one measure."""

    better: int = 0  # a gap: closer
    no_change: int = 0
    worse: int = 0  # a gap: further apart
    not_judged: int = 0  # a score had too few answers at the first or the latest assessment

    @property
    def total(self) -> int:
        return self.better + self.no_change + self.worse + self.not_judged

    def add(self, verdict: str | None) -> None:
        if verdict in (BETTER, CLOSER):
            self.better += 1
        elif verdict in (WORSE, FURTHER_APART):
            self.worse += 1
        elif verdict == NO_CLEAR_CHANGE:
            self.no_change += 1
        else:
            self.not_judged += 1


@dataclass
class MeasureOutcome:
    """One subscale or total of one questionnaire, across the couples followed on it."""

    label: str
    partners: Counts = field(default_factory=Counts)
    gaps: Counts = field(default_factory=Counts)


@dataclass
class InstrumentOutcome:
    instrument: Instrument  # the newest version the couples were followed on
    couples: int
    measures: list[MeasureOutcome]
    basis: str  # what its change is judged on, said once (as the couple view says it)


@dataclass(frozen=True)
class SessionAverage:
    """The check-in's average at one session number, over every partner who sent it."""

    session: int
    mean: float
    partners: int
    couples: int


@dataclass(frozen=True)
class ChangeRow:
    """A partner's, or a gap's, change on one measure from the first to the latest assessment."""

    couple_id: int
    position: int | None  # None: the gap between the partners
    instrument_id: str
    version: int
    measure_id: str
    assessments: int
    days: int
    first: float | None
    latest: float | None
    verdict: str | None
    judged_on: str


@dataclass(frozen=True)
class CheckinScore:
    couple_id: int
    position: int
    session: int
    score: float


@dataclass
class Overview:
    period: Period
    couples: int  # couples in scope with any assessment in the period
    followed: int  # of them, couples with two or more assessments of one scored questionnaire
    instruments: list[InstrumentOutcome]
    sessions: list[SessionAverage]
    checkin_scale: str  # what the check-in's scores mean, in words ("" without check-ins)
    changes: list[ChangeRow]
    checkins: list[CheckinScore]


def judged_on(trend: Trend) -> str:
    """The basis of one trend's verdicts, in a word or two (for the CSV)."""
    if trend.basis.source == "published":
        return "reliable change (published figures)"
    if trend.basis.source == "practice":
        return f"reliable change (practice estimate, n = {trend.basis.n})"
    return f"raw change of at least {fmt(trend.clear_step)}"


def tally(built: Iterable[CoupleResults], zone: str) -> tuple[list[InstrumentOutcome], list[ChangeRow]]:
    """Count each partner's and each gap's change from the first to the latest assessment, per
    questionnaire and measure, as the couple view judges it; and list them row by row."""
    couples: dict[str, set[int]] = defaultdict(set)
    measures: dict[str, dict[str, MeasureOutcome]] = defaultdict(dict)
    newest: dict[str, Trend] = {}  # per (instrument, measure): a trend on the newest version seen
    rows: list[ChangeRow] = []
    for results in built:
        for trend in results.trends:
            instrument = trend.instrument
            change = trend.since_first
            couples[instrument.id].add(results.couple.id)
            outcome = measures[instrument.id].setdefault(trend.measure_id, MeasureOutcome(trend.label))
            key = f"{instrument.id}/{trend.measure_id}"
            if key not in newest or newest[key].instrument.version < instrument.version:
                newest[key] = trend
            common = {
                "couple_id": results.couple.id,
                "instrument_id": instrument.id,
                "version": instrument.version,
                "measure_id": trend.measure_id,
                "assessments": len(trend.points),
                "days": (change.later.created_at - change.earlier.created_at).days,
                "judged_on": judged_on(trend),
            }
            for pos in (1, 2):
                if change.reliable[pos] is None:
                    continue  # this partner did not send it at both ends
                outcome.partners.add(change.verdict[pos])
                first, latest = change.scores(pos)
                rows.append(
                    ChangeRow(
                        position=pos,
                        first=first.value if first else None,
                        latest=latest.value if latest else None,
                        verdict=change.verdict[pos] or "not enough answers",
                        **common,
                    )
                )
            if change.gap_reliable is not None:
                outcome.gaps.add(change.gap_verdict)
                rows.append(
                    ChangeRow(
                        position=None,
                        first=change.gap[0],
                        latest=change.gap[1],
                        verdict=change.gap_verdict or "not enough answers",
                        **common,
                    )
                )
    out = []
    for instrument_id, by_measure in measures.items():
        trends = [newest[f"{instrument_id}/{measure_id}"] for measure_id in by_measure]
        instrument = max((t.instrument for t in trends), key=lambda i: i.version)
        out.append(
            InstrumentOutcome(
                instrument=instrument,
                couples=len(couples[instrument_id]),
                measures=list(by_measure.values()),
                basis=OverTime(instrument, trends).basis(zone),
            )
        )
    out.sort(key=lambda found: found.instrument.title)
    return out, rows


def session_averages(scores: Iterable[CheckinScore]) -> list[SessionAverage]:
    """The check-in's mean score at each session number, with how many partners and couples sent it."""
    values: dict[int, list[float]] = defaultdict(list)
    couples: dict[int, set[int]] = defaultdict(set)
    for found in scores:
        values[found.session].append(found.score)
        couples[found.session].add(found.couple_id)
    return [
        SessionAverage(session, sum(v) / len(v), len(v), len(couples[session])) for session, v in sorted(values.items())
    ]


def _scope(owner: bool, clinician_id: int | None) -> sa.Select:
    """The ids of the couples in scope (for the owner, optionally one clinician's)."""
    stmt = couples_in_scope(owner=owner).with_only_columns(Couple.id)
    if owner and clinician_id is not None:
        stmt = stmt.where(Couple.clinician_id == clinician_id)
    return stmt


def load_overview(
    params: Mapping[str, int], *, owner: bool, zone: str, period: Period, clinician_id: int | None = None
) -> Overview:
    """The overview for the couples in scope (couples_in_scope's `params` and `owner`), for the
    owner optionally one clinician's, in `period` (dates in the practice's `zone`)."""
    in_scope = _scope(owner, clinician_id)
    since, until = period.bounds(ZoneInfo(zone))
    sent = sa.select(sa.func.count(sa.distinct(Assessment.couple_id))).where(Assessment.couple_id.in_(in_scope))
    if since:
        sent = sent.where(Assessment.created_at >= since)
    if until:
        sent = sent.where(Assessment.created_at < until)
    built = load_many(in_scope, params["scope_practice_id"], params, since=since, until=until, keep=_repeated)
    instruments, changes = tally(built, zone)
    checkins = _checkin_scores(in_scope, params, since, until)
    return Overview(
        period=period,
        couples=db.session.scalar(sent, params),
        followed=len({row.couple_id for row in changes}),
        instruments=instruments,
        sessions=session_averages(checkins),
        checkin_scale=_checkin_scale() if checkins else "",
        changes=changes,
        checkins=checkins,
    )


def _repeated(assessments: list[Assessment]) -> bool:
    """Whether some scored questionnaire was sent by someone at two or more of these assessments."""
    seen: dict[str, int] = defaultdict(int)
    for assessment in assessments:
        if not any(i.submitted_at is not None for i in assessment.invitations):
            continue
        for instrument_id, version in assessment.instrument_keys:
            if catalog.instrument(instrument_id, version).kind == "scored":
                seen[instrument_id] += 1
    return any(n >= 2 for n in seen.values())


def _checkin_scores(
    in_scope: sa.Select, params: Mapping[str, int], since: datetime | None, until: datetime | None
) -> list[CheckinScore]:
    """Every valid check-in score sent for a scheduled session in the period, with its session number
    (counted over the schedule's whole history, so a couple's session 5 stays 5 whatever the period)."""
    numbered = (
        sa.select(
            CheckinSending.assessment_id,
            CheckinSending.session_at,
            CheckinSchedule.couple_id,
            sa.func.row_number()
            .over(partition_by=CheckinSending.schedule_id, order_by=(CheckinSending.session_at, CheckinSending.id))
            .label("session"),
        )
        .join(CheckinSchedule, CheckinSchedule.id == CheckinSending.schedule_id)
        .where(CheckinSchedule.couple_id.in_(in_scope))
        .subquery()
    )
    stmt = (
        sa.select(numbered.c.couple_id, numbered.c.session, Partner.position, Score.result)
        .join(Invitation, Invitation.assessment_id == numbered.c.assessment_id)
        .join(Partner, Partner.id == Invitation.partner_id)
        .join(Score, sa.and_(Score.invitation_id == Invitation.id, Score.instrument_id == CHECKIN))
        .order_by(numbered.c.couple_id, numbered.c.session, Partner.position)
    )
    if since:
        stmt = stmt.where(numbered.c.session_at >= since)
    if until:
        stmt = stmt.where(numbered.c.session_at < until)
    found = []
    for couple_id, session, position, result in db.session.execute(stmt, params):
        total = checkin_total(result)
        if total is not None:
            found.append(CheckinScore(couple_id, position, session, total))
    return found


def _checkin_scale() -> str:
    """What a check-in score means: its range and which way is better."""
    instrument = catalog.registry().latest(CHECKIN)
    measure = instrument.measures()[0]
    low, high = instrument.possible(measure.id)
    better = "higher" if measure.direction == "health" else "lower"
    return f"{measure.label}, from {fmt(low)} to {fmt(high)}; {better} is better."


def csv_text(overview: Overview) -> str:
    """The overview row by row, de-identified: random codes for couples and partners (new for
    every download), no names, emails, free text or dates."""
    codes = _codes({row.couple_id for row in overview.changes} | {s.couple_id for s in overview.checkins})
    partner_codes = _codes({(c, p) for c in codes for p in (1, 2)}, prefix="P", taken=set(codes.values()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in sorted(
        overview.changes, key=lambda r: (codes[r.couple_id], r.instrument_id, r.measure_id, r.position or 3)
    ):
        partner = partner_codes[(row.couple_id, row.position)] if row.position else ""
        first, latest = row.first, row.latest
        change = latest - first if first is not None and latest is not None else None
        writer.writerow(
            [
                codes[row.couple_id],
                partner,
                PARTNER_ROW if row.position else GAP_ROW,
                row.instrument_id,
                row.version,
                row.measure_id,
                row.assessments,
                row.days,
                fmt(first, missing=""),
                fmt(latest, missing=""),
                fmt(change, signed=True, missing=""),
                row.verdict,
                row.judged_on,
                "",
                "",
            ]
        )
    for found in sorted(overview.checkins, key=lambda c: (codes[c.couple_id], c.session, c.position)):
        writer.writerow(
            [
                codes[found.couple_id],
                partner_codes[(found.couple_id, found.position)],
                CHECKIN_ROW,
                CHECKIN,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                found.session,
                fmt(found.score),
            ]
        )
    return out.getvalue()


def _codes(keys: set, *, prefix: str = "C", taken: set[str] | None = None) -> dict:
    """A random code for each key ("C-7K3QX9"), unique within one download."""
    used = set(taken or ())
    codes = {}
    for key in sorted(keys, key=repr):
        code = ""
        while not code or code in used:
            code = f"{prefix}-{secrets.token_hex(3).upper()}"
        used.add(code)
        codes[key] = code
    return codes
