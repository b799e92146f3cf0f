"""What a session-prep report shows, as plain data: built from CoupleResults, hashed for the cache, rendered by pdf.py.

The clinician's report reads one thing more: the couple's scheduled check-ins, for the brief
(clinic.services.checkins.for_couple, one query), as the couple view does.

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from clinic import catalog
from clinic.brief import Checkins, build_brief, pursue_withdraw, shared_concerns
from clinic.models import Assessment, Clinician, Couple, Partner, Practice
from clinic.results import (
    BETTER,
    CLOSER,
    FURTHER_APART,
    WORSE,
    CoupleResults,
    InstrumentResults,
    OverTime,
    Trend,
    comparison_svg,
    measure_score,
    trends_svg,
)
from clinic.services import checkins
from clinic.services.couples import PREP_NOTES_LIMIT
from clinic.templating import DATE_TIME, localtime_in
from clinic.wording import NOT_ENOUGH, WAITING_WORDS, agreement_words, higher_by
from instruments import Result, theme_label
from instruments.numbers import fmt
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
SHORT_DATE = "%-d %b"  # a session in the brief's check-in line, as the couple view writes it
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
    "note": 1000,  # the therapist's note to the couple (ReportForm keeps it within this)
}
NOT_SUBMITTED = "not sent"
# Statements per list in the report's details, and what a couple summary holds at most.
DETAIL_ITEMS = 3
SUMMARY_STRENGTHS = 8
SUMMARY_THEMES = 4


def build_context(
    results: CoupleResults,
    *,
    practice: Practice,
    clinician: Clinician,
    kind: Kind,
    appendix: bool,
    generated_at: datetime,
    note: str = "",
) -> dict:
    """Everything one report shows, as JSON-ready data (the summary holds only what both partners may see;
    `note` is the therapist's note to the couple, printed in the summary only)."""
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
        return common | _clinician(results, zone, appendix, generated_at)
    return common | _summary(results, note)


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


def _clinician(results: CoupleResults, zone: str, appendix: bool, generated_at: datetime) -> dict:
    """Page 1 the brief, page 2 the scores at a glance, then the details, then the optional appendix."""
    label = _clip(results.couple.label, "label")
    shown = results.shown_by_default
    rows = [r for r in results.by_assessment[shown.id] if r.instrument.kind == "scored"] if shown else []
    names = {pos: _clip(results.partners[pos].display_name, "name") for pos in POSITIONS}
    return {
        "title": f"Session-prep report: {label}",
        "couple": label,
        "partners": [_partner(results, pos) for pos in POSITIONS],
        "shown": {"occasion": _clip(shown.occasion, "occasion"), "date": _date(shown.created_at, zone)}
        if shown
        else None,
        "brief": _brief(results, shown, zone, generated_at),
        "prep_notes": _clip(results.couple.prep_notes or "", "text"),
        "glance": [_glance(row, names) for row in rows],
        "details": [_detail(results, row) for row in rows],
        "life_context": _life_context(results, zone),
        "over_time": [_over_time(results, group, zone) for group in results.over_time],
        "appendix": _appendix(results, shown) if appendix and shown else None,
    }


@dataclass(frozen=True)
class Sharing:
    """Whether a couple summary may list the statements both partners chose: only when both sent
    the assessment it is about and both agreed (each partner's own choice, default no)."""

    both_sent: bool
    agreed: bool
    not_agreed: tuple[str, ...]  # display names of partners who sent but have not agreed


def summary_sharing(results: CoupleResults) -> Sharing:
    """The partners' choices about shared statements, for the assessment a summary is about."""
    shown = results.shown_by_default
    if shown is None:
        return Sharing(both_sent=False, agreed=False, not_agreed=())
    by_partner = {invitation.partner_id: invitation for invitation in shown.invitations}
    sent = {pos: by_partner.get(results.partners[pos].id) for pos in POSITIONS}
    not_agreed = tuple(
        results.partners[pos].display_name
        for pos, invitation in sent.items()
        if invitation is not None and invitation.submitted_at is not None and not invitation.shares_agreement
    )
    both_sent = all(invitation is not None and invitation.submitted_at is not None for invitation in sent.values())
    return Sharing(both_sent=both_sent, agreed=both_sent and not not_agreed, not_agreed=not_agreed)


def _partner(results: CoupleResults, pos: int) -> dict:
    return {
        "letter": _letter(pos),
        "key": _letter(pos).lower(),
        "name": _clip(results.partners[pos].display_name, "name"),
    }


def _brief(results: CoupleResults, shown: Assessment | None, zone: str, now: datetime) -> dict:
    """The session brief (clinic.brief), as the couple view shows it (with the couple's check-ins, read here)."""
    trend = checkins.for_couple(results.couple, zone, now).trend
    brief = build_brief(results, shown, now, trend, catalog.registry().latest(checkins.INSTRUMENT))
    standing, safety = brief.standing, brief.safety
    return {
        "sent": [_partner(results, pos) | {"sent": _date_time(standing.sent.get(pos), zone)} for pos in POSITIONS],
        "waiting": [
            _partner(results, w.position)
            | {"since": _date(w.since, zone), "state": WAITING_WORDS.get(w.state, w.state)}
            for w in standing.waiting
        ],
        "open_occasion": _clip(standing.open_occasion, "occasion") if standing.open_occasion else None,
        "open_is_shown": standing.open_id is not None and standing.open_id == standing.shown_id,
        "links_open": standing.links_open,
        "safety": {
            "unreviewed": [_flag(entry, zone) for entry in safety.unreviewed],
            "reviewed": [_flag(entry, zone) for entry in safety.reviewed],
            "calm": safety.calm,
            "not_screened": [_clip(results.partners[pos].display_name, "name") for pos in safety.not_screened],
        },
        "points": [
            {
                "title": point.title,
                "about": point.about,
                "answers": [
                    _partner(results, pos) | {"text": point.answers[pos]} for pos in POSITIONS if pos in point.answers
                ],
                "note": point.note,
                # "statements", not "items": a template reading point.items would get the dict's method.
                "statements": [
                    {"text": said.text, "a": said.answers.get(1), "b": said.answers.get(2)} for said in point.items
                ],
            }
            for point in brief.points
        ],
        "strengths": {
            "count": brief.strength_count,
            "statements": [
                {"text": s.text, "area": s.area, "a": s.answers[1], "b": s.answers[2]} for s in brief.strengths
            ],
        },
        "questions": list(brief.questions),
        "checkins": _checkins(results, brief.checkins, zone) if brief.checkins else None,
    }


def _checkins(results: CoupleResults, found: Checkins, zone: str) -> dict:
    """The brief's check-in line per partner, in the words the couple view uses."""
    first, last = (localtime_in(found.sessions[i], zone, SHORT_DATE) for i in (0, -1))
    return {
        "summary": found.summary(first, last),
        "lines": [
            # "scores", not "values": a template reading line.values would get the dict's method.
            _partner(results, line.position) | {"scores": list(line.written), "worse": line.worse}
            for line in found.lines
        ],
    }


def _flag(entry, zone: str) -> dict:
    review = entry.review
    return _partner_of(entry.partner) | {
        "occasion": _clip(entry.assessment.occasion, "occasion"),
        "level": "Urgent" if entry.flag.level == "urgent" else "Review",
        "item": entry.flag.text,
        "answer": entry.flag.answer_label,
        "reviewed_by": (_clip(review.reviewed_by.name, "clinician") if review.reviewed_by else "a former clinician")
        if review
        else None,
        "reviewed_at": localtime_in(review.reviewed_at, zone, DATE_TIME) if review else None,
        "note": _clip(review.note or "", "text") if review else None,
    }


def _partner_of(partner: Partner) -> dict:
    letter = _letter(partner.position)
    return {"letter": letter, "key": letter.lower(), "name": _clip(partner.display_name, "name")}


def _cell(result: Result | None, measure_id: str) -> dict:
    """One partner's score on one measure, as the couple view writes it."""
    found = measure_score(result, measure_id)
    if found is None:
        return {"value": None, "band": None, "concern": False, "note": NOT_SUBMITTED}
    if not found.valid or found.value is None:
        return {"value": None, "band": None, "concern": False, "note": NOT_ENOUGH}
    return {
        "value": fmt(found.value),
        "band": found.band.label if found.band else None,
        "concern": bool(found.band and found.band.concern),
        "note": None,
    }


def _agreement(cmp) -> str | None:
    return agreement_words(cmp) if cmp is not None and cmp.items_compared else None


def _glance(row: InstrumentResults, names: dict[int, str]) -> dict:
    """One questionnaire's scores, differences in words and agreement counts (page 2)."""
    instrument = row.instrument
    measures = []
    for measure in instrument.measures():
        cmp = None
        if row.comparison is not None:
            cmp = row.comparison.subscales.get(measure.id) or row.comparison.totals.get(measure.id)
        measures.append(
            {
                "label": measure.label,
                "total": measure in instrument.totals,
                "concern_direction": measure.direction == "concern",
                "a": _cell(row.results[1], measure.id),
                "b": _cell(row.results[2], measure.id),
                "difference": higher_by(cmp.difference, names) if cmp and cmp.difference is not None else None,
                "agreement": _agreement(cmp),
            }
        )
    return {
        "title": instrument.title,
        "version": instrument.version,
        # "(averages)" only when every area shown is one; a sum says so on its own row.
        "averages": all(m.method == "mean" for m in instrument.measures()),
        "compared": row.comparison is not None,
        "measures": measures,
    }


def _detail(results: CoupleResults, row: InstrumentResults) -> dict:
    """One questionnaire's chart and the statements worth a look (the largest gaps, shared concerns and strengths)."""
    talk = None
    if row.talk is not None:
        talk = {
            "gaps": [_item(i) for i in row.talk.gaps[:DETAIL_ITEMS]],
            "shared_concerns": [_item(i) for i in row.talk.shared_concerns[:DETAIL_ITEMS]],
            "shared_strengths": [_item(i) for i in row.talk.shared_strengths[:DETAIL_ITEMS]],
        }
    return {"title": row.instrument.title, "chart": _chart(results, row), "talk": talk}


def _item(item) -> dict:
    return {"text": item.text, "a": item.a_label, "b": item.b_label}


def _chart(results: CoupleResults, row: InstrumentResults) -> str | None:
    """The couple view's dumbbell chart of every subscale and total, as an SVG string."""
    return comparison_svg(row, _names(results))


def _names(results: CoupleResults) -> tuple[str, str]:
    return (_clip(results.partners[1].display_name, "name"), _clip(results.partners[2].display_name, "name"))


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
        # Only what is happening for either partner gets a row; the rest is named in one line.
        "rows": [
            {
                "text": row.text,
                "a": row.answers[1],
                "b": row.answers[2],
                "a_weighing": row.weighing[1],
                "b_weighing": row.weighing[2],
            }
            for row in results.context
            if not _quiet(row)
        ],
        "quiet": [row.text for row in results.context if _quiet(row)],
        "notes": [
            _partner(results, pos) | {"text": _clip(results.context_notes[pos], "text")}
            for pos in POSITIONS
            if results.context_notes.get(pos)
        ],
    }


