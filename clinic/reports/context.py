"""What a session-prep report shows, as plain data: built from CoupleResults, hashed for the cache, rendered by pdf.py.

A context holds only str, int, float, bool, None, lists and dicts, so it can be
hashed and handed to a queue as it is. Numbers are formatted here the way the
couple view formats them, so paper and screen agree. The shareable summary is
built from scratch out of what both partners may see; it never starts from the
clinician's context, so no template change can reveal what was left out.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from clinic.models import Assessment, Clinician, Couple, Partner, Practice
from clinic.results import TALK_LIMIT, CoupleResults, InstrumentResults, Trend, comparison_svg, measure_score
from clinic.services.couples import PREP_NOTES_LIMIT
from clinic.templating import localtime_in
from instruments import THEME_LABELS, ChangeUnknown, ItemComparison, Result, theme_label
from instruments.scoring import key as keyed_value

# What a PDF looks like besides its data: the report templates, their stylesheet, the
# bundled fonts and the WeasyPrint release. Python that shapes the data (charts, scores)
# shows in the context itself, so it is in the key already.
CLINIC_ROOT = Path(__file__).resolve().parent.parent
REPORT_FILES = (
    CLINIC_ROOT / "templates" / "reports",
    CLINIC_ROOT / "static" / "reports",
    CLINIC_ROOT / "static" / "fonts",
)


def template_version(roots: Iterable[Path] = REPORT_FILES) -> str:
    """A hash of every file under the report template, stylesheet and font folders (names
    and contents) and of the WeasyPrint version, read without importing WeasyPrint."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        digest.update(f"weasyprint {importlib.metadata.version('weasyprint')}".encode())
    return digest.hexdigest()[:16]


# Part of every cache key, worked out once per process: editing a report template,
# report.css or a font gives new keys, so a kept PDF is never served for data it
# would now show differently. Nobody bumps it by hand.
TEMPLATE_VERSION = template_version()

# Fields that change with every render but not with the data; left out of the cache key.
GENERATION_FIELDS = frozenset({"generated_at"})

Kind = Literal["clinician", "summary"]
PAGE_SIZES = ("A4", "Letter")
POSITIONS = (1, 2)
DATE = "%-d %b %Y"
DATE_TIME = "%-d %b %Y, %H:%M %Z"
# Forms and services keep text within these limits; the columns do not everywhere
# (SQLite ignores VARCHAR lengths), so the report clips too and a stray
# oversized value costs a line, not a thousand pages.
LIMITS = {
    "label": Couple.__table__.c.label.type.length,
    "name": Partner.__table__.c.display_name.type.length,
    "occasion": Assessment.__table__.c.occasion.type.length,
    "practice": Practice.__table__.c.name.type.length,
    "clinician": Clinician.__table__.c.name.type.length,
    "credential": Clinician.__table__.c.credential.type.length,
    "text": PREP_NOTES_LIMIT,
}
NOT_SUBMITTED = "not submitted"
NOT_ENOUGH = "not enough answers"


def build_context(
    results: CoupleResults,
    *,
    practice: Practice,
    clinician: Clinician,
    kind: Kind,
    appendix: bool,
    generated_at: datetime,
) -> dict:
    """Everything one report shows, as JSON-ready data (the summary holds only what both partners may see)."""
    if kind not in ("clinician", "summary"):
        raise ValueError(f"unknown report kind {kind!r}")
    zone = practice.timezone
    common = {
        "kind": "clinician" if kind == "clinician" else "summary",
        "page_size": page_size(practice),
        "generated_at": localtime_in(generated_at, zone, DATE_TIME),
        "practice": _clip(practice.name, "practice"),
        "clinician": {
            "name": _clip(clinician.name, "clinician"),
            "credential": _clip(clinician.credential or "", "credential") or None,
        },
    }
    if kind == "clinician":
        return common | _clinician(results, zone, appendix)
    return common | _summary(results)


