"""Turn couple results into the SVG charts the couple view shows (drawn server-side)."""

from __future__ import annotations

from markupsafe import Markup

from clinic import charts
from clinic.results import CoupleResults


def charts_for(results: CoupleResults, shown) -> dict[str, Markup]:
    """Charts by key: an instrument id (the shown assessment) or "trend:<instrument>:<measure>"."""
    if shown is None:
        return {}
    names = (results.partners[1].display_name, results.partners[2].display_name)
    out: dict[str, Markup] = {}
    for row in results.by_assessment[shown.id]:
        if row.instrument.kind != "scored" or not any(row.results.values()):
            continue
        rows = []
        possible = None
        for measure in row.instrument.measures():
            values = []
            for pos in (1, 2):
                result = row.results[pos]
                found = result and (result.scores.get(measure.id) or result.totals.get(measure.id))
                values.append(found.value if found else None)
                possible = possible or (found.possible if found else None)
            rows.append((measure.label, values[0], values[1]))
        scale_low, scale_high = possible
        # charts.dumbbell escapes every label and name itself; its output is our own SVG.
        out[row.instrument.id] = Markup(  # noqa: S704  # nosec B704 -- clinic.charts escapes all text it writes
            charts.dumbbell(rows, low=scale_low, high=scale_high, title=row.instrument.title, names=names)
        )
    for trend in results.trends:
        low, high = _range(trend.instrument, trend.measure_id)
        series = [(p.occasion, p.values[1], p.values[2]) for p in trend.points]
        out[f"trend:{trend.instrument.id}:{trend.measure_id}"] = Markup(  # noqa: S704  # nosec B704 -- see above
            charts.trend(series, low=low, high=high, title=f"{trend.instrument.title}: {trend.label}", names=names)
        )
    return out


def _range(instrument, measure_id: str) -> tuple[float, float]:
    """The lowest and highest possible score of a measure (a sum spans items x scale)."""
    measure = instrument.measure(measure_id)
    items = instrument.items_of(measure_id)
    scale = instrument.scale_of(items[0])
    if measure.method == "sum":
        return scale.low * len(items), scale.high * len(items)
    return scale.low, scale.high
