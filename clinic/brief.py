"""The session brief: what a therapist needs in the three minutes before a couple walks in.

`build_brief` is a pure function of a couple's results (clinic.results) and the time:
no database, no request. The couple view shows it first and the clinician report
prints it on page 1. It holds, in order:

- safety first: unreviewed flags (reviewed ones after), or one calm line;
- where things stand: which assessment is shown and when each partner sent it; while
  an assessment is open, who we are waiting for and since when;
- check-ins (only for a couple with scheduled check-ins someone answered): one line per
  partner with their scores across the last CHECKIN_SESSIONS sessions, what the scale means,
  and whether the latest went out before the session about to happen;
- 3 to 5 talking points, chosen by the rules below;
- strengths to build on: statements both partners see positively, only from
  positively worded items (a reverse-worded statement never reads as a strength);
- questions to open with: the instruments' own opening questions for the areas the
  talking points are about.

Talking points come from these rules. Each rule ranks its own candidates:

1. pattern: pursue-withdraw. One partner's "pursue" area (a measure marked
   `cycle: pursue`) sits in a concern band while the other's "withdraw" area does too.
   The facets marked with the same sides (differentiation of self) are named where
   they lean that way (their far band: the lowest of a health area).
2. change: with two or more assessments, the most notable change since the previous
   one: a reliable change first (largest |RCI|), else the largest raw change, a
   partner's or the gap's, of at least a tenth of the range (clinic.results).
   checkin: a partner's latest scheduled check-in clearly worse than their one before, judged
   the same way (reliable change where the check-in has a basis, else at least a tenth of the
   range); not raised again when the change point is about the check-in already.
3. shared concern: a subscale where both partners' scores sit in a concern band,
   deepest first (how far both sit from the scale's middle, towards concern).
4. gap: a subscale where the two scores differ by at least GAP_SHARE of its range,
   largest first.
5. stressor: life-context items either partner answered "weighing on me".
6. one partner's concern: while only one partner has sent the assessment, their
   subscales in a concern band, deepest first.

The rules take turns, in this order, one candidate each round (never more than
CAPS[rule] from one rule), until there are MAX_POINTS points or no candidates are
left. An area the pattern names is not raised again as a gap or a shared concern.
While there are fewer than MIN_POINTS, these fill in, taking turns the same way:

7. split: a statement the partners answered on opposite sides, far enough apart to
   be worth discussing (the scale's discuss_gap), largest gap first, one per area
   no point names yet.
8. going well: a subscale where both partners sit in the healthiest band, highest first.
9. one partner's lowest areas: while only one partner has sent it, their other
   areas that have concern bands, lowest first.

The points are then listed in rule order. Only subscales are talking points (totals
summarise them); fewer than MIN_POINTS remain only when the answers hold no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from clinic.results import (
    BETTER,
    NO_CLEAR_CHANGE,
    WORSE,
    Change,
    ContextRow,
    CoupleResults,
    InstrumentResults,
    SafetyEntry,
    Trend,
    basis_source,
    clear_step,
    figures,
    firmness,
    judge_change,
    measure_score,
    no_usable_reliability,
    still_needed,
)
from clinic.wording import NOT_SENT, higher_by, in_words
from instruments import Instrument, ItemComparison, Measure, ReliableChange, ScoreResult, numbers, reliable_change
from instruments.change import Basis, basis_for, psychometrics
from instruments.numbers import fmt

if TYPE_CHECKING:
    from clinic.services.checkins import TrendRow

MIN_POINTS, MAX_POINTS = 3, 5
RULES = ("pattern", "change", "checkin", "shared_concern", "gap", "stressor", "one_partner")
FILLERS = ("split", "going_well", "one_partner")
# The order points are listed in.
ORDER = ("pattern", "change", "checkin", "shared_concern", "gap", "stressor", "one_partner", "split", "going_well")
CAPS = {"pattern": 1, "change": 1, "checkin": 1, "shared_concern": 3, "gap": 3, "stressor": 1, "one_partner": 3}
# A gap between the partners' scores worth raising: a quarter of the measure's range (1.00 on a 1-5 mean).
GAP_SHARE = 0.25
ITEMS_PER_POINT = 3
STRENGTHS_SHOWN = 4
QUESTIONS_SHOWN = 4
# Scheduled check-ins in the brief's line per partner: the latest sessions, enough to see a trend.
CHECKIN_SESSIONS = 5


@dataclass(frozen=True)
class Said:
    """One statement and what each partner answered, in words (None: no answer to show)."""

    text: str
    area: str
    answers: dict[int, str | None]


@dataclass(frozen=True)
class Point:
    """One thing worth raising in the session."""

    rule: str
    title: str  # what it is about, in a few plain words
    about: str  # one plain sentence on what the area or pattern is
    answers: dict[int, str]  # each partner's answer, in words
    note: str  # one more plain sentence (who is higher, the facets, the reliability basis); may be ""
    items: tuple[Said, ...]  # the statements behind it
    anchor: str  # the id of the detail below
    areas: tuple[tuple[Instrument, Measure], ...] = ()  # the subscales it is about (their opening questions fit)

    @property
    def area_keys(self) -> set[tuple[str, str]]:
        return {(instrument.id, measure.id) for instrument, measure in self.areas}


@dataclass(frozen=True)
class Waiting:
    """A partner who has not sent the open assessment yet."""

    position: int
    invitation_id: int
    since: datetime  # when their link was made
    state: str  # the invitation's state (not_opened, opened, in_progress, expired, revoked)
    can_remind: bool  # an open link and an email address


@dataclass(frozen=True)
class Standing:
    """Which assessment is shown, who sent it when, and what is still open."""

    shown_id: int | None
    shown_occasion: str | None
    sent: dict[int, datetime | None]  # the shown assessment, by position
    open_id: int | None  # the latest assessment, while someone has not sent it
    open_occasion: str | None
    open_since: datetime | None
    waiting: tuple[Waiting, ...]
    links_open: bool  # at least one waiting partner can still answer


@dataclass(frozen=True)
class Safety:
    unreviewed: tuple[SafetyEntry, ...]
    reviewed: tuple[SafetyEntry, ...]
    not_screened: tuple[int, ...]  # positions that sent the shown assessment without answering its safety check
    calm: str | None  # the one line shown when no flag waits for a review


@dataclass(frozen=True)
class CheckinLine:
    """One partner's check-in scores across the sessions shown, oldest first (None: no valid score)."""

    position: int
    values: tuple[float | None, ...]
    worse: str  # "down 0.75: worse" when their latest check-in is clearly worse than the one before, else ""

    @property
    def written(self) -> tuple[str, ...]:
        """Each score as it is shown ("3.25"; "—" where there is none)."""
        return tuple(fmt(value) for value in self.values)