def _quiet(row) -> bool:
    """A life-context item neither partner has happening (the scale's lowest answer, or no answer)."""
    return all(value in (None, row.lowest) for value in row.answers.values())


def _over_time(results: CoupleResults, group: OverTime, zone: str) -> dict:
    """One instrument from its first to its latest assessment: a compact chart and one change table."""
    first = group.trends[0].since_first
    return {
        "instrument": group.instrument.title,
        "span": f"{_clip(first.earlier.occasion, 'occasion')} → {_clip(first.later.occasion, 'occasion')}",
        "basis": group.basis(zone),
        "chart": trends_svg(group.trends, _names(results)),
        "rows": [_change_row(trend) for trend in group.trends],
    }


def _change_row(trend: Trend) -> dict:
    change = trend.since_first
    cells = {}
    for pos in POSITIONS:
        before, after = change.scores(pos)
        key = _letter(pos).lower()
        if before is None or after is None:
            cells[key] = {"figures": None, "verdict": None, "note": "—"}
        elif change.delta[pos] is None:
            cells[key] = {"figures": None, "verdict": None, "note": NOT_ENOUGH}
        else:
            cells[key] = {
                "figures": f"{fmt(before.value)} → {fmt(after.value)}",
                "verdict": change.verdict[pos],
                "note": None,
            }
    if change.gap[0] is None:
        gap = {
            "figures": None,
            "verdict": None,
            "note": NOT_ENOUGH if change.gap_reliable else "needs both partners both times",
        }
    else:
        gap = {"figures": f"{fmt(change.gap[0])} → {fmt(change.gap[1])}", "verdict": change.gap_verdict, "note": None}
    changed = any(v in (BETTER, WORSE) for v in change.verdict.values()) or change.gap_verdict in (
        CLOSER,
        FURTHER_APART,
    )
    return {"measure": trend.label, "a": cells["a"], "b": cells["b"], "gap": gap, "changed": changed}


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


