"""The questionnaire library: every instrument, in full, for therapists to read before sending it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from flask import abort, render_template
from flask_login import login_required

from clinic import catalog
from clinic.blueprints.library import bp
from instruments import THEME_LABELS, Band, Instrument, Item, Measure, Scale, Total, gap_change, reliable_change
from instruments.change import CRITICAL

KIND_LABELS = {
    "scored": "Scored questionnaire",
    "checklist": "Checklist, read answer by answer",
    "screen": "Screen, read answer by answer",
}
LEVEL_LABELS = {"urgent": "Urgent", "review": "For review"}
NO_PSYCHOMETRICS = "No psychometrics: reliable change cannot be judged."
# The engine accepts a score when answered >= share x items, less this much float noise.
_EPSILON = 1e-9


@dataclass(frozen=True)
class ItemRow:
    """One question as the library lists it."""

    number: int
    item: Item
    subscale: str
    answers: str
    safety_level: str
    safety_values: str


@dataclass(frozen=True)
class BandRow:
    """One interpretation band with its cut-points in words."""

    scores: str
    band: Band


@dataclass(frozen=True)
class MeasureView:
    """A subscale or total with its scoring rules in words."""

    measure: Measure
    is_total: bool
    method: str
    needs: str
    possible: str
    direction: str
    bands: list[BandRow]
    has_concern_band: bool
    reliable_change: str
    norms: str
    prompts: list[tuple[str, list[str]]]


@bp.route("/")
@login_required
def index():
    """Every instrument version the app offers, with what it is and how long it takes."""
    instruments = list(catalog.registry())
    return render_template("library/index.html", instruments=instruments, kind_labels=KIND_LABELS)


@bp.route("/<instrument_id>/v<int:version>")
@login_required
def detail(instrument_id: str, version: int):
    """One instrument version in full: items, scales, scoring, bands, prompts and licence."""
    try:
        inst = catalog.instrument(instrument_id, version)
    except KeyError:
        abort(404)
    return render_template(
        "library/detail.html",
        inst=inst,
        kind_label=KIND_LABELS[inst.kind],
        scales=[(scale_name(scale), scale) for scale in inst.scales.values()],
        items=item_rows(inst),
        columns=item_columns(inst),
        reverse_example=reverse_example(inst),
        measures=[measure_view(inst, m) for m in inst.measures()],
    )


def scale_name(scale: Scale) -> str:
    """Name a scale by its ends, e.g. "Strongly disagree (1) to Strongly agree (5)"."""
    return f"{scale.values[0].label} ({scale.low}) to {scale.values[-1].label} ({scale.high})"


def item_columns(inst: Instrument) -> dict[str, bool]:
    """Which optional columns the items table needs (an empty column is noise)."""
    choice_scales = {item.scale for item in inst.items if item.type == "choice"}
    return {
        "subscale": any(item.subscale for item in inst.items),
        "answers": len(choice_scales) > 1 or any(item.type == "text" for item in inst.items),
        "keying": any(item.reverse for item in inst.items),
        "safety": any(item.safety for item in inst.items),
    }


def item_rows(inst: Instrument) -> list[ItemRow]:
    """Every item in file order, with its subscale, answer type and safety rule in words."""
    labels = {s.id: s.label for s in inst.subscales}
    rows = []
    for number, item in enumerate(inst.items, start=1):
        if item.type == "text":
            answers = f"Free text, optional, up to {item.text_limit} characters"
        else:
            answers = scale_name(inst.scale_of(item))
        level = flagged = ""
        if item.safety is not None:
            scale = inst.scale_of(item)
            level = LEVEL_LABELS[item.safety.level]
            flagged = ", ".join(f"{scale.label_of(v)} ({v})" for v in item.safety.values)
        rows.append(ItemRow(number, item, labels.get(item.subscale or "", ""), answers, level, flagged))
    return rows


def reverse_example(inst: Instrument) -> str:
    """A worked example of reverse keying on the instrument's own scale, or "" if nothing is reversed."""
    item = next((i for i in inst.items if i.reverse), None)
    if item is None:
        return ""
    scale = inst.scale_of(item)
    return f"on the {scale.low} to {scale.high} scale, an answer of {scale.low} counts as {scale.high}"


