"""What a couple's submitted answers say: the numbers behind the couple view and the report.

`load_couple_results` reads everything in a fixed number of queries (whatever the
number of assessments and items); `build_results` is a pure function of what
was loaded, so its numbers can be tested without a request. Only submitted
answers count: in-progress answers are never shown as results.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from clinic import catalog, charts
from clinic.extensions import db
from clinic.memo import memo
from clinic.models import Answer, Assessment, Couple, Invitation, Partner, SafetyReview
from clinic.services import calibration
from clinic.services.checkins import INSTRUMENT as CHECKIN
from clinic.templating import localtime_in
from instruments import (
    ChangeUnknown,
    Comparison,
    GapChange,
    Instrument,
    ItemComparison,
    Measure,
    ReliableChange,
    Result,
    SafetyFlag,
    ScoreResult,
    compare,
    gap_change,
    score,
    score_change,
)
from instruments.change import NOT_ENOUGH_ANSWERS, Basis, basis_for, psychometrics
from instruments.numbers import fmt, shown
from instruments.reliability import Estimate

log = logging.getLogger(__name__)

# Links per statement when reading answers (an overview may read thousands).
CHUNK = 1000
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
    lowest: str = ""  # the label of the scale's lowest value ("Not happening")


@dataclass(frozen=True)
class TrendPoint:
    assessment_id: int
    occasion: str
    created_at: datetime
    scores: dict[int, ScoreResult | None]  # by position; None: not sent, or not on that version

    @property
    def values(self) -> dict[int, float | None]:
        return {pos: (found.value if found else None) for pos, found in self.scores.items()}


BETTER, WORSE, NO_CLEAR_CHANGE = "better", "worse", "no clear change"
CLOSER, FURTHER_APART = "closer", "further apart"
# Without an SD and a reliability, a raw change counts as clear from this share of the
# measure's possible range (0.40 on a 1-5 mean): stated once per instrument on the page,
# and never called reliable.
RAW_CLEAR_SHARE = 0.10
# How the date of a practice's estimate is written (in the practice's zone).
ESTIMATE_DATE = "%-d %b %Y"
JACOBSON_TRUAX = "reliable change, Jacobson & Truax, 95%"


def figures(basis: Basis) -> str:
    """A basis's numbers in words: "α = 0.87, SD = 0.62" (— where the answers give none)."""
    return f"α = {fmt(basis.reliability)}, SD = {fmt(basis.sd)}"


def still_needed(basis: Basis) -> str:
    """How far a practice is from its own estimate: "needs 50 partners' first answers in this
    practice; 12 so far: 38 more"."""
    return (
        f"needs {basis.needed} partners' first answers in this practice; {basis.n or 'none'} so far: {basis.more} more"
    )


def basis_source(basis: Basis) -> str:
    """Where a judged measure's SD and reliability come from, with its figures."""
    if basis.source == "published":
        return f"the questionnaire's published figures ({figures(basis)})"
    return f"reliability estimated from {basis.n} partners in this practice ({figures(basis)})"


def no_usable_reliability(basis: Basis) -> str:
    """Why an estimate with enough partners is not used (its alpha is none, or not between 0 and 1)."""
    return f"the first answers of {basis.n} partners in this practice give no usable reliability"


@dataclass(frozen=True)
class Change:
    """One subscale or total between two assessments: each partner and the gap between them.

    Numbers are unrounded (they are written once, at display). A verdict is "better",
    "worse" or "no clear change" (the gap: "closer", "further apart" or "no clear change"),
    judged with reliable change (Jacobson & Truax) where the measure's basis gives an SD and a
    reliability (published, or the practice's own estimate), else from the raw change against
    RAW_CLEAR_SHARE of its range; None when a score is missing.
    """

    earlier: TrendPoint
    later: TrendPoint
    delta: dict[int, float | None]  # later - earlier, per partner
    reliable: dict[int, ReliableChange | ChangeUnknown | None]  # per partner (None: a partner not sent)
    verdict: dict[int, str | None]
    gap: tuple[float | None, float | None]  # |b - a| at each assessment (None: not both scored)
    gap_reliable: GapChange | ChangeUnknown | None
    gap_verdict: str | None

    def scores(self, pos: int) -> tuple[ScoreResult | None, ScoreResult | None]:
        return self.earlier.scores[pos], self.later.scores[pos]