@dataclass(frozen=True)
class Checkins:
    """Both partners' scheduled check-ins across the latest sessions (clinic.services.checkins)."""

    label: str  # the check-in's measure: "How things feel overall"
    scale: str  # "from 1 to 5 (higher is better)"
    sessions: tuple[datetime, ...]  # the sessions shown, oldest first (UTC)
    earlier: int  # sessions before those shown
    upcoming: bool  # the last session shown has not started: its check-in went out before it
    lines: tuple[CheckinLine, ...]  # by position

    def missing(self, index: int) -> str:
        """What a dash at this session means, in words (for a screen reader)."""
        return "not answered yet" if self.upcoming and index == len(self.sessions) - 1 else "no check-in"

    def summary(self, first: str, last: str) -> str:
        """The line above the scores, given the first and last session's dates as the reader sees them
        (the couple view and the report write them in the practice's zone)."""
        count = len(self.sessions)
        if count == 1:
            span = f"the session on {last}"
        else:
            span = f"{'the last ' if self.earlier else ''}{count} sessions, {first} to {last}"
        text = f"{self.label}, {self.scale}: {span}."
        if self.upcoming:
            text += " The latest check-in was sent before this session."
        return text


@dataclass(frozen=True)
class Brief:
    standing: Standing
    safety: Safety
    points: tuple[Point, ...]
    strengths: tuple[Said, ...]
    strength_count: int  # every positively worded statement both see positively
    questions: tuple[str, ...]
    checkins: Checkins | None = None  # None: no scheduled check-in answered


