"""What a couple's submitted answers say: the numbers behind the couple view and the report.

`load_couple_results` reads everything in a fixed number of queries (whatever the
number of assessments and items); `build_results` is a pure function of what
was loaded, so its numbers can be tested without a request. Only submitted
answers count: in-progress answers are never shown as results.
"""

from __future__ import annotations

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
    context_assessment: Assessment | None = None
    trends: list[Trend] = field(default_factory=list)

    @property
    def has_results(self) -> bool:
        return any(r.results[p] for rows in self.by_assessment.values() for r in rows for p in (1, 2))

    @property
    def unreviewed_safety(self) -> int:
        return sum(1 for entry in self.safety if entry.review is None)


def measure_score(result: Result | None, measure_id: str) -> ScoreResult | None:
    """One partner's score on a subscale or total (None: not submitted, or not on that version)."""
    if result is None:
        return None
    return result.scores.get(measure_id) or result.totals.get(measure_id)


def comparison_svg(row: InstrumentResults, names: tuple[str, str]) -> str | None:
    """The dumbbell chart of every subscale and total of one instrument (couple view and report)."""
    if row.instrument.kind != "scored" or not any(row.results.values()):
        return None
    return memo("svg").get_or_make(("comparison", row.key, names), lambda: _comparison_svg(row, names))


def _comparison_svg(row: InstrumentResults, names: tuple[str, str]) -> str:
    lines = []
    possible = None
    for measure in row.instrument.measures():
        a, b = (measure_score(row.results[pos], measure.id) for pos in (1, 2))
        lines.append((measure.label, a.value if a else None, b.value if b else None))
        if possible is None and (a or b):
            # The axis of the first score found: every measure shares it when scored as means.
            possible = (a or b).possible
    low, high = possible
    return charts.dumbbell(lines, low=low, high=high, title=row.instrument.title, names=names)


def trend_svg(trend: Trend, names: tuple[str, str]) -> str:
    """One subscale or total over the assessments, as a line chart."""
    return memo("svg").get_or_make(("trend", trend.key, names), lambda: _trend_svg(trend, names))


def _trend_svg(trend: Trend, names: tuple[str, str]) -> str:
    measure = trend.instrument.measure(trend.measure_id)
    items = trend.instrument.items_of(trend.measure_id)
    scale = trend.instrument.scale_of(items[0])
    # A sum spans items x scale; a mean the scale itself.
    n = len(items) if measure.method == "sum" else 1
    series = [(p.occasion, p.values[1], p.values[2]) for p in trend.points]
    title = f"{trend.instrument.title}: {trend.label}"
    return charts.trend(series, low=scale.low * n, high=scale.high * n, title=title, names=names)


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


def _talk(comparison: Comparison) -> ItemsToTalkAbout:
    items = comparison.items
    return ItemsToTalkAbout(
        gaps=sorted((i for i in items if i.worth_discussing), key=lambda i: -i.gap)[:TALK_LIMIT],
        shared_concerns=[i for i in items if i.category == "shared_concern"][:TALK_LIMIT],
        shared_strengths=[i for i in items if i.category == "shared_strength"][:TALK_LIMIT],
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
                talk = _talk(comparison)
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
                _context(out, assessment, instrument, given)
        out.by_assessment[assessment.id] = rows
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


def _context(out: CoupleResults, assessment: Assessment, instrument: Instrument, given: dict) -> None:
    """Keep the latest submitted life context (a later assessment replaces an earlier one)."""
    if not given:
        return
    rows = []
    notes: dict[int, str] = {}
    for item in instrument.items:
        if item.type == "text":
            for pos, answers in given.items():
                if answers.get(item.id):
                    notes[pos] = str(answers[item.id])
            continue
        scale = instrument.scale_of(item)
        labels = {pos: (scale.label_of(a[item.id]) if item.id in a else None) for pos, a in given.items()}
        rows.append(
            ContextRow(
                text=item.text,
                answers={pos: labels.get(pos) for pos in (1, 2)},
                weighing={pos: given.get(pos, {}).get(item.id) == scale.high for pos in (1, 2)},
            )
        )
    out.context, out.context_notes, out.context_assessment = rows, notes, assessment


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
            for pos in (1, 2):
                before = measure_score(earlier.results[pos], measure.id)
                after = measure_score(later.results[pos], measure.id)
                change[pos] = score_change(measure, before, after) if before and after else None
            gap = None
            if earlier.comparison and later.comparison:
                before_gap = earlier.comparison.subscales.get(measure.id) or earlier.comparison.totals.get(measure.id)
                after_gap = later.comparison.subscales.get(measure.id) or later.comparison.totals.get(measure.id)
                if before_gap and after_gap:
                    gap = score_gap_change(measure, before_gap, after_gap)
            key = (measure.id, tuple(row.key for row in rows))
            trends.append(Trend(latest, measure.id, measure.label, points, change, gap, key))
    return trends
