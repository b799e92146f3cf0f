"""What a couple's submitted answers say: the numbers behind the couple view and the report.

`load_couple_results` reads everything in a fixed number of queries (whatever the
number of assessments and items); `build_results` is a pure function of what
was loaded, so its numbers can be tested without a request. Only submitted
answers count: in-progress answers are never shown as results.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from clinic import catalog, charts
from clinic.extensions import db
from clinic.memo import memo
from clinic.models import Answer, Assessment, Couple, Partner, SafetyReview
from instruments import (
    ChangeUnknown,
    Comparison,
    GapChange,
    Instrument,
    ItemComparison,
    ReliableChange,
    Result,
    SafetyFlag,
    ScoreResult,
    compare,
    score,
    score_change,
    score_gap_change,
)
from instruments.change import NOT_ENOUGH_ANSWERS

log = logging.getLogger(__name__)

TALK_LIMIT = 8  # items per "to talk about" list: enough to prepare, few enough to read


@dataclass(frozen=True)
class SafetyEntry:
    """One raised safety flag of one partner, and whether it was reviewed."""

    partner: Partner
    assessment: Assessment
    invitation_id: int
    instrument_id: str
    flag: SafetyFlag
    review: SafetyReview | None


@dataclass(frozen=True)
class ItemsToTalkAbout:
    gaps: list[ItemComparison]  # worth discussing, largest gap first
    shared_concerns: list[ItemComparison]
    shared_strengths: list[ItemComparison]
    splits: list[ItemComparison]


@dataclass(frozen=True)
class InstrumentResults:
    """One instrument of one assessment: each partner's result and, with both, the comparison."""

    instrument: Instrument
    assessment: Assessment
    results: dict[int, Result | None]  # by partner position (1 = A, 2 = B); None = not submitted
    comparison: Comparison | None  # only when both partners submitted
    talk: ItemsToTalkAbout | None
    # What the numbers were made from: the instrument version and, per position, the
    # submitted invitation (id, submitted_at) or None. Keys the kept charts (clinic.memo).
    key: tuple = ()

    @property
    def both(self) -> bool:
        return self.comparison is not None


@dataclass(frozen=True)
class ContextRow:
    """One life-context item with each partner's answer in words (None: not answered or not submitted)."""

    text: str
    answers: dict[int, str | None]
    weighing: dict[int, bool]  # answered with the scale's top value ("weighing on me")


@dataclass(frozen=True)
class TrendPoint:
    occasion: str
    created_at: datetime
    values: dict[int, float | None]


@dataclass(frozen=True)
class Trend:
    """One subscale or total of one instrument over two or more assessments."""

    instrument: Instrument
    measure_id: str
    label: str
    points: list[TrendPoint]
    change: dict[int, ReliableChange | ChangeUnknown | None]  # previous -> latest, per partner
    gap_change: GapChange | ChangeUnknown | None
    key: tuple = ()  # the measure and the keys of the InstrumentResults it runs through
    # Whether the measure has psychometrics (SD, reliability): only then is change judged reliable.
    judged: bool = False
    # The change in raw scores, previous -> latest, per partner (None: a score is missing).
    raw_change: dict[int, float | None] = field(default_factory=dict)
    # The gap b - a at the previous and the latest assessment (None: not both partners, or not enough answers).
    gaps: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class ChangeNote:
    """Whether change over time can be judged reliable on one instrument, and on which of its areas."""

    instrument: Instrument
    judged: list[str]  # labels of the areas with psychometrics
    not_judged: list[str]  # labels of the areas without


@dataclass
class CoupleResults:
    couple: Couple
    partners: dict[int, Partner]  # by position
    assessments: list[Assessment]  # oldest first
    submitted: dict[int, dict[int, datetime | None]]  # assessment id -> position -> submitted_at
    by_assessment: dict[int, list[InstrumentResults]] = field(default_factory=dict)
    safety: list[SafetyEntry] = field(default_factory=list)
    context: list[ContextRow] = field(default_factory=list)
    context_notes: dict[int, str] = field(default_factory=dict)  # free text, by position
    # Each partner's life context is their latest submitted one: the assessment it came from, by position.
    context_from: dict[int, Assessment] = field(default_factory=dict)
    context_assessment: Assessment | None = None  # the newest of context_from
    trends: list[Trend] = field(default_factory=list)

    @property
    def has_results(self) -> bool:
        return any(r.results[p] for rows in self.by_assessment.values() for r in rows for p in (1, 2))

    @property
    def unreviewed_safety(self) -> int:
        return sum(1 for entry in self.safety if entry.review is None)

    @property
    def context_same_occasion(self) -> bool:
        """Whether both partners' life context comes from one assessment."""
        return len({a.id for a in self.context_from.values()}) <= 1

    @property
    def change_notes(self) -> list[ChangeNote]:
        """Per instrument shown over time: the areas where change can be judged reliable and those where not."""
        notes: dict[str, ChangeNote] = {}
        for trend in self.trends:
            note = notes.setdefault(trend.instrument.id, ChangeNote(trend.instrument, [], []))
            (note.judged if trend.judged else note.not_judged).append(trend.label)
        return list(notes.values())


