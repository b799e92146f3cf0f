"""How the session-prep report and the couple summary lay out on paper, for the demo couples a new
user sees first (seed-demo, as in tests/test_demo.py) and for small hand-built couples.

The brief fits on page 1 and the scores at a glance start page 2; an intake report is at most four
pages and a summary at most two; no word is broken inside a table cell. The summary keeps each
partner's answers to themselves, shows the statements both see positively only when both partners
agreed, and carries the therapist's note (which never reaches the clinician's own report).

Text is read back out of the PDFs with pypdf (see tests/test_reports_pdf.py for its quirks).
"""

from __future__ import annotations

import html as htmllib
import io
import re
import unicodedata
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import weasyprint
from flask import render_template
from pypdf import PdfReader

from clinic import catalog, memo
from clinic.extensions import db as _db
from clinic.models import Assessment, Couple, Invitation, Report, ReportStatus
from clinic.reports import pdf
from tests.conftest import login
from tests.test_reports import ask, wait_until_done
from tests.test_reports_pdf import (
    AFFECTION_HIGH,
    CHECKIN_A,
    CHECKIN_B,
    NEVER,
    RITUALS_LOW,
    RITUALS_PROMPTS,
    context_for,
    empty_database,
    flat,
    pages_of,
    shows,
    text_of,
)

# The demo couples whose only (and so latest) assessment is the intake, and every demo couple
# someone has sent answers for (L & R has an intake and a week-8 assessment; in H & W only Hana sent).
INTAKE_ONLY = ("M & D", "S & K", "N & T")
ANSWERED = ("M & D", "S & K", "L & R", "N & T", "H & W")
DEMO_LABELS = ("M & D", "S & K", "L & R", "N & T", "E & O", "H & W", "G & B")

# What report.css writes into the page margins (@top-left, @bottom-right): text the PDF holds
# that no template does. The running title and the generation time come from the HTML itself.
MARGIN_TEXT = "Confidential — contains health information Page of"
# A word as the check sees it: a run of letters (digits, signs and punctuation split words).
WORD = re.compile(r"[^\W\d_]+")
SHORTEST = 3  # one- and two-letter runs are mostly tags (A, B), initials and pypdf's splits
LONGEST_RUN = 12  # pypdf glues at most this many chart or table words together


# --- helpers ----------------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    return WORD.findall(unicodedata.normalize("NFC", text))


def html_text(markup: str) -> str:
    """The text of a rendered report page: the body without tags (each tag a space), unescaped,
    plus the text report.css prints in the page margins."""
    body = markup.split("<body>", 1)[1]
    body = re.sub(r"<style\b.*?</style>", " ", body, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body)) + " " + MARGIN_TEXT


def whole_words(reference: str) -> set[str]:
    """Every word of the reference text, and every run of up to LONGEST_RUN consecutive words
    written together: pypdf drops the space between two table cells ("respectnot") and between
    the words of a chart label it places one by one ("Howthingsfeeloverall")."""
    words = words_of(reference)
    runs = set(words)
    for start in range(len(words)):
        for end in range(start + 2, min(start + LONGEST_RUN, len(words)) + 1):
            runs.add("".join(words[start:end]))
    return runs


def broken_words(pdf_text: str, reference: str) -> list[str]:
    """Words of SHORTEST letters or more in the PDF's text that are not a whole word (or a run of
    whole words) of the reference text: a word broken across two lines shows up as fragments.

    pypdf sets a space after a kerned capital ("T andem", "T omás"): a single capital, one space
    and letters that together make a whole word are read as that word. A line break between them
    (a real break) is never joined."""
    known = whole_words(reference)
    text = unicodedata.normalize("NFC", pdf_text)

    def unkern(match: re.Match) -> str:
        joined = match.group(1) + match.group(2)
        return joined if joined in known else match.group(0)

    text = re.sub(r"(?<![^\W\d_])([A-Z]) ([^\W\d_]+)", unkern, text)
    return [word for word in words_of(text) if len(word) >= SHORTEST and word not in known]


