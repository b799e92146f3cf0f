"""Server-side SVG charts of partners' scores, as self-contained strings for HTML pages and PDFs."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import NamedTuple
from xml.sax.saxutils import escape

from instruments.numbers import fmt

# Each partner keeps one colour everywhere (PRODUCT.md "Look and feel"), and a
# shape too, so colour is never the only signal.
COLOUR_A = "#0072B2"
COLOUR_B = "#E69F00"
INK = "#1f2933"
MUTED = "#52606d"
GRID = "#d9e2e7"
GRID_LIGHT = "#e9eef1"
CONNECTOR = "#9aa5b1"
FONT = "DejaVu Sans, sans-serif"

WIDTH = 640
# Symmetric margins put the middle of the scale at WIDTH / 2, and leave room
# for a value written beside a marker at either end of the axis.
PLOT_LEFT = 64
PLOT_RIGHT = 576
NOT_ENOUGH = "not enough answers"

# DejaVu Sans is wide; 0.62 em per character keeps estimated text inside the box.
_CHAR_EM = 0.62
_MARKER_R = 6.0
_SQUARE = 11.0
_VALUE_GAP = 10.0
# Characters XML 1.0 cannot carry at all; escaping cannot save them, so they go.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CHART_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# charts.css shows the wide layout on screens wider than a phone and in print, the compact one on phones.
_LAYOUT_ATTR = {False: ' data-layout="wide"', True: ' data-layout="compact"'}

_DUMBBELL_TOP = 40
_ROW_HEIGHT = 52
_NOTE_HEIGHT = 18


class Layout(NamedTuple):
    """The width of a chart, the left and right ends of its axis, and how much larger its text is drawn."""

    width: float
    left: float
    right: float
    grow: float  # added to every font size


# A page shows a chart at up to 40rem; a phone at about 330 CSS px. The compact layout is
# drawn narrower and with larger text, so that at phone width it shows at about nine
# tenths of its size and its smallest text stays above 12 px (charts.css picks the layout).
WIDE = Layout(WIDTH, PLOT_LEFT, PLOT_RIGHT, 0)
COMPACT = Layout(360, 52, 308, 2)


class Row(NamedTuple):
    """One subscale in a dumbbell chart: its label and each partner's score."""

    label: str
    a: float | None
    b: float | None


def dumbbell(
    rows: Sequence[tuple[str, float | None, float | None]],
    *,
    low: float,
    high: float,
    title: str,
    names: tuple[str, str] = ("Partner A", "Partner B"),
    chart_id: str | None = None,
    compact: bool = False,
    sent: tuple[bool, bool] = (True, True),
) -> str:
    """Draw each row's two scores on one low-to-high axis, joined by a line, as an SVG string
    (`compact`: the narrow layout for phones, see COMPACT). A partner who has not `sent`
    the answers is left out entirely (no markers, no "not enough answers" notes, no key)."""
    if not any(sent):
        raise ValueError("a dumbbell chart needs at least one partner who sent answers")
    _check_range(low, high)
    table = [Row(*row) for row in rows]
    if not table:
        raise ValueError("a dumbbell chart needs at least one row")
    for row in table:
        _check_value(row.a, low, high)
        _check_value(row.b, low, high)
    lay = COMPACT if compact else WIDE
    ident = _ident(chart_id, "dumbbell", table, low, high, title, names, sent, *(("compact",) if compact else ()))
    left, right, grow = lay.left, lay.right, lay.grow

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    ticks = _ticks(low, high)
    body: list[str] = []
    y = _DUMBBELL_TOP
    for row in table:
        body.append(_text(16, y + 16, _fit(row.label, lay.width - 32, 14 + grow), size=14 + grow, weight="bold"))
        track = y + 38
        body.append(_line(left, track, right, track, GRID, 1))
        present = [(p, v) for p, v in (("a", row.a), ("b", row.b)) if v is not None]
        if len(present) == 2:
            body.append(_line(x_of(row.a), track, x_of(row.b), track, CONNECTOR, 3))
        # The lower value is written on its left, the higher on its right, so
        # the two numbers never sit on top of each other.
        lower = min(present, key=lambda pv: (pv[1], pv[0]))[0] if len(present) == 2 else None
        for partner, value in sorted(present, key=lambda pv: pv[0], reverse=True):
            # B first, so A's circle sits on B's square when they are equal and both stay visible.
            body.append(_marker(partner, x_of(value), track))
        for partner, value in present:
            x = x_of(value)
            on_left = partner == lower if lower else x > right - 48
            tx, anchor = (x - _VALUE_GAP, "end") if on_left else (x + _VALUE_GAP, "start")
            body.append(_value_label(tx, track + 4.5, value, anchor=anchor, partner=partner, size=13 + grow))
        y += _ROW_HEIGHT
        for partner, value, name, given in (("a", row.a, names[0], sent[0]), ("b", row.b, names[1], sent[1])):
            if value is None and given:
                body.append(_marker(partner, left + 6, y + 2, hollow=True, scale=0.8))
                note = _fit(f"{name}: {NOT_ENOUGH}", right - left - 16, 12 + grow)
                body.append(_text(left + 18, y + 6, note, size=12 + grow, fill=MUTED, partner=partner))
                y += _NOTE_HEIGHT + grow
    axis = y + 8
    grid = [_line(x_of(t), _DUMBBELL_TOP + 24, x_of(t), axis, GRID_LIGHT, 1) for t in ticks]
    axis_parts = [_line(left, axis, right, axis, MUTED, 1)]
    for t in ticks:
        axis_parts.append(_line(x_of(t), axis, x_of(t), axis + 6, MUTED, 1))
        tick = _value(t, tick=True)
        axis_parts.append(_text(x_of(t), axis + 22 + grow, tick, size=12 + grow, anchor="middle", fill=MUTED))
    height = axis + 34 + grow

    lines = [f"Scores from {_value(low, tick=True)} to {_value(high, tick=True)}."]
    for row in table:
        told = [
            _described(name, value) for name, value, given in zip(names, (row.a, row.b), sent, strict=True) if given
        ]
        lines.append(f"{row.label}: {', '.join(told)}.")
    legend = _legend(names, lay, sent)
    return _svg(ident, height, title, " ".join(lines), [legend, *grid, *body, *axis_parts], lay)


