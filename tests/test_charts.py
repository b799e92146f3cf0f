"""Server-side SVG charts: well-formed, self-contained, escaped, and drawn where the numbers say."""

import xml.etree.ElementTree as ET

import pytest

from clinic.charts import COLOUR_A, COLOUR_B, PLOT_LEFT, PLOT_RIGHT, dumbbell, small_multiples

SVG = "{http://www.w3.org/2000/svg}"
NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'
NAMES = ("Jordan", "Mika")
HOSTILE = "<script>alert(\"x\")</script> & 'q'"


def parse(svg: str) -> ET.Element:
    # Our own output, parsed strictly so any unescaped text makes it malformed.
    return ET.fromstring(svg)  # noqa: S314


def markers(root: ET.Element, partner: str) -> list[ET.Element]:
    """The filled data markers of one partner (not the legend key, not the hollow 'missing' keys)."""
    tag = "circle" if partner == "a" else "rect"
    return [
        el
        for el in root.iter(SVG + tag)
        if el.get("data-partner") == partner and el.get("data-legend") is None and el.get("fill") != "#ffffff"
    ]


def centre(el: ET.Element) -> tuple[float, float]:
    if el.tag == SVG + "circle":
        return float(el.get("cx")), float(el.get("cy"))
    return float(el.get("x")) + float(el.get("width")) / 2, float(el.get("y")) + float(el.get("height")) / 2


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(SVG + "text")]


def connection_chart(**kw) -> str:
    rows = kw.pop(
        "rows",
        [("Feeling heard", 2.5, 4.0), ("Affection", 3.0, 3.0), ("Sharing", None, 1.0), ("Rituals", None, None)],
    )
    return dumbbell(rows, low=1, high=5, title=kw.pop("title", "Connection"), names=kw.pop("names", NAMES), **kw)


def test_dumbbell_is_a_well_formed_accessible_svg():
    root = parse(connection_chart(title="Connection: Jordan & Mika"))
    assert root.tag == SVG + "svg"
    assert root.get("viewBox").startswith("0 0 640 ")
    assert root.get("width") == "100%"
    assert root.get("role") == "img"
    assert root.get("font-family") == "DejaVu Sans, sans-serif"
    title, desc = root.find(SVG + "title"), root.find(SVG + "desc")
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Connection: Jordan & Mika"
    # The description carries every number, so a screen reader gets the whole chart.
    assert desc.text == (
        "Scores from 1 to 5. Feeling heard: Jordan 2.50, Mika 4.00. Affection: Jordan 3.00, Mika 3.00. "
        "Sharing: Jordan not enough answers, Mika 1.00. "
        "Rituals: Jordan not enough answers, Mika not enough answers."
    )


def test_dumbbell_puts_values_where_the_axis_says():
    root = parse(connection_chart())
    # Plot area 64..576 on a 1-5 axis: 128 units per point, so 3 is the middle (320).
    assert (PLOT_LEFT, PLOT_RIGHT) == (64, 576)
    a = [centre(el) for el in markers(root, "a")]
    b = [centre(el) for el in markers(root, "b")]
    assert a == [(256.0, 78.0), (320.0, 130.0)]  # 2.5 and 3.0; rows start at y 40 and are 52 high
    assert b == [(448.0, 78.0), (320.0, 130.0), (64.0, 182.0)]  # 4.0, 3.0, 1.0
    # The connector joins the two markers of a row with both scores, and only those.
    connectors = [el for el in root.iter(SVG + "line") if el.get("stroke-width") == "3"]
    assert [(el.get("x1"), el.get("x2"), el.get("y1")) for el in connectors] == [
        ("256", "448", "78"),
        ("320", "320", "130"),
    ]
    for value in ("2.50", "4.00", "3.00", "1.00"):
        assert value in texts(root)


def test_dumbbell_middle_of_a_six_point_scale_and_ticks_at_each_whole_number():
    root = parse(dumbbell([("I-position", 3.5, 2.0)], low=1, high=6, title="Differentiation", names=NAMES))
    assert centre(markers(root, "a")[0])[0] == 320.0  # 64 + 2.5 / 5 * 512
    assert centre(markers(root, "b")[0])[0] == pytest.approx(166.4)  # 64 + 1 / 5 * 512
    ticks = [el for el in root.iter(SVG + "text") if el.get("text-anchor") == "middle"]
    assert [(el.text, el.get("x")) for el in ticks] == [
        ("1", "64"),
        ("2", "166.4"),
        ("3", "268.8"),
        ("4", "371.2"),
        ("5", "473.6"),
        ("6", "576"),
    ]