@dataclass(frozen=True)
class Trend:
    """One subscale or total of one instrument over two or more assessments."""

    instrument: Instrument
    measure: Measure
    points: list[TrendPoint]
    since_last: Change  # the previous assessment -> the latest
    since_first: Change  # the first -> the latest (the same as since_last with two assessments)
    basis: Basis  # where the SD and reliability its change is judged on come from
    key: tuple = ()  # the measure and the keys of the InstrumentResults it runs through

    @property
    def measure_id(self) -> str:
        return self.measure.id

    @property
    def label(self) -> str:
        return self.measure.label

    @property
    def judged(self) -> bool:
        """Whether the measure's basis gives an SD and a reliability: only then is change judged reliable."""
        return self.basis.judged

    @property
    def clear_step(self) -> float:
        """The raw change that counts as clear without psychometrics (RAW_CLEAR_SHARE of the range)."""
        return clear_step(self.instrument, self.measure.id)


@dataclass(frozen=True)
class OverTime:
    """One instrument across assessments: its measures' trends, and the basis their change is judged on."""

    instrument: Instrument
    trends: list[Trend]

    @property
    def judged(self) -> list[str]:
        """Labels of the areas with an SD and a reliability (reliable change can be judged)."""
        return [t.label for t in self.trends if t.judged]

    @property
    def not_judged(self) -> list[str]:
        return [t.label for t in self.trends if not t.judged]

    @property
    def clear_step(self) -> str:
        """The raw change that counts as clear without psychometrics, in words: "0.40" when the
        areas share a range, else a tenth of each one's range, area by area."""
        unjudged = [t for t in self.trends if not t.judged]
        steps = dict.fromkeys(fmt(t.clear_step) for t in unjudged)
        if len(steps) <= 1:
            return next(iter(steps), "")
        return "a tenth of its range (" + ", ".join(f"{t.label} {fmt(t.clear_step)}" for t in unjudged) + ")"

    def basis(self, zone: str) -> str:
        """What change on this instrument is judged on, said once (dates in the practice's `zone`):
        "Reliability estimated from 64 partners in this practice (α = 0.87, SD = 0.62), 3 Dec 2026. …",
        or "Reliable change needs 50 partners' first answers in this practice; 12 so far: 38 more. …".
        Areas are named when the instrument has more than one."""
        named = len(self.trends) > 1
        every = {t.basis.source for t in self.trends}

        def listed(trends: list[Trend]) -> str:
            return "; ".join(f"{t.label} {figures(t.basis)}" if named else figures(t.basis) for t in trends)

        def labels(trends: list[Trend], source: str) -> str:
            # Name the areas only when others are judged on another basis.
            return f" for {', '.join(t.label for t in trends)}" if every != {source} else ""

        sentences = []
        published = [t for t in self.trends if t.basis.source == "published"]
        if published:
            sentences.append(f"Reliability from the questionnaire's published figures ({listed(published)}).")
        for (n, at), trends in _grouped(self.trends, "practice", lambda b: (b.n, b.estimated_at)).items():
            when = localtime_in(at, zone, ESTIMATE_DATE)
            sentences.append(f"Reliability estimated from {n} partners in this practice ({listed(trends)}), {when}.")
        if self.judged:
            where = f"For {', '.join(self.judged)}, “better”" if self.not_judged else "“Better”"
            sentences.append(f"{where} and “worse” are changes larger than the measurement error ({JACOBSON_TRUAX}).")
        for _, trends in _grouped(self.trends, "pending", lambda b: (b.n, b.needed)).items():
            sentences.append(f"Reliable change{labels(trends, 'pending')} {still_needed(trends[0].basis)}.")
        for _, trends in _grouped(self.trends, "unusable", lambda b: b.n).items():
            words = no_usable_reliability(trends[0].basis)
            sentences.append(f"{words[0].upper()}{words[1:]} ({listed(trends)}).")
        if self.not_judged:
            there = " there" if self.judged else ""
            sentences.append(
                f"Until then change{there} cannot yet be judged reliable: “better” and “worse” mean a raw change "
                f"of at least {self.clear_step}."
            )
        return " ".join(sentences)