def raw_text(pdf_bytes: bytes) -> str:
    """The PDF's text as pypdf extracts it, lines and spaces kept."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_bytes)).pages)


def page_count(pdf_bytes: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf_bytes)).pages)


def rendered_html(ctx: dict) -> str:
    """The HTML the PDF is made from, rendered from the same context (needs an app context)."""
    return render_template(pdf.TEMPLATES[ctx["kind"]], report=pdf._template_context(ctx))


def choice_labels() -> set[str]:
    """Every answer option of every shipped questionnaire, in words ("Strongly agree", "Once or twice")."""
    registry = catalog.registry()
    return {
        value.label
        for instrument_id, version in registry.all()
        for scale in registry.get(instrument_id, version).scales.values()
        for value in scale.values
    }


def band_labels() -> set[str]:
    """Every band label of every shipped questionnaire ("Strained", "Often steps away to cope")."""
    registry = catalog.registry()
    return {
        band.label
        for instrument_id, version in registry.all()
        for measure in registry.get(instrument_id, version).measures()
        for band in measure.bands
    }


def safety_items() -> set[str]:
    registry = catalog.registry()
    return {
        item.text
        for instrument_id, version in registry.all()
        if registry.get(instrument_id, version).kind == "screen"
        for item in registry.get(instrument_id, version).items
    }


def said_anywhere(text: str, phrase: str) -> bool:
    """Whether pypdf's text (spaces kept) holds the phrase as whole words, whatever the line breaks."""
    spaced = re.sub(r"\s+", " ", text)
    words = r"\s*".join(re.escape(word) for word in phrase.split())
    return re.search(rf"(?<![^\W\d_]){words}(?![^\W\d_])", spaced) is not None


# --- the demo couples, rendered once -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(app):
    """Every demo couple's clinician report (no appendix) and summary: context, PDF, HTML and text."""
    out: dict[str, dict] = {}
    with app.app_context():
        empty_database()
        memo.init_app(app)
        try:
            result = app.test_cli_runner().invoke(args=["seed-demo"])
            assert result.exit_code == 0, result.output
            now = datetime.now(UTC)
            for couple in _db.session.scalars(sa.select(Couple)):
                entry: dict = {
                    "assessments": _db.session.scalar(
                        sa.select(sa.func.count(Assessment.id)).where(Assessment.couple_id == couple.id)
                    )
                }
                for kind in ("clinician", "summary"):
                    ctx = context_for(couple, kind, generated_at=now)
                    document = pdf.render_pdf(ctx)
                    entry |= {
                        f"{kind}_ctx": ctx,
                        kind: document,
                        f"{kind}_html": rendered_html(ctx),
                        f"{kind}_raw": raw_text(document),
                        f"{kind}_pages": pages_of(document),
                    }
                out[couple.label] = entry
        finally:
            empty_database()
            memo.init_app(app)
    assert sorted(out) == sorted(DEMO_LABELS)
    return out


# --- the clinician report ---------------------------------------------------------------------------------


@pytest.mark.parametrize("label", INTAKE_ONLY)
def test_an_intake_report_without_appendix_is_at_most_four_pages(demo, label):
    entry = demo[label]
    assert entry["assessments"] == 1 and entry["clinician_ctx"]["shown"]["occasion"] == "Intake"
    assert entry["clinician_ctx"]["appendix"] is None
    assert 2 <= len(entry["clinician_pages"]) <= 4


@pytest.mark.parametrize("label", ANSWERED)
def test_the_brief_is_page_one_and_the_scores_start_page_two(demo, label):
    entry = demo[label]
    first, second = entry["clinician_pages"][:2]
    points = entry["clinician_ctx"]["brief"]["points"]
    assert points, label
    for heading in ("Session brief", "Where things stand", "Safety", "For this session", points[0]["title"]):
        assert shows(first, heading), heading
    # Every talking point, the strengths and the opening questions fit on page 1 too.
    for point in points:
        assert shows(first, point["title"]), point["title"]
    assert shows(first, "Strengths to build on") and shows(first, "Questions to open with")
    assert flat("Scores at a glance") not in first
    assert second.startswith(flat("Scores at a glance"))