def test_dumbbell_writes_not_enough_answers_instead_of_a_marker():
    root = parse(connection_chart())
    assert len(markers(root, "a")) == 2  # rows 3 and 4 have no score for Jordan
    assert len(markers(root, "b")) == 3  # row 4 has none for Mika
    words = texts(root)
    assert words.count("Jordan: not enough answers") == 2
    assert words.count("Mika: not enough answers") == 1
    # A missing score is never drawn as a number: no "0.00" or "None" stands in for it.
    assert not any(w in ("0.00", "None", "nan") for w in words)


def test_partners_differ_by_shape_as_well_as_colour_and_the_legend_names_them():
    root = parse(connection_chart())
    assert {el.tag for el in markers(root, "a")} == {SVG + "circle"}
    assert {el.tag for el in markers(root, "b")} == {SVG + "rect"}
    assert {el.get("fill") for el in markers(root, "a")} == {COLOUR_A}
    assert {el.get("fill") for el in markers(root, "b")} == {COLOUR_B}
    legend = {el.get("data-partner"): el.tag for el in root.iter() if el.get("data-legend")}
    assert legend == {"a": SVG + "circle", "b": SVG + "rect"}
    assert "A: Jordan" in texts(root) and "B: Mika" in texts(root)


def test_equal_scores_keep_both_markers_visible():
    root = parse(dumbbell([("Affection", 3.0, 3.0)], low=1, high=5, title="t", names=NAMES))
    shapes = [el for el in root.iter() if el.get("data-partner") and el.tag in (SVG + "circle", SVG + "rect")]
    data = [el for el in shapes if not el.get("data-legend")]
    # B's square is drawn first and A's smaller circle on top: the square's corners still show.
    assert [el.tag for el in data] == [SVG + "rect", SVG + "circle"]
    assert centre(data[0]) == centre(data[1])
    assert float(data[0].get("width")) / 2 * 2**0.5 > float(data[1].get("r"))


def multiples(points=None, **kw) -> str:
    """Two panels: one on a 1-5 mean, one on a 0-9 sum."""
    panels = kw.pop(
        "panels",
        [
            ("Feeling heard", 1, 5, points or [("Intake", 2.0, 3.0), ("Week 6", 2.5, None)]),
            ("Pursuing", 0, 9, [("Intake", 3.0, 6.0), ("Week 6", 4.0, 5.0)]),
        ],
    )
    return small_multiples(panels, title=kw.pop("title", "Connection over time"), names=kw.pop("names", NAMES), **kw)


@pytest.mark.parametrize("chart", ["dumbbell", "multiples"])
def test_user_and_instrument_text_is_escaped(chart):
    names = ('<b>Jo</b> & "Jay"', "Mika's")
    if chart == "dumbbell":
        svg = dumbbell([(HOSTILE, 2.0, 3.0)], low=1, high=5, title=HOSTILE, names=names)
    else:
        svg = multiples(
            panels=[(HOSTILE, 1, 5, [(HOSTILE, 2.0, 3.0), ("Later", None, 4.0)])], title=HOSTILE, names=names
        )
    assert "<script" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&amp;" in svg
    root = parse(svg)
    # Escaped, not mangled: the parsed text is exactly what was given.
    assert root.find(SVG + "title").text == HOSTILE
    assert HOSTILE in root.find(SVG + "desc").text
    assert f"A: {names[0]}" in texts(root) and f"B: {names[1]}" in texts(root)
    # A small panel's labels may be cut, but they are cut as text.
    assert any(t == HOSTILE or (t.startswith('<script>alert("x")') and t.endswith("…")) for t in texts(root))


def test_characters_xml_cannot_carry_are_dropped_and_long_labels_are_cut():
    label = "Feeling heard\x00\x0b" + " and understood" * 10
    root = parse(dumbbell([(label, 2.0, 3.0)], low=1, high=5, title="t\x1f", names=("J\x07", "M")))
    drawn = next(t for t in texts(root) if t.startswith("Feeling heard"))
    assert drawn.endswith("…") and len(drawn) < len(label)
    # The full label is still in the description for screen readers.
    assert "Feeling heard and understood and understood" in root.find(SVG + "desc").text
    assert "A: J" in texts(root)