def measure_view(inst: Instrument, measure: Measure) -> MeasureView:
    """A subscale or total with its scoring, bands, change rules and prompts in plain words."""
    items = inst.items_of(measure.id)
    n = len(items)
    scale = inst.scale_of(items[0])
    is_total = isinstance(measure, Total)
    noun = "questions" if n != 1 else "question"
    if is_total:
        names = {s.id: s.label for s in inst.subscales}
        pooled = ", ".join(names[s] for s in measure.subscales)
        source = f"all {n} {noun} of {pooled}, pooled (not an average of the subscale scores)"
    else:
        source = f"its {n} {noun}"
    keyed = ", after reverse keying" if any(item.reverse for item in items) else ""
    if measure.method == "mean":
        method = f"Mean of {source}{keyed}."
        low, high = scale.low, scale.high
    else:
        method = (
            f"Sum of {source}{keyed}. When some are skipped, the mean of the answered ones "
            f"times {n}, so a skipped question does not count as a low answer."
        )
        low, high = scale.low * n, scale.high * n
    needed = max(1, math.ceil(measure.min_answered * n - _EPSILON))
    needs = (
        f"At least {_number(measure.min_answered * 100)}% of its {noun} ({needed} of {n}); "
        "otherwise the score shows as “not enough answers”."
    )
    # "Strength" rather than "healthier": some measures (differentiation) describe and do not grade.
    if measure.direction == "health":
        direction = "Higher scores point to more of this strength."
    else:
        direction = "Higher scores point to more of this concern."
    return MeasureView(
        measure=measure,
        is_total=is_total,
        method=method,
        needs=needs,
        possible=f"{_number(low)} to {_number(high)}",
        direction=direction,
        bands=band_rows(measure.bands),
        has_concern_band=any(b.concern for b in measure.bands),
        reliable_change=reliable_change_text(measure),
        norms=norms_text(measure),
        prompts=prompt_groups(measure),
    )


def band_rows(bands: list[Band]) -> list[BandRow]:
    """Each band with the scores it covers in words ("below 2.5", "2.5 to under 3.5", "3.5 and above")."""
    rows = []
    previous: float | None = None
    for band in bands:
        if band.below is None:
            scores = "All scores" if previous is None else f"{_number(previous)} and above"
        elif previous is None:
            scores = f"Below {_number(band.below)}"
        else:
            scores = f"{_number(previous)} to under {_number(band.below)}"
        rows.append(BandRow(scores, band))
        previous = band.below
    return rows


def reliable_change_text(measure: Measure) -> str:
    """The SD and reliability and the smallest reliable change, or a plain "cannot be judged"."""
    if measure.psychometrics is None:
        return NO_PSYCHOMETRICS
    sd, r = measure.psychometrics.sd, measure.psychometrics.reliability
    # The engine's own standard errors, so the thresholds shown are the ones it applies.
    score_step = _smallest_reliable(reliable_change(0.0, 1.0, sd, r, subscale_direction=measure.direction).s_diff)
    gap_step = _smallest_reliable(gap_change(1.0, 0.0, sd, r).s_diff)
    return (
        f"SD {_number(sd)}, reliability {_number(r)}. A partner's score has changed reliably when it moves "
        f"by {score_step:.2f} points or more (RCI above {CRITICAL}); the gap between the partners, when its "
        f"size changes by {gap_step:.2f} points or more."
    )


def norms_text(measure: Measure) -> str:
    """Population norms in words, or a plain statement that there are none."""
    if measure.norms is None:
        return "No norms: scores are not compared with a population."
    return (
        f"Mean {_number(measure.norms.mean)}, SD {_number(measure.norms.sd)}: "
        "scores also show as z-scores and percentiles."
    )


def prompt_groups(measure: Measure) -> list[tuple[str, list[str]]]:
    """The measure's discussion prompts grouped by theme, in the order of PRODUCT.md's "what helps"."""
    groups = []
    for theme, label in THEME_LABELS.items():
        texts = [p.text for p in measure.prompts if p.theme == theme]
        if texts:
            groups.append((label, texts))
    return groups


def _smallest_reliable(s_diff: float) -> float:
    # Scores have two decimals, so a change is a whole number of hundredths; the
    # smallest reliable one is the first hundredth strictly above 1.96 x S_diff.
    return (math.floor(CRITICAL * s_diff * 100) + 1) / 100


def _number(value: float) -> str:
    # Definitions hold short decimals (2.5, 0.75); "g" drops the trailing ".0" of whole numbers.
    return f"{value:g}"