def _summary(results: CoupleResults, note: str) -> dict:
    """Only what both partners may see: the statements both see positively (only when both agreed to
    share them), themes from areas both find hard and from the pursue-withdraw pattern (never saying
    who stands where), each with one suggestion and one question, and the therapist's note."""
    names = [_clip(results.partners[pos].display_name, "name") for pos in POSITIONS]
    shown = results.shown_by_default
    rows = [r for r in results.by_assessment[shown.id] if r.instrument.kind == "scored"] if shown else []
    sharing = summary_sharing(results)
    both_sent, consent = sharing.both_sent, sharing.agreed
    strengths: list[str] = []
    if consent:
        for row in rows:
            worded = [
                i.text
                for i in (row.comparison.items if row.comparison else ())
                if i.category == "shared_strength" and row.instrument.worded_healthy(i.item_id)
            ]
            strengths.extend(text for text in worded if text not in strengths)
    return {
        "title": f"Session summary for {names[0]} and {names[1]}",
        "names": names,
        "both_sent": both_sent,
        "strengths_shared": consent,
        "strengths": strengths[:SUMMARY_STRENGTHS],
        "themes": _themes(rows) if both_sent else [],
        "note": _clip(note.strip(), "note") if note else "",
    }


def _themes(rows: list[InstrumentResults]) -> list[dict]:
    """Themes to work on together: the pursue-withdraw pattern (without saying who stands where), then
    each area where both partners' scores sit in a concern band, deepest first; each with the area's
    first suggestion (written by this project from PRODUCT.md's "what helps") and its question."""
    themes = []
    pattern = pursue_withdraw(rows)
    if pattern is not None:
        _, (_, pursue), (_, withdraw) = pattern
        idea = next((p.text for p in pursue.prompts if p.theme == "demand_withdraw"), None) or (
            pursue.prompts[0].text if pursue.prompts else None
        )
        themes.append(
            {
                "title": theme_label("demand_withdraw"),
                "about": (
                    "When one of you reaches for closeness and the other steps back, each move can set off "
                    "the other's. Seeing the cycle as the problem, not each other, is the first step."
                ),
                "idea": idea,
                "question": pursue.question or withdraw.question,
            }
        )
    for _, measure in shared_concerns(rows):
        themes.append(
            {
                "title": measure.label,
                "about": measure.description,
                "idea": measure.prompts[0].text if measure.prompts else None,
                "question": measure.question,
            }
        )
    return themes[:SUMMARY_THEMES]


# --- small helpers --------------------------------------------------------------------------------


def page_size(practice: Practice) -> str:
    """The paper size the practice prints reports on: "A4" (the default) or "Letter"."""
    size = getattr(practice, "report_page_size", None) or "A4"
    return size if size in PAGE_SIZES else "A4"


def _letter(pos: int) -> str:
    return "A" if pos == 1 else "B"


def _date(value: datetime, zone: str) -> str:
    return localtime_in(value, zone, DATE)


def _date_time(value: datetime | None, zone: str) -> str | None:
    return localtime_in(value, zone, DATE_TIME) if value else None


def _clip(text: str, field: str) -> str:
    limit = LIMITS[field]
    return text if len(text) <= limit else text[: limit - 1] + "…"