@pytest.mark.parametrize(
    "svg",
    [
        connection_chart(names=("javascript:alert(1)", "url(x)")),
        multiples(names=("javascript:alert(1)", "url(x)")),
    ],
    ids=["dumbbell", "multiples"],
)
def test_charts_are_self_contained(svg):
    root = parse(svg)
    # The namespace declaration is an identifier, never fetched; nothing else may point outside.
    rest = svg.replace(NAMESPACE, "", 1)
    for needle in ("http", "url(", "<script", "href", "<image", "<style", "style=", "class=", "@import"):
        assert needle not in rest.replace("url(x)", "").replace("javascript:alert(1)", ""), needle
    for el in root.iter():
        assert not any(name.startswith("on") for name in el.attrib), el.attrib
        assert "href" not in "".join(el.attrib)


def test_output_is_deterministic_and_ids_differ_between_charts():
    assert connection_chart() == connection_chart()
    assert multiples() == multiples()
    first = parse(connection_chart()).find(SVG + "title").get("id")
    other = parse(connection_chart(title="Other")).find(SVG + "title").get("id")
    assert first != other
    named = parse(connection_chart(chart_id="connection-intake"))
    assert named.get("aria-labelledby") == "connection-intake-title connection-intake-desc"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"low": 5, "high": 1},
        {"low": 1, "high": 1},
        {"rows": [("x", 0.5, 3.0)]},
        {"rows": [("x", 3.0, 5.5)]},
        {"rows": [("x", float("nan"), 3.0)]},
        {"rows": []},
        {"chart_id": 'x" onload="alert(1)'},
    ],
)
def test_dumbbell_refuses_what_it_cannot_draw_honestly(kwargs):
    rows = kwargs.pop("rows", [("x", 2.0, 3.0)])
    with pytest.raises(ValueError):
        dumbbell(rows, title="t", names=NAMES, **{"low": 1, "high": 5, **kwargs})


def test_small_multiples_put_each_measure_in_its_own_panel_on_its_own_axis():
    root = parse(multiples(points=[("Intake", 1.0, 3.0), ("Week 6", 5.0, None)]))
    # Three panels a row, 190.67 wide and 18 apart, from x 16; a panel's plot runs from its
    # left + 26 (tick labels) to its right - 8, its points 8 in from there; y from 138 (low) up to 66 (high).
    a = [centre(el) for el in markers(root, "a")]
    b = [centre(el) for el in markers(root, "b")]
    assert a[:2] == [(50.0, 138.0), (pytest.approx(190.67, abs=0.01), 66.0)]
    # Pursuing, a sum from 0 to 9, in the second panel (x from 224.67): 3 -> y 114, 4 -> 106.
    assert a[2:] == [(pytest.approx(258.67, abs=0.01), 114.0), (pytest.approx(399.33, abs=0.01), 106.0)]
    assert b[0] == (
        pytest.approx(50, abs=0.01),
        pytest.approx(102, abs=0.01),
    )  # Mika's 3.0 at Intake; no marker at Week 6 (not enough answers)
    lines = {(el.get("data-partner"), el.get("points")) for el in root.iter(SVG + "polyline")}
    assert ("a", "50,138 190.67,66") in lines
    assert not any(partner == "b" and points.startswith("50,") for partner, points in lines)  # one point: no line
    colours = {el.get("data-partner"): el.get("stroke") for el in root.iter(SVG + "polyline")}
    assert colours == {"a": COLOUR_A, "b": COLOUR_B}
    dashed = {el.get("data-partner"): bool(el.get("stroke-dasharray")) for el in root.iter(SVG + "polyline")}
    assert dashed == {"a": False, "b": True}  # B's line is dashed too, so the lines differ without colour
    for label in ("Feeling heard", "Pursuing", "Intake", "Week 6", "1", "5", "0", "9", "A: Jordan", "B: Mika"):
        assert label in texts(root), label
    assert root.find(SVG + "desc").text == (
        "Feeling heard (from 1 to 5): Intake: Jordan 1.00, Mika 3.00; Week 6: Jordan 5.00, Mika not enough answers. "
        "Pursuing (from 0 to 9): Intake: Jordan 3.00, Mika 6.00; Week 6: Jordan 4.00, Mika 5.00."
    )


