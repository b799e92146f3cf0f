"""The couple view's charts as markup (the SVG itself is drawn in clinic.results/clinic.charts)."""

from __future__ import annotations

from markupsafe import Markup

from clinic.results import CoupleResults, comparison_svg, trend_svg


def charts_for(results: CoupleResults, shown) -> dict[str, Markup]:
    """Charts by key: an instrument id (the shown assessment) or "trend:<instrument>:<measure>"."""
    if shown is None:
        return {}
    names = (results.partners[1].display_name, results.partners[2].display_name)
    # clinic.charts escapes every label and name it writes: its output is our own SVG.
    out: dict[str, Markup] = {}
    for row in results.by_assessment[shown.id]:
        svg = comparison_svg(row, names)
        if svg:
            out[row.instrument.id] = Markup(svg)  # noqa: S704  # nosec B704 -- clinic.charts escapes all text
    for trend in results.trends:
        key = f"trend:{trend.instrument.id}:{trend.measure_id}"
        out[key] = Markup(trend_svg(trend, names))  # noqa: S704  # nosec B704 -- clinic.charts escapes all text
    return out