def test_a_couple_with_nothing_sent_gets_one_page_that_says_so(demo):
    # G & B: nothing sent yet. E & O: links sent, neither partner has sent answers.
    (nothing,) = demo["G & B"]["clinician_pages"]
    assert shows(nothing, "Where things stand No questionnaires sent yet.")
    (waiting,) = demo["E & O"]["clinician_pages"]
    assert waiting.count(flat("Waiting for")) == 2
    for page in (nothing, waiting):
        assert flat("For this session") not in page and flat("Scores at a glance") not in page


@pytest.mark.parametrize("label", DEMO_LABELS)
def test_no_word_is_broken_across_lines(demo, label):
    for kind in ("clinician", "summary"):
        entry = demo[label]
        assert broken_words(entry[f"{kind}_raw"], html_text(entry[f"{kind}_html"])) == [], kind


def test_the_word_check_finds_broken_words(app, demo):
    entry = demo["M & D"]
    reference = html_text(entry["clinician_html"])
    # Made-up breaks: a word split across two lines leaves fragments that are no word of the report.
    assert broken_words("Scores at a glance\nDaniel Mensah higher by 0.80 Dif\nference", reference) == [
        "Dif",
        "ference",
    ]
    assert broken_words("Withdra\nwing * 1.75 Low", reference) == ["Withdra", "wing"]
    # A kerned capital is joined only with a space, never across a line.
    assert broken_words("T andem's questionnaires", reference) == []
    assert broken_words("T\nandem's questionnaires", reference) == ["andem"]
    # The same report with the score tables' first column squeezed and words allowed to break
    # anywhere: the area names break, and the check sees it ("Withdra|wal", "Kindne|ss").
    squeezed = entry["clinician_html"].replace(
        "</head>",
        "<style>.scores thead th:nth-child(1) { width: 7%; } th, td { overflow-wrap: anywhere; }</style></head>",
    )
    with app.app_context():
        document = weasyprint.HTML(string=squeezed, base_url=pdf.BASE_URL, url_fetcher=pdf.safe_fetcher).write_pdf()
    assert {"Withdra", "Kindne", "connec"} <= set(broken_words(raw_text(document), reference))


# --- the couple summary ----------------------------------------------------------------------------------


@pytest.mark.parametrize("label", DEMO_LABELS)
def test_the_summary_is_at_most_two_pages(demo, label):
    assert 1 <= len(demo[label]["summary_pages"]) <= 2


@pytest.mark.parametrize("label", DEMO_LABELS)
def test_the_summary_holds_nothing_of_one_partner(app, demo, label):
    with app.app_context():
        answers, safety = choice_labels() | band_labels(), safety_items()
    entry = demo[label]
    text, spaced = text_of(entry["summary"]), entry["summary_raw"]
    clinician = entry["clinician_ctx"]
    # No score, difference or count of any kind: the only digits are the dates and times it was prepared.
    assert re.search(r"\d[.,]\d", text.replace(flat(entry["summary_ctx"]["generated_at"]), "")) is None
    # No answer and no band, in words.
    for words in sorted(answers):
        assert not said_anywhere(spaced, words), words
    # No safety item, nor the word.
    for item in safety:
        assert flat(item) not in text, item
    assert "safety" not in text.lower()
    # No free text a partner typed, no review note, no prep notes.
    free = [note["text"] for note in (clinician["life_context"] or {}).get("notes", [])]
    free += [flag["note"] for flag in clinician["brief"]["safety"]["reviewed"] if flag["note"]]
    free += [clinician["prep_notes"]] if clinician["prep_notes"] else []
    for typed in free:
        assert flat(typed) not in text, typed
    # Nothing the therapist may see only: no talking point, pattern side or individual area.
    for point in clinician["brief"]["points"]:
        assert flat(point["title"]) not in text, point["title"]
    # The pursue-withdraw theme says "one of you reaches", never who.
    for name in entry["summary_ctx"]["names"]:
        for told in (f"{name} reaches", f"{name} steps back", f"{name} higher by", f"Only {name}"):
            assert not said_anywhere(spaced, told), told
    assert not said_anywhere(spaced, "higher by") and not said_anywhere(spaced, "weighing on")