def test_small_multiples_break_a_line_at_a_missing_score():
    points = [("I", 1.0, 2.0), ("II", None, 2.0), ("III", 3.0, 2.0), ("IV", 4.0, None)]
    root = parse(multiples(panels=[("Feeling heard", 1, 5, points)]))
    runs = [(el.get("data-partner"), len(el.get("points").split())) for el in root.iter(SVG + "polyline")]
    # Mika: I-III joined, nothing at IV; Jordan: I alone (no line), then III-IV.
    assert sorted(runs) == [("a", 2), ("b", 3)]


@pytest.mark.parametrize(
    "panels",
    [[], [("x", 1, 5, [])], [("x", 1, 5, [("I", 6.0, 2.0)])], [("x", 5, 1, [("I", 2.0, 2.0)])]],
    ids=["no panels", "no points", "out of range", "backwards axis"],
)
def test_small_multiples_refuse_what_they_cannot_draw_honestly(panels):
    with pytest.raises(ValueError):
        small_multiples(panels, title="t", names=NAMES)


def test_a_dumbbell_leaves_out_a_partner_who_has_not_sent_anything():
    root = parse(
        dumbbell(
            [("Feeling heard", 2.0, None), ("Affection", 3.0, None)],
            low=1,
            high=5,
            title="t",
            names=NAMES,
            sent=(True, False),
        )
    )
    assert markers(root, "b") == []
    assert not any("not enough answers" in t for t in texts(root))  # no note repeated for each row
    assert "A: Jordan" in texts(root) and not any(t.startswith("B:") for t in texts(root))
    assert root.find(SVG + "desc").text == "Scores from 1 to 5. Feeling heard: Jordan 2.00. Affection: Jordan 3.00."


# --- the compact layout for phones -------------------------------------------------------------------
# A phone shows a chart about 330 CSS px wide (390 px minus the page's and the card's padding).
PHONE_WIDTH = 330


def smallest_text_at(svg: str, width: float) -> float:
    """The smallest font size of a chart, in CSS px, when it is shown `width` px wide."""
    root = parse(svg)
    view_width = float(root.get("viewBox").split()[2])
    return min(float(el.get("font-size")) for el in root.iter(SVG + "text")) * width / view_width


@pytest.mark.parametrize(
    "draw",
    [
        lambda **kw: connection_chart(**kw),
        lambda **kw: multiples(**kw),
    ],
    ids=["dumbbell", "multiples"],
)
def test_the_compact_layout_keeps_text_readable_on_a_phone(draw):
    wide, compact = draw(), draw(compact=True)
    assert (parse(wide).get("data-layout"), parse(compact).get("data-layout")) == ("wide", "compact")
    assert parse(compact).get("viewBox").startswith("0 0 360 ")
    # The wide chart would shrink its smallest text to about 6 px; the compact one keeps it above 12 px.
    assert smallest_text_at(wide, PHONE_WIDTH) < 7
    assert smallest_text_at(compact, PHONE_WIDTH) > 12.5
    # Same numbers and words for a screen reader; different ids, since both sit on one page.
    assert parse(wide).find(SVG + "desc").text == parse(compact).find(SVG + "desc").text
    assert parse(wide).find(SVG + "title").get("id") != parse(compact).find(SVG + "title").get("id")


def test_compact_dumbbell_keeps_every_mark_inside_its_width():
    root = parse(connection_chart(compact=True, names=("A very long first name indeed", "Mika")))
    width = float(root.get("viewBox").split()[2])
    xs = [centre(el)[0] for p in ("a", "b") for el in markers(root, p)]
    assert xs and all(0 < x < width for x in xs)
    # 1-5 on the compact axis 52..308: 3 is the middle (180).
    (affection_a,) = [x for x in (centre(el)[0] for el in markers(root, "a")) if abs(x - 180) < 0.01]
    assert affection_a == pytest.approx(180)
    legend = [el for el in root.iter(SVG + "text") if el.get("data-partner") == "b" and el.text.startswith("B:")]
    assert float(legend[0].get("x")) < width - 40  # B's key still starts inside the chart