def _grouped(trends: list[Trend], source: str, by) -> dict:
    """The trends on one kind of basis, grouped by what their sentence says (in order)."""
    groups: dict = {}
    for trend in trends:
        if trend.basis.source == source:
            groups.setdefault(by(trend.basis), []).append(trend)
    return groups


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
    def shown_by_default(self) -> Assessment | None:
        """The assessment the couple view and the report are about unless another is asked for:
        the latest anybody sent that asks more than the check-in, else the latest anybody sent.
        (Between sessions the latest is often a check-in alone; the brief sums check-ins up on
        their own lines, and the intake's or follow-up's results stay in view.)"""
        sent = [a for a in self.assessments if any(self.submitted[a.id].values())]
        fuller = [a for a in sent if any(instrument_id != CHECKIN for instrument_id, _ in a.instrument_keys)]
        return (fuller or sent or [None])[-1]

    @property
    def over_time(self) -> list[OverTime]:
        """The trends grouped by instrument, in the order they first appear."""
        groups: dict[str, OverTime] = {}
        for trend in self.trends:
            groups.setdefault(trend.instrument.id, OverTime(trend.instrument, [])).trends.append(trend)
        return list(groups.values())


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
    sent = (row.results[1] is not None, row.results[2] is not None)
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
        svgs.append(charts.dumbbell(lines, low=low, high=high, title=named, names=names, compact=compact, sent=sent))
    return "\n".join(svgs)


def trends_svg(trends: list[Trend], names: tuple[str, str], *, compact: bool = False) -> str | None:
    """One instrument's measures over the assessments, as small multiples (None if it cannot be drawn)."""
    if not trends:
        return None
    key = ("trends", tuple(t.key for t in trends), names, compact)
    return memo("svg").get_or_make(key, lambda: _drawn(_trends_svg, trends, names, compact))


def _trends_svg(trends: list[Trend], names: tuple[str, str], compact: bool) -> str:
    panels = [
        charts.Panel(
            trend.label,
            *trend.instrument.possible(trend.measure_id),
            [
                (p.occasion, p.values[1], p.values[2], (p.scores[1] is not None, p.scores[2] is not None))
                for p in trend.points
            ],
        )
        for trend in trends
    ]
    title = f"{trends[0].instrument.title} over time"
    return charts.small_multiples(panels, title=title, names=names, compact=compact)


# The couple view's and the report's reads, built once (keying them again on every view cost
# as much as running them).
_ASSESSMENTS = (
    sa.select(Assessment)
    .where(Assessment.couple_id == sa.bindparam("couple_id"))
    .order_by(Assessment.created_at, Assessment.id)
    .options(selectinload(Assessment.invitations))
)
_PARTNERS = sa.select(Partner).where(Partner.couple_id == sa.bindparam("couple_id"))


def load_couple_results(couple: Couple) -> CoupleResults:
    """Load a couple's assessments, submitted answers, the practice's reliability estimates and
    reviews (at most six queries: the answers read before are kept, see clinic.memo) and build
    the results."""
    assessments = db.session.scalars(_ASSESSMENTS, {"couple_id": couple.id}).all()
    partners = db.session.scalars(_PARTNERS, {"couple_id": couple.id}).all()
    answers = submitted_answers([i for a in assessments for i in a.invitations if i.submitted_at is not None])
    results = build_results(
        couple,
        list(partners),
        list(assessments),
        answers,
        estimates=calibration.practice_estimates(couple.practice_id),
        min_partners=calibration.min_partners(),
    )
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


def load_many(
    couple_ids: sa.Select | list[int],
    practice_id: int,
    params: Mapping[str, int] | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    keep: Callable[[list[Assessment]], bool] | None = None,
) -> list[CoupleResults]:
    """Scores and change over time of many couples (build_results without comparisons), in a fixed
    number of statements whatever their number: the couples whose ids `couple_ids` gives (a select
    run with `params`, or a list), of one practice, with the assessments sent from `since` until
    `until` (UTC; None: open), and of those only the couples whose assessments `keep` accepts."""
    stmt = (
        sa.select(Assessment)
        .where(Assessment.couple_id.in_(couple_ids))
        .order_by(Assessment.couple_id, Assessment.created_at, Assessment.id)
        .options(selectinload(Assessment.invitations))
    )
    if since:
        stmt = stmt.where(Assessment.created_at >= since)
    if until:
        stmt = stmt.where(Assessment.created_at < until)
    by_couple: dict[int, list[Assessment]] = defaultdict(list)
    for assessment in db.session.scalars(stmt, params or {}):
        by_couple[assessment.couple_id].append(assessment)
    wanted = {cid: found for cid, found in by_couple.items() if keep is None or keep(found)}
    if not wanted:
        return []
    ids = sorted(wanted)
    couples = {
        c.id: c
        for c in db.session.scalars(sa.select(Couple).where(Couple.id.in_(ids), Couple.practice_id == practice_id))
    }
    partners: dict[int, list[Partner]] = defaultdict(list)
    for partner in db.session.scalars(sa.select(Partner).where(Partner.couple_id.in_(ids))):
        partners[partner.couple_id].append(partner)
    answers = submitted_answers(
        [i for found in wanted.values() for a in found for i in a.invitations if i.submitted_at is not None]
    )
    estimates = calibration.practice_estimates(practice_id)
    minimum = calibration.min_partners()
    return [
        build_results(
            couples[cid], partners[cid], found, answers, estimates=estimates, min_partners=minimum, compared=False
        )
        for cid, found in sorted(wanted.items())
        if cid in couples  # never another practice's, whatever the ids said
    ]