class Panel(NamedTuple):
    """One measure in a small-multiples chart: its label, its axis and its scores by assessment."""

    label: str
    low: float
    high: float
    # (occasion, a, b) or (occasion, a, b, (a sent, b sent)): a missing score of a partner who
    # sent the assessment is "not enough answers", of one who did not, "not sent yet".
    points: Sequence[tuple]


# Small multiples: a grid of small line charts, one per measure, both partners in each.
_PANEL_TITLE = 20
_PANEL_PLOT = 84
_PANEL_FOOT = 24
_PANEL_GAP = 18


def small_multiples(
    panels: Sequence[Panel | tuple],
    *,
    title: str,
    names: tuple[str, str] = ("Partner A", "Partner B"),
    chart_id: str | None = None,
    compact: bool = False,
) -> str:
    """Draw several measures over the assessments as a grid of small line charts (one per measure,
    each on its own axis, one line per partner), as one SVG string. The numbers themselves
    belong in a table beside it: a panel labels only its axis ends and its first and last
    assessment (`compact`: the narrow layout for phones, two panels a row instead of three)."""
    grid = [Panel(*panel) for panel in panels]
    if not grid:
        raise ValueError("a small-multiples chart needs at least one panel")
    for panel in grid:
        _check_range(panel.low, panel.high)
        if not panel.points:
            raise ValueError("a panel needs at least one assessment")
        for point in panel.points:
            _check_value(point[1], panel.low, panel.high)
            _check_value(point[2], panel.low, panel.high)
    lay = COMPACT if compact else WIDE
    ident = _ident(chart_id, "multiples", grid, title, names, *(("compact",) if compact else ()))
    columns = 2 if compact else 3
    margin = 16.0
    width = (lay.width - 2 * margin - (columns - 1) * _PANEL_GAP) / columns
    axis_room = 26.0 + lay.grow * 2  # tick labels left of each plot
    tall = _PANEL_TITLE + lay.grow + _PANEL_PLOT + _PANEL_FOOT + lay.grow
    parts: list[str] = [_legend(names, lay)]
    top = 40.0
    for index, panel in enumerate(grid):
        column, line = index % columns, index // columns
        x0 = margin + column * (width + _PANEL_GAP)
        y0 = top + line * (tall + _PANEL_GAP)
        label = _fit(panel.label, width, 13 + lay.grow)
        parts.append(_text(x0, y0 + 14 + lay.grow, label, size=13 + lay.grow, weight="bold"))
        plot_top = y0 + _PANEL_TITLE + lay.grow + 6
        plot_bottom = plot_top + _PANEL_PLOT - 12
        left, right = x0 + axis_room, x0 + width - 8

        def y_of(value: float, low: float = panel.low, high: float = panel.high, t=plot_top, b=plot_bottom) -> float:
            return b - (value - low) / (high - low) * (b - t)

        for tick in (panel.low, panel.high):
            parts.append(_line(left, y_of(tick), right, y_of(tick), GRID, 1))
            parts.append(
                _text(left - 6, y_of(tick) + 4, _value(tick, tick=True), size=12 + lay.grow, anchor="end", fill=MUTED)
            )
        count = len(panel.points)
        step = (right - left - 16) / (count - 1) if count > 1 else 0.0
        xs = [left + 8 + i * step for i in range(count)] if count > 1 else [(left + right) / 2]
        for partner in ("b", "a"):
            run: list[tuple[float, float]] = []
            for x, point in zip(xs, panel.points, strict=True):
                value = point[1] if partner == "a" else point[2]
                if value is None:
                    parts.extend(_polyline(run, partner))
                    run = []
                else:
                    run.append((x, y_of(value)))
            parts.extend(_polyline(run, partner))
            for x, point in zip(xs, panel.points, strict=True):
                value = point[1] if partner == "a" else point[2]
                if value is not None:
                    parts.append(_marker(partner, x, y_of(value), scale=0.75))
        foot = plot_bottom + 16 + lay.grow
        ends = [(xs[0], panel.points[0][0], "start")]
        if count > 1:
            ends.append((xs[-1], panel.points[-1][0], "end"))
        room = (right - left) / len(ends)
        for x, occasion, anchor in ends:
            text = _fit(occasion, room, 12 + lay.grow)
            parts.append(_text(x, foot, text, size=12 + lay.grow, anchor=anchor, fill=MUTED))
    rows = -(-len(grid) // columns)
    height = top + rows * tall + (rows - 1) * _PANEL_GAP + 8

    lines = []
    for panel in grid:
        told = "; ".join(
            f"{point[0]}: "
            + ", ".join(
                _described(name, value) if given else f"{name} not sent yet"
                for name, value, given in zip(names, point[1:3], _sent(point), strict=True)
            )
            for point in panel.points
        )
        lines.append(f"{panel.label} (from {_value(panel.low, tick=True)} to {_value(panel.high, tick=True)}): {told}.")
    return _svg(ident, height, title, " ".join(lines), parts, lay)


def _svg(ident: str, height: float, title: str, desc: str, parts: list[str], lay: Layout = WIDE) -> str:
    # The namespace is an identifier, never fetched; it lets the same string
    # stand alone as an .svg file or a data: URI as well as sit inside HTML.
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(lay.width)} {_num(height)}" width="100%" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" font-family="{FONT}"'
        f"{_LAYOUT_ATTR[lay == COMPACT]}>"
    )
    return "\n".join(
        [
            head,
            f'<title id="{ident}-title">{_escape(title)}</title>',
            f'<desc id="{ident}-desc">{_escape(desc)}</desc>',
            f'<rect x="0" y="0" width="{_num(lay.width)}" height="{_num(height)}" fill="#ffffff"/>',
            *parts,
            "</svg>",
        ]
    )


