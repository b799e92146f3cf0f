"""What the couple view draws besides its text: the charts of the shown assessment and of change over time.

The SVG itself is drawn (and kept, keyed by the data it shows) in clinic.results and clinic.charts.
"""

from __future__ import annotations

from markupsafe import Markup

from clinic.results import CoupleResults, comparison_svg, trends_svg


def charts_for(results: CoupleResults, shown) -> dict[str, Markup]:
    """Charts by key: an instrument id (the shown assessment) or "trend:<instrument>" (over time)."""
    if shown is None:
        return {}
    names = (results.partners[1].display_name, results.partners[2].display_name)
    out: dict[str, Markup] = {}
    # Each chart in two layouts, wide and compact: charts.css shows the one that fits the screen.
    # clinic.charts escapes every label and name it writes: its output is our own SVG.
    for row in results.by_assessment[shown.id]:
        svg = comparison_svg(row, names)
        if svg:
            svg += "\n" + (comparison_svg(row, names, compact=True) or "")
            out[row.instrument.id] = Markup(svg)  # noqa: S704  # nosec B704 -- clinic.charts escapes all text
    for group in results.over_time:
        svg = trends_svg(group.trends, names)
        if svg:
            svg += "\n" + (trends_svg(group.trends, names, compact=True) or "")
            out[f"trend:{group.instrument.id}"] = Markup(svg)  # noqa: S704  # nosec B704 -- clinic.charts escapes all text
    return out