def measure_score(result: Result | None, measure_id: str) -> ScoreResult | None:
    """One partner's score on a subscale or total (None: not submitted, or not on that version)."""
    if result is None:
        return None
    return result.scores.get(measure_id) or result.totals.get(measure_id)


def comparison_svg(row: InstrumentResults, names: tuple[str, str], *, compact: bool = False) -> str | None:
    """The dumbbell charts of every subscale and total of one instrument (couple view and report):
    one chart per group of measures sharing an axis, so a sum and a mean, or two scales, never
    share one. None when there is nothing to draw, or the chart cannot be drawn (the table
    under it still shows every number). `compact` draws the narrow layout for phones."""
    if row.instrument.kind != "scored" or not any(row.results.values()):
        return None
    return memo("svg").get_or_make(
        ("comparison", row.key, names, compact), lambda: _drawn(_comparison_svg, row, names, compact)
    )


def _drawn(draw, subject, names: tuple[str, str], compact: bool) -> str | None:
    # A chart is an aid beside a table that holds every number: one that cannot be
    # drawn is left out (and logged, without data) rather than failing the page.
    try:
        return draw(subject, names, compact)
    except (ValueError, KeyError, IndexError) as error:
        log.warning("chart left out: %s", type(error).__name__)
        return None


def _comparison_svg(row: InstrumentResults, names: tuple[str, str], compact: bool) -> str:
    groups: dict[tuple[float, float], list[tuple[str, float | None, float | None]]] = {}
    for measure in row.instrument.measures():
        a, b = (measure_score(row.results[pos], measure.id) for pos in (1, 2))
        line = (measure.label, a.value if a else None, b.value if b else None)
        groups.setdefault(row.instrument.possible(measure.id), []).append(line)
    title = row.instrument.title
    svgs = []
    for (low, high), lines in groups.items():
        # One axis: the instrument's title; several: each chart names its areas.
        named = title if len(groups) == 1 else f"{title}: {', '.join(label for label, _, _ in lines)}"
        svgs.append(charts.dumbbell(lines, low=low, high=high, title=named, names=names, compact=compact))
    return "\n".join(svgs)


def trend_svg(trend: Trend, names: tuple[str, str], *, compact: bool = False) -> str:
    """One subscale or total over the assessments, as a line chart ("" if it cannot be drawn)."""
    return (
        memo("svg").get_or_make(("trend", trend.key, names, compact), lambda: _drawn(_trend_svg, trend, names, compact))
        or ""
    )


def _trend_svg(trend: Trend, names: tuple[str, str], compact: bool) -> str:
    low, high = trend.instrument.possible(trend.measure_id)
    series = [(p.occasion, p.values[1], p.values[2]) for p in trend.points]
    title = f"{trend.instrument.title}: {trend.label}"
    return charts.trend(series, low=low, high=high, title=title, names=names, compact=compact)


def load_couple_results(couple: Couple) -> CoupleResults:
    """Load a couple's assessments, submitted answers and reviews (at most five queries: the
    answers read before are kept, see clinic.memo) and build the results."""
    assessments = db.session.scalars(
        sa.select(Assessment)
        .where(Assessment.couple_id == couple.id)
        .order_by(Assessment.created_at, Assessment.id)
        .options(selectinload(Assessment.invitations))
    ).all()
    partners = db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id)).all()
    submitted = [i for a in assessments for i in a.invitations if i.submitted_at is not None]
    # Sent answers never change: those read before are kept (clinic.memo), the rest read now.
    kept = memo("answers")
    answers: dict[int, dict[str, dict[str, int | str]]] = {}
    for invitation in submitted:
        found = kept.get((invitation.id, invitation.submitted_at))
        if found is not None:
            answers[invitation.id] = found
    missing = {i.id: i.submitted_at for i in submitted if i.id not in answers}
    if missing:
        read: dict[int, dict[str, dict[str, int | str]]] = {i: defaultdict(dict) for i in missing}
        for row in db.session.execute(
            sa.select(Answer.invitation_id, Answer.instrument_id, Answer.item_id, Answer.value, Answer.text).where(
                Answer.invitation_id.in_(list(missing))
            )
        ):
            read[row.invitation_id][row.instrument_id][row.item_id] = row.value if row.value is not None else row.text
        for invitation_id, by_instrument in read.items():
            answers[invitation_id] = kept.put((invitation_id, missing[invitation_id]), dict(by_instrument))
    results = build_results(couple, list(partners), list(assessments), answers)
    if results.safety:  # reviews are read only when there is a flag to review
        reviews: dict[tuple[int, str, str], SafetyReview] = {}
        for review in db.session.scalars(
            sa.select(SafetyReview)
            .where(SafetyReview.invitation_id.in_(sorted({e.invitation_id for e in results.safety})))
            .options(joinedload(SafetyReview.reviewed_by))
        ):
            reviews[(review.invitation_id, review.instrument_id, review.item_id)] = review
        with_reviews(results, reviews)
    return results