def build_brief(
    results: CoupleResults,
    shown,
    now: datetime,
    checkins: Sequence[TrendRow] = (),
    checkin: Instrument | None = None,
) -> Brief:
    """The brief for the shown assessment (None: nothing sent yet) as of `now`.

    `checkins` are the couple's scheduled check-ins by session (CoupleCheckins.trend) and `checkin`
    the check-in's definition (its latest version), which they need."""
    rows = [r for r in results.by_assessment.get(shown.id, ()) if r.instrument.kind == "scored"] if shown else []
    names = {pos: p.display_name for pos, p in results.partners.items()}
    sent = results.submitted[shown.id] if shown else {1: None, 2: None}
    pattern = _pattern(rows, names)
    in_pattern = {key for point in pattern for key in point.area_keys}
    change = _change(results, shown, names)
    told = {key for point in change for key in point.area_keys}
    if checkins and checkin is None:
        raise ValueError("check-ins need the check-in's definition")
    lines, worse = _checkins(checkins, checkin, results, names, now) if checkins else (None, [])
    points = _take_turns(
        {
            "pattern": pattern,
            "change": change,
            # Not when the change point is about the check-in already: its verdicts say the same.
            "checkin": [p for p in worse if not p.area_keys & told],
            "shared_concern": [p for p in _shared_concerns(rows) if not p.area_keys & in_pattern],
            "gap": [p for p in _gaps(rows, names) if not p.area_keys & in_pattern],
            "stressor": _stressors(results, names),
            "one_partner": _one_partner(rows, sent, names, in_concern=True),
        },
        RULES,
        limit=MAX_POINTS,
        caps=CAPS,
    )
    if len(points) < MIN_POINTS:
        named = {key for point in points for key in point.area_keys}
        points += _take_turns(
            {
                "split": _splits(rows, named),
                "going_well": [p for p in _going_well(rows) if not p.area_keys & named],
                "one_partner": _one_partner(rows, sent, names, in_concern=False),
            },
            FILLERS,
            limit=MIN_POINTS - len(points),
        )
    points.sort(key=lambda point: ORDER.index(point.rule))  # stable: each rule's own ranking stays
    strengths = _strengths(rows)
    return Brief(
        standing=_standing(results, shown, now),
        safety=_safety(results, shown),
        points=tuple(points),
        strengths=tuple(strengths[:STRENGTHS_SHOWN]),
        strength_count=len(strengths),
        questions=_questions(points),
        checkins=lines,
    )


def _take_turns(
    candidates: dict[str, list[Point]], rules: tuple[str, ...], *, limit: int, caps: dict[str, int] | None = None
) -> list[Point]:
    """One candidate from each rule in turn (at most its cap), until `limit` points or none are left."""
    taken: list[Point] = []
    for round_ in range(limit):
        added = False
        for rule in rules:
            pool = candidates.get(rule, [])
            if len(taken) < limit and round_ < len(pool) and round_ < (caps or {}).get(rule, limit):
                taken.append(pool[round_])
                added = True
        if not added:
            break
    return taken


# --- helpers ------------------------------------------------------------------------------------


def _anchor(instrument: Instrument, measure_id: str) -> str:
    return f"m-{instrument.id}-{measure_id}"


def _area_point(
    rule: str,
    row: InstrumentResults,
    measure: Measure,
    *,
    title: str,
    answers: dict[int, str],
    note: str = "",
    items=(),
    about: str | None = None,
) -> Point:
    """A talking point about one subscale: it is about the area, links to its row and asks its question."""
    return Point(
        rule=rule,
        title=title,
        about=measure.description if about is None else about,
        answers=answers,
        note=note,
        items=tuple(_said(row, i) for i in items),
        anchor=_anchor(row.instrument, measure.id),
        areas=((row.instrument, measure),),
    )


def _ranked(found: list[tuple[float, Point]]) -> list[Point]:
    """The points by rank, lowest first (file order among equals: the sort is stable)."""
    return [point for _, point in sorted(found, key=lambda pair: pair[0])]


def _said(row: InstrumentResults, item: ItemComparison) -> Said:
    return Said(item.text, row.instrument.measure(item.subscale).label, {1: item.a_label, 2: item.b_label})


def _depth(instrument: Instrument, measure: Measure, found: ScoreResult | None) -> float:
    """How far a score sits from the middle of its range towards concern, as a share of the range."""
    if found is None or found.value is None:
        return 0.0
    low, high = instrument.possible(measure.id)
    middle = (low + high) / 2
    toward = (middle - found.value) if measure.direction == "health" else (found.value - middle)
    return toward / (high - low)


def _in_concern(found: ScoreResult | None) -> bool:
    return bool(found and found.valid and found.band and found.band.concern)


def _leans(measure: Measure, found: ScoreResult | None) -> bool:
    """In a concern band, or (an area without concern bands) in its far band: the lowest of a
    health area, the highest of a concern area."""
    if not (found and found.valid and found.band):
        return False
    if any(b.concern for b in measure.bands):
        return found.band.concern
    far = measure.bands[0] if measure.direction == "health" else measure.bands[-1]
    return found.band == far