def test_the_demo_summaries_hold_themes_but_no_statements_without_consent(demo):
    # seed-demo records no consent: no couple's summary lists the statements both see positively.
    for label in DEMO_LABELS:
        ctx = demo[label]["summary_ctx"]
        assert ctx["strengths_shared"] is False and ctx["strengths"] == [], label
    # S & K: four shared concerns, the deepest first (tests/test_demo.py): the summary's four themes.
    assert [t["title"] for t in demo["S & K"]["summary_ctx"]["themes"]] == [
        "Shared time and rituals",
        "Affection and physical closeness",
        "Feeling heard",
        "Sharing feelings and worries",
    ]
    # M & D: the pursue-withdraw cycle, told without saying who pursues.
    text = text_of(demo["M & D"]["summary"])
    assert shows(text, "Themes to work on together Easing the pursue-withdraw cycle")
    for name in ("Mariana", "Daniel"):
        assert flat(f"{name} reaches") not in text and flat(f"{name} steps back") not in text


# --- consent to share what both see positively -----------------------------------------------------------

# Both answer the connection check-in with affection high and rituals low (tests/test_reports_pdf.py):
# every affection statement is a shared strength, but only the positively worded ones (affection_1, 2
# and 4) read as one without the answers; both partners are Strained on rituals (a shared concern).
STRENGTHS = (
    "We often hug, kiss or hold hands in passing.",
    "I feel wanted by my partner.",
    "I feel at ease asking my partner for a hug.",
)
REVERSED = ("Touch and closeness between us have faded.", "We can go days without a warm touch.")


@pytest.mark.parametrize(("a_agrees", "b_agrees"), [(False, False), (True, False), (False, True), (True, True)])
def test_shared_statements_appear_only_when_both_partners_agreed(
    db, make_practice, make_couple, make_assessment, answer_as, a_agrees, b_agrees
):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["connection"])
    first = answer_as(tokens[1], {"connection": AFFECTION_HIGH | RITUALS_LOW})
    second = answer_as(tokens[2], {"connection": AFFECTION_HIGH | RITUALS_LOW})
    for invitation, agrees in ((first, a_agrees), (second, b_agrees)):
        db.session.get(Invitation, invitation.id).shares_agreement = agrees
    db.session.commit()

    ctx = context_for(couple, "summary")
    text = text_of(pdf.render_pdf(ctx))
    shared = between_or_rest(text, "What you share", "Themes to work on together")
    both = a_agrees and b_agrees
    assert ctx["strengths_shared"] is both
    if both:
        assert ctx["strengths"] == list(STRENGTHS)
        assert shows(shared, "You both said these are true for you, and you both agreed they could appear here:")
        assert shows(shared, " ".join(f"“{s}”" for s in STRENGTHS))
    else:
        assert ctx["strengths"] == []
        assert shows(shared, "You both came, and you both took the time to answer honestly.")
        assert shows(shared, "Statements you both agree with appear here only when each of you has said they may.")
        for statement in STRENGTHS:
            assert flat(statement) not in text, statement
    for statement in REVERSED:
        assert flat(statement) not in text, statement
    # The theme is there whatever they agreed: both are Strained on shared time and rituals.
    themes = text.split(flat("Themes to work on together"), 1)[1]
    assert shows(
        themes,
        f"Shared time and rituals Small shared habits, fun together and checking in at the end of the day. Something to try: {RITUALS_PROMPTS[0]}",
    )
    assert shows(
        themes, "To talk about together: Which small moments together have you kept, and which have slipped away?"
    )