def _legend(names: tuple[str, str], lay: Layout = WIDE, sent: tuple[bool, bool] = (True, True)) -> str:
    size = 13 + lay.grow
    # Each key gets up to half the width; the second starts after the first's estimated
    # text width, so long names push it right instead of overlapping.
    room = min(260.0, (lay.width - 86) / 2)
    parts, x = [], 22.0
    for partner, name, given in (("a", names[0], sent[0]), ("b", names[1], sent[1])):
        if not given:
            continue
        text = _fit(f"{partner.upper()}: {name}", room, size)
        parts.append(_marker(partner, x, 16, legend=True))
        parts.append(_text(x + 12, 20.5, text, size=size, partner=partner))
        x += 12 + _text_width(text, size) + 24
    return "\n".join(parts)


def _marker(partner: str, x: float, y: float, *, hollow: bool = False, scale: float = 1.0, legend: bool = False) -> str:
    colour = COLOUR_A if partner == "a" else COLOUR_B
    # A dark outline keeps the orange marker visible against white (it alone is below 3:1 contrast).
    fill, stroke = ("#ffffff", colour) if hollow else (colour, INK)
    role = ' data-legend="true"' if legend else ""
    if partner == "a":
        return (
            f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(_MARKER_R * scale)}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5" data-partner="a"{role}/>'
        )
    side = _SQUARE * scale
    return (
        f'<rect x="{_num(x - side / 2)}" y="{_num(y - side / 2)}" width="{_num(side)}" height="{_num(side)}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5" data-partner="b"{role}/>'
    )