def _items_of(row: InstrumentResults, measure_id: str, keep) -> list[ItemComparison]:
    return [i for i in (row.comparison.items if row.comparison else ()) if i.subscale == measure_id and keep(i)]


# --- the rules ----------------------------------------------------------------------------------


def pursue_withdraw(
    rows: list[InstrumentResults],
) -> tuple[int, tuple[InstrumentResults, Measure], tuple[InstrumentResults, Measure]] | None:
    """The pursue-withdraw pattern, if the answers show it: (the pursuing partner's position, their
    pursue area, the other partner's withdraw area), both in a concern band; the strongest pairing."""
    sides: dict[str, list[tuple[InstrumentResults, Measure]]] = {"pursue": [], "withdraw": []}
    for row in rows:
        for measure in row.instrument.subscales:
            if measure.cycle and measure.direction == "concern" and any(b.concern for b in measure.bands):
                sides[measure.cycle].append((row, measure))
    found = []
    for p_row, pursue in sides["pursue"]:
        for w_row, withdraw in sides["withdraw"]:
            for pursuer in (1, 2):
                reaching = measure_score(p_row.results[pursuer], pursue.id)
                stepping = measure_score(w_row.results[3 - pursuer], withdraw.id)
                if _in_concern(reaching) and _in_concern(stepping):
                    strength = _depth(p_row.instrument, pursue, reaching) + _depth(w_row.instrument, withdraw, stepping)
                    found.append((strength, pursuer, (p_row, pursue), (w_row, withdraw)))
    if not found:
        return None
    _, pursuer, pursue_area, withdraw_area = max(found, key=lambda f: f[0])
    return pursuer, pursue_area, withdraw_area


def shared_concerns(rows: list[InstrumentResults]) -> list[tuple[InstrumentResults, Measure]]:
    """Subscales where both partners' scores sit in a concern band, deepest first."""
    found = []
    for row in rows:
        if row.comparison is None:
            continue
        for measure in row.instrument.subscales:
            scores = [measure_score(row.results[pos], measure.id) for pos in (1, 2)]
            if all(_in_concern(s) for s in scores):
                found.append((-sum(_depth(row.instrument, measure, s) for s in scores), len(found), row, measure))
    return [(row, measure) for *_, row, measure in sorted(found, key=lambda f: f[:2])]


def _pattern(rows: list[InstrumentResults], names: dict[int, str]) -> list[Point]:
    """Pursue-withdraw: one partner's pursue area and the other's withdraw area both in a concern band."""
    found = pursue_withdraw(rows)
    if found is None:
        return []
    pursuer, (p_row, pursue), (w_row, withdraw) = found
    other = 3 - pursuer
    facets = _facets(rows, pursuer, "pursue") + _facets(rows, other, "withdraw")
    items = [_said(p_row, i) for i in _leaning_items(p_row, pursue.id, pursuer)]
    items += [_said(w_row, i) for i in _leaning_items(w_row, withdraw.id, other)]
    return [
        Point(
            rule="pattern",
            title=f"Pursue-withdraw: {names[pursuer]} reaches, {names[other]} steps back",
            about=(
                f"When {names[other]} pulls back, {names[pursuer]} presses for closeness or a response; "
                f"the more one presses, the more the other withdraws."
            ),
            answers={
                pursuer: f"{pursue.label}: {in_words(measure_score(p_row.results[pursuer], pursue.id))}",
                other: f"{withdraw.label}: {in_words(measure_score(w_row.results[other], withdraw.id))}",
            },
            note=("Differentiation: " + "; ".join(f"{names[pos]}, {text}" for pos, text, _ in facets) + ".")
            if facets
            else "",
            items=tuple(items),
            anchor=_anchor(p_row.instrument, pursue.id),
            areas=((p_row.instrument, pursue), (w_row.instrument, withdraw), *(area for _, _, area in facets)),
        )
    ]


def _facets(rows: list[InstrumentResults], pos: int, side: str) -> list[tuple[int, str, tuple[Instrument, Measure]]]:
    """The health areas marked with this side of the cycle where this partner leans that way."""
    out = []
    for row in rows:
        for measure in row.instrument.subscales:
            if measure.cycle != side or measure.direction != "health":
                continue
            found = measure_score(row.results[pos], measure.id)
            if _leans(measure, found):
                out.append((pos, f"{measure.label}: {in_words(found)}", (row.instrument, measure)))
    return out