def submitted_answers(submitted: list[Invitation]) -> dict[int, dict[str, dict[str, int | str]]]:
    """The answers of these submitted links, by invitation id and instrument id: one query for those
    not read before (sent answers never change, so they are kept; see clinic.memo), chunked by CHUNK."""
    kept = memo("answers")
    answers: dict[int, dict[str, dict[str, int | str]]] = {}
    for invitation in submitted:
        found = kept.get((invitation.id, invitation.submitted_at))
        if found is not None:
            answers[invitation.id] = found
    missing = {i.id: i.submitted_at for i in submitted if i.id not in answers}
    ids = sorted(missing)
    for start in range(0, len(ids), CHUNK):
        read: dict[int, dict[str, dict[str, int | str]]] = {i: defaultdict(dict) for i in ids[start : start + CHUNK]}
        for row in db.session.execute(
            sa.select(Answer.invitation_id, Answer.instrument_id, Answer.item_id, Answer.value, Answer.text).where(
                Answer.invitation_id.in_(list(read))
            )
        ):
            read[row.invitation_id][row.instrument_id][row.item_id] = row.value if row.value is not None else row.text
        for invitation_id, by_instrument in read.items():
            answers[invitation_id] = kept.put((invitation_id, missing[invitation_id]), dict(by_instrument))
    return answers


def firmness(instrument: Instrument, item: ItemComparison) -> float:
    """How far both answers sit from the scale's midpoint, as a share of the scale's range:
    "both strongly agree" is a firmer shared strength (or concern) than "both agree". Reverse
    keying mirrors an answer around the midpoint, so raw answers measure it as well."""
    scale = instrument.scale_of(instrument.item(item.item_id))
    return (abs(item.a - scale.midpoint) + abs(item.b - scale.midpoint)) / (scale.high - scale.low)


def _talk(instrument: Instrument, comparison: Comparison) -> ItemsToTalkAbout:
    """The items worth a conversation, the most telling first (file order among equals)."""
    items = comparison.items

    def firmest(category: str) -> list[ItemComparison]:
        return sorted((i for i in items if i.category == category), key=lambda i: -firmness(instrument, i))

    return ItemsToTalkAbout(
        gaps=sorted((i for i in items if i.worth_discussing), key=lambda i: -i.gap)[:TALK_LIMIT],
        shared_concerns=firmest("shared_concern")[:TALK_LIMIT],
        # Only statements whose own wording states the strength (never "We can go days without a warm touch").
        shared_strengths=[i for i in firmest("shared_strength") if instrument.worded_healthy(i.item_id)][:TALK_LIMIT],
        splits=[i for i in items if i.category == "split"],
    )


def build_results(
    couple: Couple,
    partners: list[Partner],
    assessments: list[Assessment],
    answers: dict[int, dict[str, dict[str, int | str]]],
    *,
    estimates: Mapping[tuple[str, int, str], Estimate],
    min_partners: int,
    compared: bool = True,
) -> CoupleResults:
    """Score, compare and trace change from loaded rows (no database access); safety flags
    come without reviews (see with_reviews). Change is judged on each measure's published
    psychometrics, else on the practice's own `estimates` (by instrument id, version and
    measure) once their N reaches `min_partners`. Without `compared`, only scores and change
    over time are worked out (no comparisons, items to talk about, safety flags or life context:
    what the outcomes overview needs of many couples)."""
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
            if compared and 1 in given and 2 in given and instrument.kind == "scored":
                comparison = _compare(instrument, key, given[1], given[2])
                talk = memo("talk").get_or_make(key, lambda i=instrument, c=comparison: _talk(i, c))
            rows.append(InstrumentResults(instrument, assessment, results, comparison, talk, key))
            for pos, result in results.items():
                if result is None or not compared:
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
            if compared and instrument.kind == "checklist":
                # Assessments come oldest first: a later submission replaces a partner's earlier one.
                latest_context.update({pos: (assessment, instrument, a) for pos, a in given.items()})
        out.by_assessment[assessment.id] = rows
    _context(out, latest_context)
    with_reviews(out, {})
    out.trends = _trends(out, estimates, min_partners)
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
        lowest = shown.scale_of(item).label_of(shown.scale_of(item).low)
        rows.append(ContextRow(text=item.text, answers=labels, weighing=weighing, lowest=lowest))
    out.context, out.context_notes = rows, dict(sorted(notes.items()))
    out.context_from = {pos: latest[pos][0] for pos in sorted(latest)}
    out.context_assessment = newest[0]


