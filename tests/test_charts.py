"""Server-side SVG charts: well-formed, self-contained, escaped, and drawn where the numbers say."""

import xml.etree.ElementTree as ET

import pytest

from clinic.charts import COLOUR_A, COLOUR_B, PLOT_LEFT, PLOT_RIGHT, dumbbell, trend

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


@pytest.mark.parametrize("chart", ["dumbbell", "trend"])
def test_user_and_instrument_text_is_escaped(chart):
    names = ('<b>Jo</b> & "Jay"', "Mika's")
    if chart == "dumbbell":
        svg = dumbbell([(HOSTILE, 2.0, 3.0)], low=1, high=5, title=HOSTILE, names=names)
    else:
        svg = trend([(HOSTILE, 2.0, 3.0), ("Later", None, 4.0)], low=1, high=5, title=HOSTILE, names=names)
    assert "<script" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&amp;" in svg
    root = parse(svg)
    # Escaped, not mangled: the parsed text is exactly what was given.
    assert root.find(SVG + "title").text == HOSTILE
    assert HOSTILE in root.find(SVG + "desc").text
    assert f"A: {names[0]}" in texts(root) and f"B: {names[1]}" in texts(root)
    # The trend's occasion column is narrow, so the label may be cut, but it is cut as text.
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
        trend([("Intake", 2.0, 3.0), ("Week 6", 2.5, None)], low=1, high=5, title="t", names=NAMES),
    ],
    ids=["dumbbell", "trend"],
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
    assert trend([("I", 1.0, 2.0)], low=1, high=5, title="t", names=NAMES) == trend(
        [("I", 1.0, 2.0)], low=1, high=5, title="t", names=NAMES
    )
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


def test_trend_puts_occasions_and_scores_where_the_axes_say():
    series = [("Intake", 1.0, 2.0), ("Week 6", 2.0, 3.0), ("Week 12", 3.0, 5.0)]
    root = parse(trend(series, low=1, high=5, title="Feeling heard over time", names=NAMES))
    # Occasions are spread over 112..528 (the plot area inset by 48); the scale runs from y 264 (1) up to y 58 (5).
    assert [centre(el) for el in markers(root, "a")] == [(112.0, 264.0), (320.0, 212.5), (528.0, 161.0)]
    assert [centre(el) for el in markers(root, "b")] == [(112.0, 212.5), (320.0, 161.0), (528.0, 58.0)]
    lines = {el.get("data-partner"): el for el in root.iter(SVG + "polyline")}
    assert lines["a"].get("points") == "112,264 320,212.5 528,161"
    assert lines["b"].get("points") == "112,212.5 320,161 528,58"
    assert lines["a"].get("stroke") == COLOUR_A and lines["b"].get("stroke") == COLOUR_B
    # B's line is dashed as well as orange, so the lines differ without colour.
    assert lines["b"].get("stroke-dasharray") and not lines["a"].get("stroke-dasharray")
    for label in ("Intake", "Week 6", "Week 12", "1.00", "2.00", "3.00", "5.00", "A: Jordan", "B: Mika"):
        assert label in texts(root)
    assert root.find(SVG + "desc").text == (
        "Scores from 1 to 5, by assessment. Intake: Jordan 1.00, Mika 2.00. "
        "Week 6: Jordan 2.00, Mika 3.00. Week 12: Jordan 3.00, Mika 5.00."
    )


def test_trend_breaks_the_line_at_a_missing_score():
    series = [("I", 1.0, 2.0), ("II", None, 2.0), ("III", 3.0, 2.0), ("IV", 4.0, None), ("V", 5.0, 2.0)]
    root = parse(trend(series, low=1, high=5, title="t", names=NAMES))
    # Five occasions: 104 apart from 112. Jordan's line restarts after II, Mika's after IV.
    a = [el.get("points") for el in root.iter(SVG + "polyline") if el.get("data-partner") == "a"]
    b = [el.get("points") for el in root.iter(SVG + "polyline") if el.get("data-partner") == "b"]
    assert a == ["320,161 424,109.5 528,58"]  # I stands alone: a one-point run draws no line
    assert b == ["112,212.5 216,212.5 320,212.5"]  # V stands alone after the gap at IV
    assert [centre(el)[0] for el in markers(root, "a")] == [112.0, 320.0, 424.0, 528.0]
    assert [centre(el)[0] for el in markers(root, "b")] == [112.0, 216.0, 320.0, 528.0]
    assert "Jordan: not enough answers at II" in texts(root)
    assert "Mika: not enough answers at IV" in texts(root)


def test_trend_with_no_scores_for_one_partner_draws_only_the_other():
    root = parse(trend([("I", None, 2.0), ("II", None, 3.0)], low=1, high=5, title="t", names=NAMES))
    assert markers(root, "a") == []
    assert [el.get("data-partner") for el in root.iter(SVG + "polyline")] == ["b"]
    assert "Jordan: not enough answers at I, II" in texts(root)


def test_trend_refuses_an_empty_series_and_out_of_range_scores():
    with pytest.raises(ValueError):
        trend([], low=1, high=5, title="t", names=NAMES)
    with pytest.raises(ValueError):
        trend([("I", 6.0, 2.0)], low=1, high=5, title="t", names=NAMES)


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
        lambda **kw: trend([("Intake", 2.0, None), ("Week 6", 3.5, 4.0)], low=1, high=5, title="T", names=NAMES, **kw),
    ],
    ids=["dumbbell", "trend"],
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