def _leaning_items(row: InstrumentResults, measure_id: str, pos: int, n: int = 2) -> list[ItemComparison]:
    """The statements where one partner's answer sits furthest towards concern in an area."""
    instrument = row.instrument
    measure = instrument.measure(measure_id)
    result = row.results[pos]
    if result is None:
        return []
    scored = []
    for item in _items_of(row, measure_id, lambda i: True):
        keyed = result.keyed[item.item_id]
        middle = instrument.scale_of(instrument.item(item.item_id)).midpoint
        lean = (middle - keyed) if measure.direction == "health" else (keyed - middle)
        if lean > 0:
            scored.append((-lean, item))
    scored.sort(key=lambda pair: pair[0])
    return [item for _, item in scored[:n]]


def _shared_concerns(rows: list[InstrumentResults]) -> list[Point]:
    """One point per subscale both partners' scores put in a concern band, deepest first."""
    points = []
    for row, measure in shared_concerns(rows):
        scores = {pos: measure_score(row.results[pos], measure.id) for pos in (1, 2)}
        items = _items_of(row, measure.id, lambda i: i.category == "shared_concern")
        points.append(
            _area_point(
                "shared_concern",
                row,
                measure,
                title=f"A shared concern: {measure.label}",
                answers={pos: in_words(s) for pos, s in scores.items()},
                note="Both partners' scores sit in a concern band.",
                items=_by_firmness(row, items)[:ITEMS_PER_POINT],
            )
        )
    return points


def _gaps(rows: list[InstrumentResults], names: dict[int, str]) -> list[Point]:
    """Subscales whose two scores differ by at least GAP_SHARE of the range, largest first."""
    found = []
    for row in rows:
        if row.comparison is None:
            continue
        for measure in row.instrument.subscales:
            cmp = row.comparison.subscales[measure.id]
            if cmp.difference is None:
                continue
            low, high = row.instrument.possible(measure.id)
            share = abs(cmp.difference) / (high - low)
            if share < GAP_SHARE - 1e-9:
                continue
            if _in_concern(cmp.a) and _in_concern(cmp.b):
                continue  # a shared concern, told there
            items = sorted(_items_of(row, measure.id, lambda i: i.worth_discussing), key=lambda i: -i.gap)[
                :ITEMS_PER_POINT
            ]
            point = _area_point(
                "gap",
                row,
                measure,
                title=f"Seen differently: {measure.label}",
                answers={1: in_words(cmp.a), 2: in_words(cmp.b)},
                note=f"{higher_by(cmp.difference, names)}.",
                items=items,
            )
            found.append((-share, point))
    return _ranked(found)


def _stressors(results: CoupleResults, names: dict[int, str]) -> list[Point]:
    """Life-context items either partner answered with the top of the scale ("weighing on me")."""
    weighing = [row for row in results.context if any(row.weighing.values())]
    if not weighing:
        return []

    def told(pos: int) -> str:
        if pos not in results.context_from:
            return NOT_SENT
        mine = [row.text for row in weighing if row.weighing[pos]]
        return "weighing on them: " + "; ".join(mine) if mine else "nothing marked as weighing on them"

    heavy = {pos: sum(row.weighing[pos] for row in weighing) for pos in (1, 2)}
    both = sum(1 for row in weighing if all(row.weighing.values()))
    if both:
        note = f"{both} of these weigh{'s' if both == 1 else ''} on both of them."
    else:
        one = 1 if heavy[1] else 2
        note = f"Only {names[one]} marked something as weighing on them."
    return [
        Point(
            rule="stressor",
            title="Outside stress",
            about="Load from outside the relationship (work, money, health, family) can make closeness harder.",
            answers={pos: told(pos) for pos in (1, 2)},
            note=note,
            items=tuple(_context_said(row) for row in weighing[: ITEMS_PER_POINT + 1]),
            anchor="context",
        )
    ]


def _context_said(row: ContextRow) -> Said:
    return Said(row.text, "Life right now", dict(row.answers))


def _one_partner(
    rows: list[InstrumentResults], sent: dict[int, datetime | None], names: dict[int, str], *, in_concern: bool
) -> list[Point]:
    """While only one partner has sent the assessment: their subscales in a concern band
    (`in_concern`), or their other subscales that have concern bands, lowest first."""
    senders = [pos for pos in (1, 2) if sent.get(pos)]
    if len(senders) != 1:
        return []
    (pos,) = senders
    found = []
    for row in rows:
        for measure in row.instrument.subscales:
            score = measure_score(row.results[pos], measure.id)
            if not (score and score.valid) or not any(b.concern for b in measure.bands):
                continue
            if _in_concern(score) != in_concern:
                continue
            point = _area_point(
                "one_partner",
                row,
                measure,
                title=f"{names[pos]}: {measure.label}",
                answers={pos: in_words(score), 3 - pos: NOT_SENT},
                note=f"Only {names[pos]} has sent this assessment: the comparison waits for {names[3 - pos]}.",
            )
            found.append((-_depth(row.instrument, measure, score), point))
    return _ranked(found)