def _trends(out: CoupleResults, estimates: Mapping[tuple[str, int, str], Estimate], min_partners: int) -> list[Trend]:
    """Every scored measure answered at two or more assessments, with change since the previous and the
    first, judged on the latest version's basis."""
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
            points = [
                TrendPoint(
                    row.assessment.id,
                    row.assessment.occasion,
                    row.assessment.created_at,
                    {pos: measure_score(row.results[pos], measure.id) for pos in (1, 2)},
                )
                for row in rows
            ]
            step = clear_step(latest, measure.id)
            basis = basis_for(
                measure, estimates.get((latest.id, latest.version, measure.id)), min_partners=min_partners
            )
            since_last = _change(measure, basis, step, points[-2], points[-1])
            since_first = _change(measure, basis, step, points[0], points[-1])
            key = (measure.id, tuple(row.key for row in rows))
            trends.append(Trend(latest, measure, points, since_last, since_first, basis, key))
    return trends


def clear_step(instrument: Instrument, measure_id: str) -> float:
    """The raw change of a measure that counts as clear without psychometrics: RAW_CLEAR_SHARE of its range."""
    low, high = instrument.possible(measure_id)
    return RAW_CLEAR_SHARE * (high - low)


def _change(
    measure: Measure,
    basis: Basis,
    step: float,
    earlier: TrendPoint,
    later: TrendPoint,
) -> Change:
    """Each partner's change and the gap's between two assessments of one measure, with verdicts."""
    delta: dict[int, float | None] = {}
    reliable: dict[int, ReliableChange | ChangeUnknown | None] = {}
    verdict: dict[int, str | None] = {}
    for pos in (1, 2):
        before, after = earlier.scores[pos], later.scores[pos]
        delta[pos], verdict[pos] = None, None
        if not (before and after):
            reliable[pos] = None
        elif before.value is None or after.value is None:
            # A missing score is the first reason, with or without psychometrics.
            reliable[pos] = ChangeUnknown(NOT_ENOUGH_ANSWERS)
        else:
            reliable[pos] = score_change(measure, before, after, basis)
            delta[pos] = after.value - before.value
            healthier = delta[pos] > 0 if measure.direction == "health" else delta[pos] < 0
            verdict[pos] = judge_change(reliable[pos], delta[pos], step, BETTER if healthier else WORSE)
    gap: tuple[float | None, float | None] = (None, None)
    gap_reliable: GapChange | ChangeUnknown | None = None
    gap_verdict = None
    # The gap is b - a at each assessment (what compare() gives), once both partners sent both.
    ends = (earlier.scores[1], earlier.scores[2], later.scores[1], later.scores[2])
    if all(ends):
        a0, b0, a1, b1 = (found.value for found in ends)
        if a0 is None or b0 is None or a1 is None or b1 is None:
            gap_reliable = ChangeUnknown(NOT_ENOUGH_ANSWERS)
        else:
            gap = (abs(b0 - a0), abs(b1 - a1))
            gap_reliable = gap_change(b0 - a0, b1 - a1, *psychometrics(measure, basis))
            widened = gap[1] - gap[0]
            gap_verdict = judge_change(gap_reliable, widened, step, FURTHER_APART if widened > 0 else CLOSER)
    return Change(earlier, later, delta, reliable, verdict, gap, gap_reliable, gap_verdict)


def judge_change(reliable, delta: float, step: float, direction: str) -> str:
    """`direction` when the change is clear (reliable, or without psychometrics at least `step`)."""
    if isinstance(reliable, (ReliableChange, GapChange)):
        return direction if reliable.reliable else NO_CLEAR_CHANGE
    # Judged on the change as it is written (half-up, two decimals), so a change shown as 0.40
    # is clear when the step is 0.40, whatever its unrounded tail.
    return direction if abs(shown(delta)) >= shown(step) else NO_CLEAR_CHANGE