def _talk(instrument: Instrument, comparison: Comparison) -> ItemsToTalkAbout:
    """The items worth a conversation, the most telling first (file order among equals)."""
    items = comparison.items

    def firmness(item: ItemComparison) -> float:
        # How far both answers sit from the scale's midpoint: "both strongly agree"
        # is a firmer shared strength (or concern) than "both agree". Reverse keying
        # mirrors an answer around the midpoint, so raw answers measure it as well.
        midpoint = instrument.scale_of(instrument.item(item.item_id)).midpoint
        return abs(item.a - midpoint) + abs(item.b - midpoint)

    def firmest(category: str) -> list[ItemComparison]:
        return sorted((i for i in items if i.category == category), key=lambda i: -firmness(i))[:TALK_LIMIT]

    return ItemsToTalkAbout(
        gaps=sorted((i for i in items if i.worth_discussing), key=lambda i: -i.gap)[:TALK_LIMIT],
        shared_concerns=firmest("shared_concern"),
        shared_strengths=firmest("shared_strength"),
        splits=[i for i in items if i.category == "split"],
    )


def build_results(
    couple: Couple,
    partners: list[Partner],
    assessments: list[Assessment],
    answers: dict[int, dict[str, dict[str, int | str]]],
) -> CoupleResults:
    """Score, compare and trace change from loaded rows (no database access); safety flags
    come without reviews (see with_reviews)."""
    by_position = {p.position: p for p in partners}
    position_of = {p.id: p.position for p in partners}
    out = CoupleResults(
        couple=couple,
        partners=by_position,
        assessments=assessments,
        submitted={a.id: {position_of[i.partner_id]: i.submitted_at for i in a.invitations} for a in assessments},
    )
    latest_context: dict[int, tuple[Assessment, Instrument, dict[str, int | str]]] = {}
    for assessment in assessments:
        invitation_at = {position_of[i.partner_id]: i for i in assessment.invitations if i.submitted_at is not None}
        rows = []
        sent = {pos: (inv.id, inv.submitted_at) for pos, inv in invitation_at.items()}
        for instrument_id, version in assessment.instrument_keys:
            instrument = catalog.instrument(instrument_id, version)
            given = {pos: answers.get(inv.id, {}).get(instrument_id, {}) for pos, inv in invitation_at.items()}
            results: dict[int, Result | None] = {
                pos: (_score(instrument, sent[pos], given[pos]) if pos in given else None) for pos in (1, 2)
            }
            key = (instrument_id, version, sent.get(1), sent.get(2))
            comparison = talk = None
            if 1 in given and 2 in given and instrument.kind == "scored":
                comparison = _compare(instrument, key, given[1], given[2])
                talk = _talk(instrument, comparison)
            rows.append(InstrumentResults(instrument, assessment, results, comparison, talk, key))
            for pos, result in results.items():
                if result is None:
                    continue
                for flag in result.flags:
                    invitation = invitation_at[pos]
                    out.safety.append(
                        SafetyEntry(
                            partner=by_position[pos],
                            assessment=assessment,
                            invitation_id=invitation.id,
                            instrument_id=instrument_id,
                            flag=flag,
                            review=None,
                        )
                    )
            if instrument.kind == "checklist":
                # Assessments come oldest first: a later submission replaces a partner's earlier one.
                latest_context.update({pos: (assessment, instrument, a) for pos, a in given.items()})
        out.by_assessment[assessment.id] = rows
    _context(out, latest_context)
    with_reviews(out, {})
    out.trends = _trends(out)
    return out


def with_reviews(out: CoupleResults, reviews: dict[tuple[int, str, str], SafetyReview]) -> None:
    """Give each safety flag its review (if any), unreviewed and urgent flags first."""
    out.safety = sorted(
        (replace(e, review=reviews.get((e.invitation_id, e.instrument_id, e.flag.item_id))) for e in out.safety),
        key=lambda e: (e.review is not None, e.flag.level != "urgent", e.partner.position),
    )