def _splits(rows: list[InstrumentResults], named: set[tuple[str, str]]) -> list[Point]:
    """Statements answered on opposite sides and worth discussing, largest gap first, one per area not named."""
    found = []
    for row in rows:
        if row.comparison is None:
            continue
        for order, item in enumerate(row.comparison.items):
            if item.category == "split" and item.worth_discussing and (row.instrument.id, item.subscale) not in named:
                found.append((-item.gap, order, row, item))
    found.sort(key=lambda f: (f[0], f[1]))
    out, areas = [], set()
    for _, _, row, item in found:
        if (row.instrument.id, item.subscale) in areas:
            continue
        areas.add((row.instrument.id, item.subscale))
        measure = row.instrument.measure(item.subscale)
        out.append(
            _area_point(
                "split",
                row,
                measure,
                title=f"On opposite sides: {measure.label}",
                about=f"One of them agrees with this statement and the other does not: “{item.text}”",
                answers={1: item.a_label, 2: item.b_label},
            )
        )
    return out


def _going_well(rows: list[InstrumentResults]) -> list[Point]:
    """Subscales where both partners sit in the healthiest band, highest first."""
    found = []
    for row in rows:
        if row.comparison is None:
            continue
        for measure in row.instrument.subscales:
            if not any(b.concern for b in measure.bands):
                continue  # "healthiest" needs a scale with a concern end (differentiation is described, not graded)
            best = measure.bands[-1] if measure.direction == "health" else measure.bands[0]
            scores = {pos: measure_score(row.results[pos], measure.id) for pos in (1, 2)}
            if not all(s and s.valid and s.band == best for s in scores.values()):
                continue
            point = _area_point(
                "going_well",
                row,
                measure,
                title=f"Going well: {measure.label}",
                answers={pos: in_words(s) for pos, s in scores.items()},
                note="Both partners' scores sit in the healthiest band: what helps here may help elsewhere.",
            )
            # Highest first: the furthest both sit from concern.
            found.append((sum(_depth(row.instrument, measure, s) for s in scores.values()), point))
    return _ranked(found)


def _change(results: CoupleResults, shown, names: dict[int, str]) -> list[Point]:
    """The most notable change since the previous assessment (reliable first, then raw)."""
    if shown is None or not results.trends:
        return []
    ranked = []
    for trend in results.trends:
        if trend.measure not in trend.instrument.subscales:
            continue
        change = trend.since_last
        if change.later.assessment_id != shown.id:
            continue  # the page shows an earlier assessment: its "since last time" is not this one
        clear = [v for v in (*change.verdict.values(), change.gap_verdict) if v not in (None, NO_CLEAR_CHANGE)]
        if not clear:
            continue
        ranked.append((_notability(trend, change), trend))
    if not ranked:
        return []
    _, trend = max(ranked, key=lambda pair: pair[0])
    return [_change_point(trend, names)]


def _notability(trend: Trend, change: Change) -> tuple[int, float]:
    """Reliable changes first (largest |RCI|), then raw changes by their share of the range."""
    rcis = [abs(r.rci) for r in change.reliable.values() if isinstance(r, ReliableChange) and r.reliable]
    if rcis:
        return (1, max(rcis))
    low, high = trend.instrument.possible(trend.measure.id)
    steps = [abs(d) for d in change.delta.values() if d is not None]
    if None not in change.gap:
        steps.append(abs(change.gap[1] - change.gap[0]))
    return (0, max(steps, default=0.0) / (high - low))


def _change_point(trend: Trend, names: dict[int, str]) -> Point:
    change = trend.since_last
    answers = {}
    for pos in (1, 2):
        before, after = change.scores(pos)
        if before is None or after is None:
            answers[pos] = NOT_SENT if after is None else "no earlier answers"
            continue
        verdict = change.verdict[pos]
        answers[pos] = f"{in_words(before)} → {in_words(after)}" + (f": {verdict}" if verdict else "")
    gap = ""
    if None not in change.gap:
        gap = f"The gap between them went from {fmt(change.gap[0])} to {fmt(change.gap[1])}"
        gap += f" ({change.gap_verdict}). " if change.gap_verdict else ". "
    return Point(
        rule="change",
        title=f"Since {change.earlier.occasion}: {trend.label}",
        about=trend.measure.description,
        answers=answers,
        note=gap + _judged_on(trend.basis, trend.clear_step),
        items=(),
        anchor=f"trend-{trend.instrument.id}",
        areas=((trend.instrument, trend.measure),),
    )