def cache_key(ctx: dict) -> str:
    """A sha256 of what the report shows and the template version (generation time left out)."""
    shown = {k: v for k, v in ctx.items() if k not in GENERATION_FIELDS}
    canonical = json.dumps(
        {"template_version": TEMPLATE_VERSION, "context": shown},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- the clinician report -----------------------------------------------------------------------


def _clinician(results: CoupleResults, zone: str, appendix: bool) -> dict:
    label = _clip(results.couple.label, "label")
    shown = _shown(results)
    rows = [r for r in results.by_assessment[shown.id] if r.instrument.kind == "scored"] if shown else []
    return {
        "title": f"Session-prep report: {label}",
        "couple": label,
        "partners": [_partner(results, pos) for pos in POSITIONS],
        "assessments": [_assessment(results, a, shown, zone) for a in results.assessments],
        "shown": {"occasion": _clip(shown.occasion, "occasion"), "date": _date(shown.created_at, zone)}
        if shown
        else None,
        "waiting_for": [_partner(results, pos) for pos in _missing(results, shown)] if shown else [],
        "safety": _safety(results, zone),
        "glance": [_glance_row(row, m) for row in rows for m in (row.instrument.totals or row.instrument.subscales)],
        "instruments": [_instrument(results, row) for row in rows],
        "life_context": _life_context(results, zone),
        "trends": [_trend(t) for t in results.trends if _scored_at_all(t)],
        "focus": _focus(rows, shared_only=False),
        "prep_notes": _clip(results.couple.prep_notes or "", "text"),
        "appendix": _appendix(results, shown) if appendix and shown else None,
    }


def _shown(results: CoupleResults) -> Assessment | None:
    """The assessment the report is about: the latest one anybody submitted (as on the couple view)."""
    for assessment in reversed(results.assessments):
        if any(results.submitted[assessment.id].values()):
            return assessment
    return None


def _missing(results: CoupleResults, assessment: Assessment) -> list[int]:
    return [pos for pos in POSITIONS if not results.submitted[assessment.id].get(pos)]


def _partner(results: CoupleResults, pos: int) -> dict:
    return {
        "letter": _letter(pos),
        "key": _letter(pos).lower(),
        "name": _clip(results.partners[pos].display_name, "name"),
    }


def _assessment(results: CoupleResults, assessment: Assessment, shown: Assessment | None, zone: str) -> dict:
    submitted = results.submitted[assessment.id]
    return {
        "occasion": _clip(assessment.occasion, "occasion"),
        "date": _date(assessment.created_at, zone),
        "covered": shown is not None and assessment.id == shown.id,
        "questionnaires": [row.instrument.title for row in results.by_assessment[assessment.id]],
        "partners": [
            _partner(results, pos) | {"submitted": _date(submitted[pos], zone) if submitted.get(pos) else None}
            for pos in POSITIONS
        ],
    }


def _safety(results: CoupleResults, zone: str) -> dict:
    """Every raised flag, grouped by partner, with its review; and who completed the safety check at all."""
    screened = dict.fromkeys(POSITIONS, False)
    for rows in results.by_assessment.values():
        for row in rows:
            if row.instrument.kind == "screen":
                for pos in POSITIONS:
                    screened[pos] = screened[pos] or row.results[pos] is not None
    partners = []
    for pos in POSITIONS:
        flags = []
        for entry in results.safety:
            if entry.partner.position != pos:
                continue
            review = entry.review
            flags.append(
                {
                    "occasion": _clip(entry.assessment.occasion, "occasion"),
                    "level": "Urgent" if entry.flag.level == "urgent" else "Review",
                    "item": entry.flag.text,
                    "answer": entry.flag.answer_label,
                    "reviewed": review is not None,
                    "reviewed_by": (
                        _clip(review.reviewed_by.name, "clinician") if review.reviewed_by else "a former clinician"
                    )
                    if review
                    else None,
                    "reviewed_at": localtime_in(review.reviewed_at, zone, DATE_TIME) if review else None,
                    "note": _clip(review.note or "", "text") if review else None,
                }
            )
        partners.append(_partner(results, pos) | {"screened": screened[pos], "flags": flags})
    return {"count": len(results.safety), "unreviewed": results.unreviewed_safety, "partners": partners}


def _cell(result: Result | None, measure_id: str) -> dict:
    """One partner's score on one measure, as the couple view writes it."""
    found = measure_score(result, measure_id)
    if found is None:
        return {"value": None, "band": None, "concern": False, "note": NOT_SUBMITTED}
    if not found.valid or found.value is None:
        return {"value": None, "band": None, "concern": False, "note": NOT_ENOUGH}
    return {
        "value": _num(found.value),
        "band": found.band.label if found.band else None,
        "concern": bool(found.band and found.band.concern),
        "note": None,
    }


def _difference(row: InstrumentResults, measure_id: str) -> tuple[str | None, str | None]:
    if row.comparison is None:
        return None, None
    cmp = row.comparison.subscales.get(measure_id) or row.comparison.totals.get(measure_id)
    if cmp is None:
        return None, None
    difference = _num(cmp.difference) if cmp.difference is not None else None
    agreement = f"{cmp.agreement:.0f}% shared strengths" if cmp.agreement is not None else None
    return difference, agreement


def _glance_row(row: InstrumentResults, measure) -> dict:
    difference, _ = _difference(row, measure.id)
    return {
        "instrument": row.instrument.title,
        "measure": measure.label,
        "a": _cell(row.results[1], measure.id),
        "b": _cell(row.results[2], measure.id),
        "difference": difference,
    }


def _instrument(results: CoupleResults, row: InstrumentResults) -> dict:
    """One questionnaire of the covered assessment: its chart, its score table and its agreement lists."""
    instrument = row.instrument
    measures = []
    for measure in instrument.measures():
        difference, agreement = _difference(row, measure.id)
        measures.append(
            {
                "label": measure.label,
                "total": measure in instrument.totals,
                "concern_direction": measure.direction == "concern",
                "a": _cell(row.results[1], measure.id),
                "b": _cell(row.results[2], measure.id),
                "difference": difference,
                "agreement": agreement,
            }
        )
    talk = None
    if row.talk is not None:
        talk = {
            "shared_strengths": [_item(i) for i in row.talk.shared_strengths],
            "shared_concerns": [_item(i) for i in row.talk.shared_concerns],
            "splits": [_item(i) for i in row.talk.splits],
        }
    return {
        "title": instrument.title,
        "version": instrument.version,
        # "(averages)" only when every area shown is one; a sum says so on its own row.
        "averages": all(m.method == "mean" for m in instrument.measures()),
        "chart": _chart(results, row),
        "measures": measures,
        "talk": talk,
    }


def _item(item) -> dict:
    return {"text": item.text, "a": item.a_label, "b": item.b_label}


def _chart(results: CoupleResults, row: InstrumentResults) -> str | None:
    """The couple view's dumbbell chart of every subscale and total, as an SVG string."""
    names = (_clip(results.partners[1].display_name, "name"), _clip(results.partners[2].display_name, "name"))
    return comparison_svg(row, names)


def _life_context(results: CoupleResults, zone: str) -> dict | None:
    if not results.context and not results.context_notes:
        return None
    same = results.context_same_occasion and len(results.context_from) == 2
    return {
        # One occasion when both partners' latest answers come from it; else where each one's are from.
        "occasion": _clip(results.context_assessment.occasion, "occasion") if same else None,
        "sources": None
        if same
        else [
            _partner(results, pos)
            | (
                {"occasion": _clip(source.occasion, "occasion"), "date": _date(source.created_at, zone)}
                if (source := results.context_from.get(pos))
                else {"occasion": None, "date": None}
            )
            for pos in POSITIONS
        ],
        "rows": [
            {
                "text": row.text,
                "a": row.answers[1],
                "b": row.answers[2],
                "a_weighing": row.weighing[1],
                "b_weighing": row.weighing[2],
            }
            for row in results.context
        ],
        "notes": [
            _partner(results, pos) | {"text": _clip(results.context_notes[pos], "text")}
            for pos in POSITIONS
            if results.context_notes.get(pos)
        ],
    }


def _change(change) -> dict | None:
    """One partner's change since the previous assessment, or why it cannot be judged."""
    if change is None:
        return None
    if isinstance(change, ChangeUnknown):
        return {"reason": change.reason}
    return {
        "figures": f"{change.change:+.2f} (RCI {change.rci:.2f})",
        "verdict": change.direction if change.reliable else "no reliable change",
    }


def _gap(gap) -> dict | None:
    if gap is None:
        return None
    if isinstance(gap, ChangeUnknown):
        return {"reason": gap.reason}
    return {
        "figures": f"{abs(gap.earlier_gap):.2f} → {abs(gap.later_gap):.2f} (RCI {gap.rci:.2f})",
        "verdict": gap.direction if gap.reliable else "no reliable change",
    }


def _scored_at_all(trend: Trend) -> bool:
    """Whether anybody has a score at either of the two assessments compared (otherwise the row says nothing)."""
    return any(point.values[pos] is not None for point in trend.points[-2:] for pos in POSITIONS)


def _trend(trend: Trend) -> dict:
    earlier, later = trend.points[-2], trend.points[-1]
    change = {_letter(pos).lower(): _change(trend.change[pos]) for pos in POSITIONS}
    gap = _gap(trend.gap_change)
    reasons = {c.get("reason") if c else None for c in (change["a"], change["b"], gap)}
    # One reason for all three (e.g. no published reliability) is said once, not three times.
    common = reasons.pop() if len(reasons) == 1 else None
    return {
        "instrument": trend.instrument.title,
        "measure": trend.label,
        "from": _clip(earlier.occasion, "occasion"),
        "to": _clip(later.occasion, "occasion"),
        "a_values": [_num_or_none(earlier.values[1]), _num_or_none(later.values[1])],
        "b_values": [_num_or_none(earlier.values[2]), _num_or_none(later.values[2])],
        "a": change["a"],
        "b": change["b"],
        "gap": gap,
        # The distance between the partners before and after, where both scored both times.
        "raw_gap": None if None in trend.gaps else f"{abs(trend.gaps[0]):.2f} → {abs(trend.gaps[1]):.2f}",
        "common_reason": common,
    }


def _focus(rows: list[InstrumentResults], *, shared_only: bool) -> list[dict]:
    """Discussion prompts of measures in a concern band, grouped by theme in "what helps" order, each once."""
    # shared_only (the couple's summary): a measure counts only when both partners'
    # scores sit in a concern band, since a prompt raised by one partner's score
    # would tell the other something about that score.
    found: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        for measure in row.instrument.measures():
            concerned = [pos for pos in POSITIONS if (s := measure_score(row.results[pos], measure.id)) and s.prompts]
            if not concerned or (shared_only and len(concerned) < 2):
                continue
            letters = " and ".join(_letter(pos) for pos in concerned)
            source = f"{row.instrument.title}, {measure.label}: {letters}"
            prompts = measure_score(row.results[concerned[0]], measure.id).prompts
            for prompt in prompts:
                sources = found.setdefault(prompt.theme, {}).setdefault(prompt.text, [])
                if source not in sources:
                    sources.append(source)
    out = []
    for theme in THEME_LABELS:
        if theme in found:
            prompts = [{"text": text, "sources": sources} for text, sources in found[theme].items()]
            out.append({"theme": theme_label(theme), "prompts": prompts})
    return out


def _appendix(results: CoupleResults, shown: Assessment) -> list[dict]:
    """Every choice item of the covered assessment with both partners' answers in words."""
    out = []
    for row in results.by_assessment[shown.id]:
        instrument = row.instrument
        items = []
        for item in instrument.items:
            if item.type != "choice":
                continue
            scale = instrument.scale_of(item)
            answers = {}
            for pos in POSITIONS:
                result = row.results[pos]
                if result is None:
                    answers[pos] = None
                elif item.id in result.keyed:
                    # Result keeps keyed values; keying is its own inverse, so this is the raw answer.
                    answers[pos] = scale.label_of(keyed_value(item, scale, result.keyed[item.id]))
                else:
                    answers[pos] = "skipped"
            items.append({"text": item.text, "a": answers[1], "b": answers[2]})
        out.append({"title": instrument.title, "questions": items})
    return out


# --- the shareable couple summary -----------------------------------------------------------------


def _summary(results: CoupleResults) -> dict:
    """Only what both partners may see: shared strengths (wording only), shared themes and their ideas."""
    names = [_clip(results.partners[pos].display_name, "name") for pos in POSITIONS]
    shown = _shown(results)
    rows = [r for r in results.by_assessment[shown.id] if r.instrument.kind == "scored"] if shown else []
    strengths: list[str] = []
    for row in rows:
        worded = [i.text for i in (row.comparison.items if row.comparison else ()) if _strength_as_worded(row, i)]
        strengths.extend(text for text in worded[:TALK_LIMIT] if text not in strengths)
    themes = [
        {"theme": group["theme"], "ideas": [p["text"] for p in group["prompts"]]}
        for group in _focus(rows, shared_only=True)
    ]
    return {
        "title": f"Session summary for {names[0]} and {names[1]}",
        "names": names,
        "strengths": strengths,
        "themes": themes,
    }


def _strength_as_worded(row: InstrumentResults, item: ItemComparison) -> bool:
    """A shared strength whose wording states the strength itself, so it reads right without the answers."""
    # On a reverse-keyed item (or a plain item of a concern area) the strength is
    # that both partners disagreed, e.g. "We can go days without a warm touch.":
    # shown alone, that wording would say the opposite of what they answered.
    if item.category != "shared_strength":
        return False
    instrument = row.instrument
    health = instrument.measure(item.subscale).direction == "health"
    return health != instrument.item(item.item_id).reverse


# --- small helpers --------------------------------------------------------------------------------


def page_size(practice: Practice) -> str:
    """The paper size the practice prints reports on: "A4" (the default) or "Letter"."""
    size = getattr(practice, "report_page_size", None) or "A4"
    return size if size in PAGE_SIZES else "A4"


def _letter(pos: int) -> str:
    return "A" if pos == 1 else "B"


def _num(value: float) -> str:
    return f"{value:.2f}"


def _num_or_none(value: float | None) -> str | None:
    return None if value is None else _num(value)


def _date(value: datetime, zone: str) -> str:
    return localtime_in(value, zone, DATE)


def _clip(text: str, field: str) -> str:
    limit = LIMITS[field]
    return text if len(text) <= limit else text[: limit - 1] + "…"