def between_or_rest(text: str, start: str, end: str) -> str:
    head = text.index(flat(start))
    tail = text.find(flat(end), head)
    return text[head : tail if tail >= 0 else len(text)]


# --- the therapist's note -------------------------------------------------------------------------------

NOTE = "Lovely to see you both.\nBefore we meet again, try the ten-minute check-in twice."


def download(browser, couple, report_id) -> bytes:
    response = browser.get(f"/couples/{couple.id}/reports/{report_id}/download")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    return response.data


def test_the_note_typed_for_a_summary_is_printed_in_it_and_never_in_the_clinician_report(
    client, db, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice(owner_name="Dr Alex Morgan")
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    browser = login(client, owner)

    summary_id = ask(browser, couple, "summary", note=NOTE)
    assert wait_until_done(db, summary_id) == ReportStatus.READY
    summary = text_of(download(browser, couple, summary_id))
    assert shows(summary, f"A note from Dr Alex Morgan {NOTE}")
    # The note closes the summary, after the themes.
    assert summary.index(flat("Themes to work on together")) < summary.index(flat("A note from"))

    # Without a note there is no note section; a different note is a different PDF.
    plain_id = ask(browser, couple, "summary")
    assert plain_id != summary_id
    assert wait_until_done(db, plain_id) == ReportStatus.READY
    plain = text_of(download(browser, couple, plain_id))
    assert flat("A note from") not in plain and flat("ten-minute check-in twice") not in plain

    # The clinician's own report never prints it, even when the form sends one.
    clinician_id = ask(browser, couple, "clinician", note=NOTE)
    assert wait_until_done(db, clinician_id) == ReportStatus.READY
    clinician = text_of(download(browser, couple, clinician_id))
    assert shows(clinician, "Session brief")
    assert flat("ten-minute check-in twice") not in clinician and flat("A note from") not in clinician
    # The note is kept (encrypted) on the summary's row only, for the worker to print.
    db.session.expire_all()
    assert db.session.get(Report, summary_id).note == NOTE
    assert db.session.get(Report, clinician_id).note == ""

    # A note longer than the form allows is refused, and no report is asked for.
    count = sa.select(sa.func.count(Report.id))
    before = db.session.scalar(count)
    response = browser.post_form(f"/couples/{couple.id}/reports", {"kind": "summary", "note": "x" * 1001})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/couples/{couple.id}#report")
    assert db.session.scalar(count) == before


# --- safety on page 1 ---------------------------------------------------------------------------------------


def test_an_unreviewed_flag_is_raised_on_page_one(db, app, make_practice, make_couple, make_assessment, answer_as):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    answer_as(tokens[1], {"safety": NEVER | {"self_harm": 1}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"safety": NEVER | {"self_harm": 1, "afraid": 3}, "checkin": CHECKIN_B})
    ctx = context_for(couple, "clinician")
    first = pages_of(pdf.render_pdf(ctx))[0]
    safety = between_or_rest(first, "Safety", "For this session")
    assert shows(
        safety,
        "Safety 1 safety flag to review. For the clinician only: raise it with each partner on their own, "
        "never in a joint session. B Sasha · Intake · Review “I have felt afraid of my partner.” "
        "Answer: Sometimes · not yet reviewed",
    )
    assert 'class="safety"' in rendered_html(ctx)


def test_no_flag_gives_one_calm_line_and_no_alarm(db, app, make_practice, make_couple, make_assessment, answer_as):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    answer_as(tokens[1], {"safety": NEVER | {"self_harm": 1}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"safety": NEVER | {"self_harm": 1}, "checkin": CHECKIN_B})
    ctx = context_for(couple, "clinician")
    text = text_of(pdf.render_pdf(ctx))
    first = pages_of(pdf.render_pdf(ctx))[0]
    assert shows(first, "Safety ✓ No safety flags in this assessment. Where things stand")
    for alarm in ("to review", "For the clinician only", "not yet reviewed", "Urgent"):
        assert flat(alarm) not in text, alarm
    assert 'class="safety"' not in rendered_html(ctx)
