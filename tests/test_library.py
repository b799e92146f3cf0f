"""The questionnaire library: every shipped instrument readable in full by any signed-in clinician."""

import itertools
import re

import pytest
from markupsafe import escape

from clinic import catalog
from instruments import Registry, load_registry, parse_instrument
from tests.conftest import login
from tests.tiny_catalog import tiny  # noqa: F401 -- a fixture

SHIPPED = load_registry()
NO_PSYCHOMETRICS = "No psychometrics: reliable change cannot be judged."


def page_of(browser, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def section(page: str, element_id: str) -> str:
    """The <article> of one subscale or total, by its heading id."""
    match = re.search(rf'<article class="card" aria-labelledby="{element_id}">(.*?)</article>', page, re.S)
    assert match, element_id
    return match.group(1)


def items_table(page: str) -> str:
    match = re.search(r'<table class="library-items[^"]*"[^>]*>(.*?)</table>', page, re.S)
    assert match
    return match.group(1)


@pytest.mark.parametrize("url", ["/instruments/", "/instruments/connection/v1"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin?next=")


def test_index_lists_every_instrument_with_its_facts(client, make_practice, make_clinician):
    # Any clinician may read the library, not only the practice owner.
    page = page_of(login(client, make_clinician(make_practice())), "/instruments/")
    assert "<title>Questionnaire library · Tandem</title>" in page
    for inst in SHIPPED:
        assert f'href="/instruments/{inst.id}/v{inst.version}">{escape(inst.title)}</a>' in page
        assert str(escape(inst.description_clinician)) in page
    assert page.count("check-in, not normed") == len(SHIPPED)
    assert len(SHIPPED.get("connection", 1).items) == 38
    assert "Version 1 · Scored questionnaire · about 8 minutes · 38 questions · check-in, not normed" in page
    assert "Version 1 · Screen, read answer by answer · about 2 minutes · 8 questions" in page
    assert "about 1 minute · 4 questions" in page  # the check-in: singular minute


@pytest.mark.parametrize("key", SHIPPED.all(), ids=[f"{i}-v{v}" for i, v in SHIPPED.all()])
def test_every_instrument_page_shows_everything(key, client, make_practice):
    inst = SHIPPED.get(*key)
    page = page_of(login(client, make_practice()), f"/instruments/{inst.id}/v{inst.version}")
    assert f"<h1>{escape(inst.title)}</h1>" in page
    for text in (inst.description_clinician, inst.description_client, inst.attribution, inst.licence):
        assert str(escape(text)) in page
    table = items_table(page)
    # Every item, HTML-escaped, in file order.
    positions = [table.index(f'<th scope="row">{escape(item.text)}</th>') for item in inst.items]
    assert positions == sorted(positions)
    assert table.count("<tr>") == len(inst.items) + 1  # plus the header row
    for scale in inst.scales.values():
        for option in scale.values:
            assert f"<td>{escape(option.label)}</td>" in page
    for measure in inst.measures():
        part = section(page, f"measure-{measure.id}")
        for band in measure.bands:
            assert f'<th scope="row">{escape(band.label)}</th>' in part
            assert str(escape(band.meaning)) in part
        for prompt in measure.prompts:
            assert f"<li>{escape(prompt.text)}</li>" in part
    if inst.notice:
        assert str(escape(inst.notice)) in page
    assert "This is a check-in, not a normed test" in page


@pytest.mark.parametrize("key", SHIPPED.all(), ids=[f"{i}-v{v}" for i, v in SHIPPED.all()])
def test_instrument_pages_are_accessible(key, client, make_practice):
    page = page_of(login(client, make_practice()), "/instruments/{}/v{}".format(*key))
    levels = [int(n) for n in re.findall(r"<h([1-6])[ >]", page)]
    assert levels.count(1) == 1 and levels[0] == 1
    # Headings go down one level at a time.
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    tables = re.findall(r"<table[^>]*>(.*?)</table>", page, re.S)
    assert tables
    for table in tables:
        assert table.lstrip().startswith("<caption")
        assert all("scope=" in th for th in re.findall(r"<th[ >][^>]*", table))
    # Every table scrolls inside its own box on a narrow screen instead of widening the page.
    assert page.count('<div class="table-scroll">') == len(tables)


def test_connection_says_plainly_that_reliable_change_cannot_be_judged(client, make_practice):
    page = page_of(login(client, make_practice()), "/instruments/connection/v1")
    # Tandem's own check-in has no validation study: none of its eight areas or its total has psychometrics.
    assert page.count(NO_PSYCHOMETRICS) == 9
    assert "reliability 0." not in page and "RCI above" not in page and "provisional" not in page
    assert NO_PSYCHOMETRICS in section(page, "measure-heard") and NO_PSYCHOMETRICS in section(page, "measure-total")


@pytest.mark.usefixtures("tiny")
def test_an_instrument_with_psychometrics_shows_them_and_its_reliable_change_thresholds(client, make_practice):
    # The engine's tiny test instrument (tests/tiny_catalog.py): psychometrics on "heard" and the total only.
    page = page_of(login(client, make_practice()), "/instruments/tiny/v1")
    heard = section(page, "measure-heard")
    # SD 0.7, r 0.85: SE = 0.7 x sqrt(0.15) = 0.2711; one score: 1.96 x sqrt(2) x 0.2711 = 0.7515 -> 0.76
    # (the first hundredth above it); the gap: 1.96 x 2 x 0.2711 = 1.0627 -> 1.07.
    assert "SD 0.7, reliability 0.85." in heard
    assert "moves by 0.76 points or more (RCI above 1.96)" in heard
    assert "size changes by 1.07 points or more" in heard
    total = section(page, "measure-total")
    # SD 0.5, r 0.9: SE = 0.1581; 1.96 x 0.2236 = 0.4383 -> 0.44; 1.96 x 0.3162 = 0.6198 -> 0.62.
    assert "SD 0.5, reliability 0.9." in total
    assert "moves by 0.44 points or more" in total and "changes by 0.62 points or more" in total
    # Its other two areas have none, and say so.
    assert NO_PSYCHOMETRICS in section(page, "measure-warmth") and NO_PSYCHOMETRICS in section(page, "measure-pulling")
    assert page.count(NO_PSYCHOMETRICS) == 2


def test_differentiation_says_plainly_that_reliable_change_cannot_be_judged(client, make_practice):
    page = page_of(login(client, make_practice()), "/instruments/differentiation/v1")
    # Four facets and the total, none with psychometrics.
    assert page.count(NO_PSYCHOMETRICS) == 5
    assert "reliability 0." not in page and "RCI above" not in page
    # No clinical cut-offs: no band is a concern band, and the page says so instead of listing prompts.
    for measure in ("reactivity", "i_position", "cutoff", "fusion", "total"):
        part = section(page, f"measure-{measure}")
        assert "<strong>Yes</strong>" not in part and part.count('data-label="Concern band">No</td>') == 3
    assert page.count("No band is a concern band, so no prompts are suggested.") == 5


def test_scoring_rules_are_written_out(client, make_practice):
    page = page_of(login(client, make_practice()), "/instruments/connection/v1")
    heard = section(page, "measure-heard")
    assert "Mean of its 5 questions, after reverse keying." in heard
    assert "At least 75% of its questions (4 of 5)" in heard  # 0.75 x 5 = 3.75, so 4
    assert "<dd>1 to 5</dd>" in heard
    assert "Higher scores point to more of this strength." in heard
    assert re.findall(r'data-label="Scores">([^<]+)<', heard) == [
        "Below 2.5",
        "2.5 to under 3.5",
        "3.5 and above",
    ]
    strained = re.search(r"<tr[^>]*>(.*?Strained</th>.*?)</tr>", heard).group(1)
    assert "Often feels unheard or brushed off; hard talks tend to go badly." in strained
    assert 'data-label="Concern band"><strong>Yes</strong>' in strained
    # Prompts are grouped under their theme labels, in the order of PRODUCT.md's "what helps".
    assert re.findall(r"<h5>(.*?)</h5>", heard) == [
        "Calm, planned talks",
        "Small daily connection",
        "Curiosity about each other",
    ]
    pursuing = section(page, "measure-pursuing")
    assert "Higher scores point to more of this concern." in pursuing
    assert "Mean of its 4 questions, after reverse keying." in pursuing
    total = section(page, "measure-total")
    assert "(total)" in total
    assert "all 25 questions of Feeling heard, Affection and physical closeness, Sharing" in total
    assert "(19 of 25)" in total  # 0.75 x 25 = 18.75, so 19
    checkin = page_of(client, "/instruments/checkin/v1")
    # Nothing in the check-in is reversed, so its rule does not mention keying.
    assert "Mean of its 4 questions.</dd>" in section(checkin, "measure-overall")
    assert "Reverse-keyed" not in checkin


def test_reverse_keyed_items_are_marked(client, make_practice):
    inst = SHIPPED.get("connection", 1)
    table = items_table(page_of(login(client, make_practice()), "/instruments/connection/v1"))
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]
    marked = [
        re.search(r'<th scope="row"[^>]*>(.*?)</th>', row).group(1) for row in rows if "<strong>Yes</strong>" in row
    ]
    assert marked == [str(escape(item.text)) for item in inst.items if item.reverse]
    assert marked  # the file does reverse-key some items


def test_safety_rules_and_levels_are_shown(client, make_practice):
    inst = SHIPPED.get("safety", 1)
    page = page_of(login(client, make_practice()), "/instruments/safety/v1")
    table = items_table(page)
    for item in inst.items:
        level = {"urgent": "Urgent", "review": "For review"}[item.safety.level]
        assert f"{escape(item.text)}</th>" in table
        assert f"<strong>{level}</strong>: flags Once or twice (2), Sometimes (3), Often (4)" in table
    assert "A safety flag is shown to you only, never to the other partner." in page
    assert "Not scored: each answer is read on its own." in page


def test_checklist_with_a_free_text_item_names_its_answer_types(client, make_practice):
    page = page_of(login(client, make_practice()), "/instruments/life_context/v1")
    table = items_table(page)
    assert "Not happening (1) to Happening, weighing on me (3)" in table
    assert "Free text, optional, up to" in table
    assert "Not scored: read it answer by answer" in page


@pytest.mark.parametrize(
    "url",
    [
        "/instruments/nonesuch/v1",
        "/instruments/connection/v2",
        "/instruments/connection/v0",
        "/instruments/connection/vx",
        "/instruments/connection/1",
        "/instruments/connection",
    ],
)
def test_unknown_instrument_or_version_is_not_found(client, make_practice, url):
    response = login(client, make_practice()).get(url)
    assert response.status_code == 404
    assert "We couldn't find that page" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/instruments/", "/instruments/connection/v1", "/instruments/safety/v1"])
def test_library_pages_load_only_the_signed_in_clinician(client, make_practice, count_queries, url):
    login(client, make_practice())
    with count_queries() as statements:
        assert client.get(url).status_code == 200
    # Instruments live in memory; the only query is the session's user.
    assert len(statements) == 1, statements


HOSTILE = "<script>alert(\"x\")</script> & 'q'"


def hostile_instrument():
    """A licensed-in instrument whose author text would run as script if it were not escaped."""
    band = {"label": HOSTILE, "meaning": HOSTILE}
    return parse_instrument(
        {
            "id": "hostile",
            "version": 3,
            "kind": "scored",
            "title": HOSTILE,
            "description_client": HOSTILE,
            "description_clinician": HOSTILE,
            "minutes": 5,
            "attribution": HOSTILE,
            "licence": HOSTILE,
            "normed": True,
            "notice": HOSTILE,
            "shuffle": True,
            "scales": {"pick": {"values": [{"value": 0, "label": HOSTILE}, {"value": 1, "label": "Other"}]}},
            "items": [
                {"id": "one", "text": HOSTILE, "scale": "pick", "subscale": "s"},
                {"id": "two", "text": "Second", "scale": "pick", "subscale": "s"},
            ],
            "subscales": [
                {
                    "id": "s",
                    "label": HOSTILE,
                    "description": HOSTILE,
                    "method": "sum",
                    "min_answered": 0.5,
                    "direction": "concern",
                    "bands": [{"below": 1, **band, "concern": True}, band],
                    "norms": {"mean": 0.8, "sd": 0.4},
                    "prompts": [{"theme": "repair_trust", "text": HOSTILE}],
                }
            ],
        },
        "hostile-v3.yaml",
    )


def test_author_text_is_escaped_and_other_rules_are_worded(app, client, make_practice, monkeypatch):
    monkeypatch.setitem(app.extensions, catalog.EXTENSION_KEY, Registry([hostile_instrument()]))
    login(client, make_practice())
    for url in ("/instruments/", "/instruments/hostile/v3"):
        page = page_of(client, url)
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;q&#39;" in page
    page = page_of(client, "/instruments/hostile/v3")
    assert "Sum of its 2 questions. When some are skipped, the mean of the answered ones times 2" in page
    assert "At least 50% of its questions (1 of 2)" in page
    assert "<dd>0 to 2</dd>" in page  # a sum of two items on a 0-1 scale
    assert "Mean 0.8, SD 0.4: scores also show as z-scores and percentiles." in page
    assert "This questionnaire has published norms" in page
    assert "Shuffled for each partner" in page
    assert "<h5>Repair and rebuilding trust</h5>" in page
    assert "Suggested for the session when a partner's score falls in a concern band." in page