def _judged_on(basis: Basis | None, step: float) -> str:
    """What a change's verdicts are judged on, in one sentence (None: no basis known, so raw)."""
    raw_step = f"(“better” and “worse” mean a change of at least {fmt(step)})"
    if basis is None:
        return f"A raw change {raw_step}."
    if basis.judged:
        return f"Judged with reliable change (Jacobson & Truax, 95%), from {basis_source(basis)}."
    if basis.source == "unusable":
        return (
            f"A raw change: {no_usable_reliability(basis)} ({figures(basis)}), so it cannot be judged "
            f"reliable {raw_step}."
        )
    return f"A raw change: reliable change {still_needed(basis)} {raw_step}."


# --- check-ins on a schedule --------------------------------------------------------------------


@dataclass(frozen=True)
class _Latest:
    """A partner's latest check-in among those shown, the one before it, and the verdict."""

    before: float | None  # None: no earlier check-in shown
    after: float
    verdict: str | None
    fresh: bool  # sent before the session about to happen


def _checkins(
    rows: Sequence[TrendRow], instrument: Instrument, results: CoupleResults, names: dict[int, str], now: datetime
) -> tuple[Checkins | None, list[Point]]:
    """One line per partner across the latest CHECKIN_SESSIONS sessions, and a talking point when a
    partner's latest check-in there is clearly worse than their one before (nothing when nobody
    answered a check-in)."""
    rows = sorted(rows, key=lambda row: row.session_at)
    if not any(value is not None for row in rows for value in row.totals.values()):
        return None, []
    shown_rows = rows[-CHECKIN_SESSIONS:]
    upcoming = shown_rows[-1].session_at > now  # only the next session's check-in goes out before it starts
    # The measure a check-in is scored on (its total if it has one, else its subscale: checkins._total).
    measure = (instrument.totals or instrument.subscales)[0]
    low, high = instrument.possible(measure.id)
    better = "higher" if measure.direction == "health" else "lower"
    # Judged as the couple's trends judge it: on the check-in trend's basis (clinic.results), if any.
    trend = next((t for t in results.trends if t.instrument.id == instrument.id and t.measure.id == measure.id), None)
    basis = trend.basis if trend else (basis_for(measure) if measure.psychometrics else None)
    step = clear_step(instrument, measure.id)
    lines, latest = [], {}
    for pos in (1, 2):
        values = tuple(row.totals.get(pos) for row in shown_rows)
        found = [(index, value) for index, value in enumerate(values) if value is not None]
        worse = ""
        if found:
            index, after = found[-1]
            before = found[-2][1] if len(found) > 1 else None
            verdict = _checkin_verdict(measure, basis, step, before, after) if before is not None else None
            latest[pos] = _Latest(before, after, verdict, upcoming and index == len(values) - 1)
            if verdict == WORSE:
                worse = f"{'down' if after < before else 'up'} {fmt(abs(after - before))}: {WORSE}"
        lines.append(CheckinLine(pos, values, worse))
    out = Checkins(
        label=measure.label,
        scale=f"from {low:g} to {high:g} ({better} is better)",
        sessions=tuple(row.session_at for row in shown_rows),
        earlier=len(rows) - len(shown_rows),
        upcoming=upcoming,
        lines=tuple(lines),
    )
    worse_for = [line.position for line in lines if line.worse]
    if not worse_for:
        return out, []
    answers = {}
    for pos in (1, 2):
        found = latest.get(pos)
        if found is None:
            answers[pos] = "no check-in answered"
            continue
        after = _checkin_words(measure, found.after) + (", before this session" if found.fresh else "")
        if found.before is None:
            answers[pos] = f"{after}; no earlier check-in"
        else:
            answers[pos] = f"{_checkin_words(measure, found.before)} → {after}: {found.verdict}"
    point = Point(
        rule="checkin",
        title=f"Check-in {'down' if measure.direction == 'health' else 'up'}: "
        + " and ".join(names[pos] for pos in worse_for),
        about=measure.description,
        answers=answers,
        note="Each partner's latest check-in against the one before it. " + _judged_on(basis, step),
        items=(),
        anchor="checkins",
        areas=((instrument, measure),),
    )
    return out, [point]


