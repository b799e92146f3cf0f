"""The pages people wait on run a fixed number of queries, whatever the size of what they show.

Each test runs one path at two sizes (couples in the practice, assessments of the
couple, items answered) and asserts the same, exact number of SQL statements at
both: a query per row (an N+1) shows up as a difference between the sizes, and a
new query anywhere on the path as a changed number.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import undefer

from clinic import catalog, memo
from clinic.bulk import add_bulk_couples, answer_profiles
from clinic.db_types import utcnow
from clinic.models import Clinician, Couple, Partner, Practice
from clinic.reports.context import build_context
from clinic.results import load_couple_results
from tests.conftest import CHECKIN, CSRF_META, PASSWORD, SAFETY_FLAGGED
from tests.test_client import page_address

COUPLE_LINK = re.compile(r'href="/couples/(\d+)"')
CSRF_INPUTS = re.compile(r'name="csrf_token"[^>]*>|<meta name="csrf-token"[^>]*>')
# The couple view: user, couple with its therapist, assessments, invitations, partners, answers,
# reviews (read only when a safety flag was raised, as in these fixtures), and the audit row
# for viewing results: read the head (on PostgreSQL FOR UPDATE, which keeps the chain in
# order), insert the row, move the head. SQLite went from 9 to 10 when the head record came
# (it must hold a keyed MAC no row carries, so it is written on its own; clinic/audit.py);
# PostgreSQL stayed at 10 (the head's row lock replaced the advisory lock). 11 since reliable
# change can be judged on the practice's own estimates: their one read (clinic.services.calibration).
COUPLE_VIEW_QUERIES = 11
# One more since check-ins can be scheduled: the couple's schedule, the sessions sent and both
# partners' check-in scores, in one read (clinic.services.checkins.for_couple).
COUPLE_VIEW_QUERIES += 1


def sign_in(browser, clinician: Clinician):
    response = browser.post_form("/signin", {"email": clinician.email, "password": PASSWORD})
    assert response.status_code == 302
    return browser


def statements_of(count_queries, call, status: int = 200) -> list[str]:
    with count_queries() as statements:
        response = call()
    assert response.status_code == status, response.status_code
    return list(statements)


def shown_couples(html: str) -> int:
    return len(set(COUPLE_LINK.findall(html)))


# --- the dashboard --------------------------------------------------------------------------


DASHBOARD_URLS = [
    "/couples/",
    "/couples/?q=1",
    "/couples/?q=%26",
    "/couples/?status=completed",
    "/couples/?status=in_progress",
    "/couples/?status=expired",
    "/couples/?status=archived",
    "/couples/?status=attention",
    "/couples/?page=2",
]


@pytest.mark.parametrize("url", DASHBOARD_URLS)
def test_dashboard_runs_two_queries_for_a_small_and_a_large_practice(
    url, make_practice, make_clinician, make_client, count_queries, db
):
    counts = {}
    for size in (8, 130):
        owner = make_practice()
        colleague = make_clinician(owner)
        add_bulk_couples(owner.practice, size, seed=size)
        db.session.commit()
        for who in (owner, colleague):
            browser = sign_in(make_client(), who)
            with count_queries() as statements:
                response = browser.get(url)
            assert response.status_code == 200
            shown = shown_couples(response.get_data(as_text=True))
            assert shown <= 50
            # the signed-in clinician; the page of couples with their therapist, partners' names and
            # who has not sent each one's latest assessment
            counts[size, who.role] = (len(statements), shown > 0)
            assert len(statements) == 2, statements
    assert counts[8, "owner"][0] <= counts[130, "owner"][0]


def test_dashboard_pages_deep_into_a_large_practice_at_two_queries(make_practice, client, count_queries, db):
    owner = make_practice()
    add_bulk_couples(owner.practice, 160, seed=3)
    db.session.commit()
    sign_in(client, owner)
    for page in (1, 2, 3):
        statements = statements_of(count_queries, lambda page=page: client.get(f"/couples/?page={page}"))
        assert len(statements) == 2, statements
    assert not any("count(" in s.lower() for s in statements), "the dashboard never counts the practice"


# --- the couple view and the report context -------------------------------------------------


@pytest.fixture
def answered_couple(make_practice, make_couple, make_assessment, answer_as):
    """Factory: a couple with n submitted intake-set assessments (answers from the bulk profiles)."""

    def make(n: int) -> tuple[Clinician, Couple]:
        owner = make_practice()
        couple = make_couple(owner)
        registry = catalog.registry()
        pools = answer_profiles([registry.latest("connection")])
        for k in range(n):
            _, tokens = make_assessment(
                couple, instruments=["connection", "checkin", "life_context", "safety"], occasion=f"Week {k}"
            )
            for position, pool in ((1, pools["pursuer"]), (2, pools["withdrawer"])):
                profile = pool[(7 * k + position) % len(pool)]
                connection = {item: value for _, item, value in profile.rows}
                context = {"work": 2, "anything_else": f"Week {k}: a busy month."}
                answer_as(
                    tokens[position],
                    {
                        "connection": connection,
                        "checkin": CHECKIN,
                        "life_context": context,
                        "safety": SAFETY_FLAGGED,
                    },
                )
        return owner, couple

    return make


def test_couple_view_runs_the_same_queries_for_one_and_three_assessments(answered_couple, make_client, count_queries):
    counts = []
    for n in (1, 3):
        owner, couple = answered_couple(n)
        browser = sign_in(make_client(), owner)
        statements = statements_of(
            count_queries, lambda couple=couple, browser=browser: browser.get(f"/couples/{couple.id}")
        )
        counts.append(len(statements))
    assert counts == [COUPLE_VIEW_QUERIES] * 2


def test_sent_answers_are_read_once_and_kept_results_show_exactly_what_fresh_ones_do(
    app, answered_couple, make_assessment, answer_as, make_client, count_queries, db
):
    owner, couple = answered_couple(2)
    browser = sign_in(make_client(), owner)
    url = f"/couples/{couple.id}"

    def page() -> str:
        return CSRF_INPUTS.sub("", browser.get(url).get_data(as_text=True))

    cold = statements_of(count_queries, lambda: browser.get(url))
    warm = statements_of(count_queries, lambda: browser.get(url))
    # Sent answers never change: the second view reads none of them (clinic.memo).
    assert sum("FROM answer" in s for s in cold) == 1
    assert not any("FROM answer" in s for s in warm)
    assert len(warm) == len(cold) - 1

    kept = page()
    with app.app_context():
        memo.init_app(app)  # forget everything kept: the page is made from the database alone
    assert page() == kept

    # A new assessment sent by both partners is read (only its answers) and shown at once.
    _, tokens = make_assessment(couple, instruments=["checkin"], occasion="Week 9")
    answer_as(tokens[1], {"checkin": {"satisfied": 1, "close": 1, "hopeful": 1, "together": 1}})
    answer_as(tokens[2], {"checkin": CHECKIN})
    after = statements_of(count_queries, lambda: browser.get(url))
    assert sum("FROM answer" in s for s in after) == 1
    assert "Week 9" in page()
    # A partner renamed: charts are kept by the names they show, so none shows the old one.
    partner = db.session.scalar(sa.select(Partner).where(Partner.couple_id == couple.id, Partner.position == 1))
    old_name, partner.display_name = partner.display_name, "Renamed Partner"
    db.session.commit()
    renamed = page()
    assert "Renamed Partner" in renamed and old_name not in renamed


def test_report_context_runs_the_same_queries_for_one_and_three_assessments(answered_couple, count_queries, db):
    counts = []
    for n in (1, 3):
        _, couple = answered_couple(n)
        db.session.expire_all()
        # As the report job loads it: the prep notes (a deferred column) come with the couple.
        couple = db.session.get(Couple, couple.id, options=[undefer(Couple.prep_notes)], populate_existing=True)
        practice = db.session.get(Practice, couple.practice_id)
        clinician = db.session.get(Clinician, couple.clinician_id)
        with count_queries() as statements:
            results = load_couple_results(couple)
            contexts = [
                build_context(
                    results, practice=practice, clinician=clinician, kind=kind, appendix=appendix, generated_at=utcnow()
                )
                for kind, appendix in (("clinician", True), ("clinician", False), ("summary", False))
            ]
        assert all(contexts) and len(results.assessments) == n
        counts.append(len(statements))
    # assessments, their invitations, partners, submitted answers, the practice's reliability
    # estimates, safety reviews: six. A clinician context adds one since the brief shows the
    # couple's scheduled check-ins: the schedule, its sessions and both partners' check-in scores
    # in one read (clinic.services.checkins.for_couple, as on the couple view); a summary adds none.
    # Here two clinician contexts (with and without the appendix) and a summary: 6 + 2.
    assert counts == [6 + 2, 6 + 2]


# --- the partner's pages --------------------------------------------------------------------


def _partner_browser(owner, make_couple, make_assessment, make_client, *, couples: int, answered: int):
    """A partner mid-way through the intake set in a practice of `couples` couples, `answered` items saved."""
    for _ in range(couples - 1):
        make_assessment(make_couple(owner))
    couple = make_couple(owner)
    _, tokens = make_assessment(couple)
    browser = make_client()
    assert browser.get(f"/l/{tokens[1]}").status_code == 302
    csrf = CSRF_META.search(browser.get("/q").get_data(as_text=True)).group(1)
    registry = catalog.registry()
    connection = [item.id for item in registry.latest("connection").items][:answered]
    for n, item_id in enumerate(connection):
        body = {"instrument": "connection", "item": item_id, "value": n % 5 + 1}
        assert browser.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf}).status_code == 200
    return browser, csrf


@pytest.mark.parametrize(("couples", "answered"), [(3, 1), (40, 38)])
def test_partner_pages_run_a_fixed_number_of_queries(
    couples, answered, app, make_practice, make_couple, make_assessment, make_client, count_queries
):
    owner = make_practice()
    browser, csrf = _partner_browser(
        owner, make_couple, make_assessment, make_client, couples=couples, answered=answered
    )
    autosave = {"instrument": "connection", "item": "heard_1", "value": 3}
    counts = {
        "welcome": len(statements_of(count_queries, lambda: browser.get("/q"))),
        "instrument": len(statements_of(count_queries, lambda: browser.get(page_address(1)))),
        "later page": len(statements_of(count_queries, lambda: browser.get(page_address(1, 8)))),
        "other instrument": len(statements_of(count_queries, lambda: browser.get(page_address(2)))),
        # the safety questions, with the practice's crisis text
        "safety page": len(statements_of(count_queries, lambda: browser.get(page_address(4, 2)))),
        "autosave": len(
            statements_of(
                count_queries,
                lambda: browser.post(
                    "/q/autosave",
                    data=json.dumps(autosave),
                    content_type="application/json",
                    headers={"X-CSRFToken": csrf},
                ),
            )
        ),
        "review": len(statements_of(count_queries, lambda: browser.get("/q/review"))),
    }
    # The first autosave of a link in a process also reads the versions of its questionnaires
    # (then kept: responses._versions_of).
    app.extensions[memo.EXTENSION_KEY]["versions"] = memo.Memo(memo.SIZES["versions"])
    counts["first autosave in a process"] = len(
        statements_of(
            count_queries,
            lambda: browser.post(
                "/q/autosave", data=json.dumps(autosave), content_type="application/json", headers={"X-CSRFToken": csrf}
            ),
        )
    )
    # the invitation with its couple, practice, therapist and partner; the partner's answers;
    # autosave: one statement, the upsert of the answer selected from the invitation's row only
    # while the session's link is live and open (it locks the row and returns its activity times)
    assert counts == {
        "first autosave in a process": 2,
        "welcome": 2,
        "instrument": 2,
        "later page": 2,
        "other instrument": 2,
        "safety page": 2,
        "autosave": 1,
        "review": 2,
    }


def test_the_bulk_practice_answers_every_page_with_the_same_queries_as_a_small_one(
    make_practice, make_client, count_queries, db
):
    """Couples made by seed-demo --couples render like any other, with the same fixed work."""
    owner = make_practice()
    add_bulk_couples(owner.practice, 40, seed=11)
    db.session.commit()
    ids = db.session.scalars(
        sa.select(Couple.id).where(Couple.practice_id == owner.practice_id).order_by(Couple.id).limit(12)
    ).all()
    browser = sign_in(make_client(), owner)
    counts = {len(statements_of(count_queries, lambda cid=cid: browser.get(f"/couples/{cid}"))) for cid in ids}
    # Bulk couples answer no safety check, so there are no flags and no reviews to read.
    assert counts == {COUPLE_VIEW_QUERIES - 1}


def test_partner_pages_never_read_the_therapists_credentials(
    make_practice, make_couple, make_assessment, make_client, count_queries
):
    owner = make_practice()
    browser, csrf = _partner_browser(owner, make_couple, make_assessment, make_client, couples=1, answered=3)
    statements = []
    for url in ("/q", page_address(1), page_address(1, 8), page_address(4), "/q/review"):
        statements += statements_of(count_queries, lambda url=url: browser.get(url))
    assert statements and all("FROM invitation" in s or "FROM answer" in s for s in statements)
    # "Leave this page" reads the practice's neutral site, and only that.
    leave = statements_of(count_queries, lambda: browser.post("/q/leave", data={"csrf_token": csrf}))
    assert len(leave) == 1 and "practice.leave_url" in leave[0]
    for secret in ("password_hash", "totp_secret", "prep_notes", "clinician.email"):
        assert not any(secret in s for s in statements + leave), secret