def _polyline(run: list[tuple[float, float]], partner: str) -> list[str]:
    if len(run) < 2:
        return []
    colour = COLOUR_A if partner == "a" else COLOUR_B
    # B's line is dashed so the two lines differ even in greyscale print.
    dash = ' stroke-dasharray="6 4"' if partner == "b" else ""
    points = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
    return [
        f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"{dash} data-partner="{partner}"/>'
    ]


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float) -> str:
    return (
        f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" '
        f'stroke="{colour}" stroke-width="{_num(width)}"/>'
    )


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: float,
    anchor: str = "start",
    weight: str = "normal",
    fill: str = INK,
    partner: str | None = None,
) -> str:
    data = f' data-partner="{partner}"' if partner else ""
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}" text-anchor="{anchor}" '
        f'font-weight="{weight}" fill="{fill}"{data}>{_escape(content)}</text>'
    )


def _value_label(x: float, y: float, value: float, *, anchor: str, partner: str, size: float = 13) -> str:
    # A white patch behind the number keeps it readable where it crosses a line
    # (paint-order halos are not supported by every SVG renderer, e.g. in PDFs).
    text = _value(value)
    width = _text_width(text, size) + 4
    left = {"start": x - 2, "middle": x - width / 2, "end": x - width + 2}[anchor]
    top, tall = y - size + 1, size + 3
    patch = f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(width)}" height="{_num(tall)}" fill="#ffffff"/>'
    return patch + "\n" + _text(x, y, text, size=size, anchor=anchor, partner=partner)


def _escape(text: str) -> str:
    return escape(_NOT_XML.sub("", text), {'"': "&quot;", "'": "&#39;"})


def _fit(text: str, width: float, size: float) -> str:
    # SVG text never wraps: a long label is cut to the room it has (the full
    # text stays in <desc> for screen readers).
    text = " ".join(text.split())
    room = max(1, int(width / (size * _CHAR_EM)))
    return text if len(text) <= room else text[: room - 1].rstrip() + "…"


def _text_width(text: str, size: float) -> float:
    return len(text) * size * _CHAR_EM


def _value(value: float, *, tick: bool = False) -> str:
    # Scores are written as everywhere else (half-up, two decimals); axis ticks are whole numbers or short.
    if tick:
        return f"{value:g}"
    return fmt(value)


def _sent(point: tuple) -> tuple[bool, bool]:
    return point[3] if len(point) > 3 else (True, True)


def _described(name: str, value: float | None) -> str:
    return f"{name} {NOT_ENOUGH}" if value is None else f"{name} {_value(value)}"


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _ticks(low: float, high: float) -> list[float]:
    # A tick at every whole number, unless that would crowd the axis (e.g. a
    # prorated sum from 5 to 25): then every 2nd, 5th or 10th number.
    span = high - low
    step = next((s for s in (1, 2, 5, 10, 20, 50, 100) if span / s <= 12), 10 ** math.ceil(math.log10(span)))
    start = math.ceil(low / step) * step
    ticks = []
    t = start
    while t <= high + 1e-9:
        ticks.append(float(t))
        t += step
    return ticks


def _check_range(low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"need finite low < high, got {low!r} and {high!r}")


def _check_value(value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"score {value!r} is outside the axis {low!r} to {high!r}")


def _ident(chart_id: str | None, kind: str, *content: object) -> str:
    if chart_id is not None:
        if not _CHART_ID.match(chart_id):
            raise ValueError("chart_id must start with a letter and use only letters, digits, - and _")
        return chart_id
    # Several charts share one HTML page, so ids must differ; a digest of the
    # content keeps them unique and the output deterministic.
    digest = hashlib.sha256(repr((kind, *content)).encode()).hexdigest()[:10]
    return f"chart-{digest}"