def _score(instrument: Instrument, sent: tuple, answers: dict[str, int | str]) -> Result:
    """One partner's result on one instrument, kept by (instrument version, invitation id, sent at)."""
    return memo("score").get_or_make((instrument.id, instrument.version, sent), lambda: score(instrument, answers))


def _compare(instrument: Instrument, key: tuple, a: dict[str, int | str], b: dict[str, int | str]) -> Comparison:
    """Both partners compared on one instrument, kept by (instrument version, both invitations)."""
    return memo("compare").get_or_make(key, lambda: compare(instrument, a, b))


def _context(out: CoupleResults, latest: dict[int, tuple[Assessment, Instrument, dict[str, int | str]]]) -> None:
    """Each partner's latest submitted life context, side by side (they may come from different assessments)."""
    if not latest:
        return
    newest = max(latest.values(), key=lambda found: (found[0].created_at, found[0].id))
    shown = newest[1]  # the rows follow the newest version; each answer is read on its own version
    rows = []
    notes: dict[int, str] = {}
    for pos, (_, instrument, answers) in latest.items():
        for item in instrument.items:
            if item.type == "text" and answers.get(item.id):
                notes[pos] = str(answers[item.id])
    for item in shown.items:
        if item.type == "text":
            continue
        labels: dict[int, str | None] = {}
        weighing: dict[int, bool] = {}
        for pos in (1, 2):
            labels[pos], weighing[pos] = None, False
            if pos not in latest:
                continue
            _, instrument, given = latest[pos]
            value = given.get(item.id)
            own = next((i for i in instrument.items if i.id == item.id and i.type != "text"), None)
            if own is not None and isinstance(value, int):
                scale = instrument.scale_of(own)
                labels[pos], weighing[pos] = scale.label_of(value), value == scale.high
        rows.append(ContextRow(text=item.text, answers=labels, weighing=weighing))
    out.context, out.context_notes = rows, dict(sorted(notes.items()))
    out.context_from = {pos: latest[pos][0] for pos in sorted(latest)}
    out.context_assessment = newest[0]


def _trends(out: CoupleResults) -> list[Trend]:
    """Every scored measure answered at two or more assessments, with change since the previous one."""
    series: dict[str, list[InstrumentResults]] = defaultdict(list)
    for assessment in out.assessments:
        for row in out.by_assessment[assessment.id]:
            if row.instrument.kind == "scored" and any(row.results.values()):
                series[row.instrument.id].append(row)
    trends = []
    for rows in series.values():
        if len(rows) < 2:
            continue
        latest = rows[-1].instrument
        for measure in latest.measures():
            points = []
            for row in rows:
                values = {}
                for pos in (1, 2):
                    found = measure_score(row.results[pos], measure.id)
                    values[pos] = found.value if found else None
                points.append(TrendPoint(row.assessment.occasion, row.assessment.created_at, values))
            earlier, later = rows[-2], rows[-1]
            change: dict[int, ReliableChange | ChangeUnknown | None] = {}
            raw: dict[int, float | None] = {}
            for pos in (1, 2):
                before = measure_score(earlier.results[pos], measure.id)
                after = measure_score(later.results[pos], measure.id)
                raw[pos] = None
                if not (before and after):
                    change[pos] = None
                elif before.value is None or after.value is None:
                    # A missing score is the first reason, with or without psychometrics.
                    change[pos] = ChangeUnknown(NOT_ENOUGH_ANSWERS)
                else:
                    change[pos] = score_change(measure, before, after)
                    raw[pos] = round(after.value - before.value, 2)
            gap: GapChange | ChangeUnknown | None = None
            gaps: tuple[float | None, float | None] = (None, None)
            if earlier.comparison and later.comparison:
                before_gap = earlier.comparison.subscales.get(measure.id) or earlier.comparison.totals.get(measure.id)
                after_gap = later.comparison.subscales.get(measure.id) or later.comparison.totals.get(measure.id)
                if before_gap and after_gap:
                    gaps = (before_gap.difference, after_gap.difference)
                    if None in gaps:
                        gap, gaps = ChangeUnknown(NOT_ENOUGH_ANSWERS), (None, None)
                    else:
                        gap = score_gap_change(measure, before_gap, after_gap)
            key = (measure.id, tuple(row.key for row in rows))
            judged = measure.psychometrics is not None
            trends.append(Trend(latest, measure.id, measure.label, points, change, gap, key, judged, raw, gaps))
    return trends
