"""Markup the couples pages keep (clinic.memo) because it costs more to render than to read:
the couple view's charts (the SVG itself is drawn in clinic.results and clinic.charts) and
its results section below the safety panel, and the dashboard's rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from flask import get_template_attribute, render_template
from markupsafe import Markup

from clinic.memo import memo
from clinic.results import CoupleResults, comparison_svg, trend_svg
from clinic.templating import practice_zone


def charts_for(results: CoupleResults, shown) -> dict[str, Markup]:
    """Charts by key: an instrument id (the shown assessment) or "trend:<instrument>:<measure>"."""
    if shown is None:
        return {}
    names = (results.partners[1].display_name, results.partners[2].display_name)
    # clinic.charts escapes every label and name it writes: its output is our own SVG.
    out: dict[str, Markup] = {}
    # Each chart in two layouts, wide and compact: charts.css shows the one that fits the screen.
    for row in results.by_assessment[shown.id]:
        svg = comparison_svg(row, names)
        if svg:
            svg += "\n" + (comparison_svg(row, names, compact=True) or "")
            out[row.instrument.id] = Markup(svg)  # noqa: S704  # nosec B704 -- clinic.charts escapes all text
    for trend in results.trends:
        key = f"trend:{trend.instrument.id}:{trend.measure_id}"
        svg = trend_svg(trend, names)
        if svg:
            svg += "\n" + trend_svg(trend, names, compact=True)
        out[key] = Markup(svg)  # noqa: S704  # nosec B704 -- clinic.charts escapes all text
    return out


def results_body(results: CoupleResults, shown) -> Markup:
    """The shown assessment's results, life context and change over time (_results_body.html).

    It shows only what the key names: the couple's assessments (id, occasion, date), the
    partners' names, the instrument versions and sent invitations behind every result
    (InstrumentResults.key, Trend.key), which assessment is shown and the practice's time
    zone. Sent answers never change, so the same key always renders the same markup; the
    safety panel, the links and every form stay outside it and are rendered each time.
    """
    zone = practice_zone()
    key = (
        results.couple.id,
        shown.id if shown else None,
        tuple((a.id, a.occasion, a.created_at) for a in results.assessments),
        tuple(tuple(row.key for row in results.by_assessment.get(a.id, ())) for a in results.assessments),
        tuple(trend.key for trend in results.trends),
        results.context_assessment.id if results.context_assessment else None,
        tuple((p.position, p.display_name) for p in results.partners.values()),
        zone.key,
    )

    def render() -> Markup:
        html = render_template(
            "couples/_results_body.html",
            results=results,
            shown=shown,
            partners=results.partners,
            charts=charts_for(results, shown),
        )
        return Markup(html)  # noqa: S704  # nosec B704 -- an autoescaped template's output

    return memo("html").get_or_make(key, render)


def rows_html(rows: Sequence, *, now: datetime, show_therapist: bool, labels: Mapping) -> Markup:
    """The dashboard's rows (templates/couples/_row.html), each kept by everything it shows.

    A page of 50 rows costs more to render than to read; most rows look the same from
    one view to the next, and a changed couple (label, names, status, activity, its
    therapist) or another time zone simply makes a new key."""
    kept = memo("rows")
    zone = practice_zone().key
    macro = None
    parts = []
    for row in rows:
        status = row.current_status(now)
        key = (
            row.url,
            row.label,
            row.partner_names,
            row.clinician.name,
            status,
            row.archived,
            row.last_activity_at,
            show_therapist,
            zone,
        )
        html = kept.get(key)
        if html is None:
            macro = macro or get_template_attribute("couples/_row.html", "row")
            html = kept.put(key, macro(row, status, labels[status], show_therapist))
        parts.append(html)
    return Markup("").join(parts)