def _checkin_verdict(measure: Measure, basis: Basis | None, step: float, before: float, after: float) -> str:
    """Better, worse or no clear change, as clinic.results judges a change (judge_change)."""
    change = after - before
    word = BETTER if (change > 0) == (measure.direction == "health") else WORSE
    found = reliable_change(before, after, *psychometrics(measure, basis), subscale_direction=measure.direction)
    return judge_change(found, change, step, word)


def _checkin_words(measure: Measure, value: float) -> str:
    """A check-in score as in_words writes a score: "Mixed (3.25)" (the band looked up on the shown value)."""
    band = measure.band_for(numbers.shown(value))
    return f"{band.label} ({fmt(value)})" if band else fmt(value)


# --- where things stand, safety, strengths, questions ------------------------------------------


def _standing(results: CoupleResults, shown, now: datetime) -> Standing:
    latest = results.assessments[-1] if results.assessments else None
    waiting: list[Waiting] = []
    open_assessment = None
    if latest is not None:
        missing = [i for i in latest.invitations if i.submitted_at is None]
        if missing:
            open_assessment = latest
            position_of = {p.id: pos for pos, p in results.partners.items()}
            for invitation in sorted(missing, key=lambda i: position_of[i.partner_id]):
                pos = position_of[invitation.partner_id]
                state = invitation.state(now)
                waiting.append(
                    Waiting(
                        position=pos,
                        invitation_id=invitation.id,
                        since=invitation.created_at,
                        state=state,
                        can_remind=state in ("not_opened", "opened", "in_progress")
                        and bool(results.partners[pos].email),
                    )
                )
    return Standing(
        shown_id=shown.id if shown else None,
        shown_occasion=shown.occasion if shown else None,
        sent=dict(results.submitted[shown.id]) if shown else {1: None, 2: None},
        open_id=open_assessment.id if open_assessment else None,
        open_occasion=open_assessment.occasion if open_assessment else None,
        open_since=open_assessment.created_at if open_assessment else None,
        waiting=tuple(waiting),
        links_open=any(w.state in ("not_opened", "opened", "in_progress") for w in waiting),
    )


def _safety(results: CoupleResults, shown) -> Safety:
    """Unreviewed flags first; else one calm line that says exactly what is known."""
    rows = [r for r in results.by_assessment.get(shown.id, ()) if r.instrument.kind == "screen"] if shown else []
    sent = results.submitted[shown.id] if shown else {}
    # A partner who sent the assessment but skipped every safety question was not screened.
    not_screened = [
        pos for row in rows for pos in (1, 2) if sent.get(pos) and not (row.results[pos] and row.results[pos].keyed)
    ]
    unreviewed = tuple(e for e in results.safety if e.review is None)
    reviewed = tuple(e for e in results.safety if e.review is not None)
    calm = None
    if not unreviewed:
        if shown is not None and not rows:
            calm = "This assessment has no safety check."
        elif shown is not None and not any(e.assessment.id == shown.id for e in results.safety):
            calm = "No safety flags in this assessment."
        elif reviewed:
            calm = "Every safety flag has been reviewed."
        else:
            calm = "No safety flags."
    return Safety(unreviewed=unreviewed, reviewed=reviewed, not_screened=tuple(not_screened), calm=calm)


def _by_firmness(row: InstrumentResults, items: list[ItemComparison]) -> list[ItemComparison]:
    """Items whose two answers sit furthest from the scale's middle first (file order among equals)."""
    return sorted(items, key=lambda i: -firmness(row.instrument, i))


def _strengths(rows: list[InstrumentResults]) -> list[Said]:
    """Positively worded statements both partners see positively, firmest first (across questionnaires,
    on each one's own scale), then in questionnaire and file order."""
    found = []
    for order, row in enumerate(rows):
        for rank, item in enumerate(row.comparison.items if row.comparison else ()):
            if item.category == "shared_strength" and row.instrument.worded_healthy(item.item_id):
                found.append((-firmness(row.instrument, item), order, rank, _said(row, item)))
    found.sort(key=lambda f: f[:3])
    return [said for *_, said in found]


def _questions(points: list[Point]) -> tuple[str, ...]:
    out: list[str] = []
    for point in points:
        for _, measure in point.areas:
            if measure.question and measure.question not in out:
                out.append(measure.question)
    return tuple(out[:QUESTIONS_SHOWN])
