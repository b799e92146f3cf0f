"""Couples: create, edit, archive, and the dashboard."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.db_types import utcnow
from clinic.models import Couple, CoupleStatus, Invitation, Partner
from tests.conftest import CSRF_META, login
from tests.test_client import invitation_of, post_questionnaire

COUPLE_FORM = {
    "label": "J & M",
    "partner_a-display_name": "Jordan",
    "partner_a-email": "Jordan@Example.org",
    "partner_a-pronouns": "they/them",
    "partner_b-display_name": "Mika",
    "partner_b-email": "",
    "partner_b-pronouns": "",
}


def test_create_couple_with_two_partners(client, make_practice, db):
    owner = make_practice()
    login(client, owner)
    response = client.post_form("/couples/new", {**COUPLE_FORM, "clinician_id": owner.id})
    assert response.status_code == 302
    couple = db.session.scalar(sa.select(Couple))
    assert response.headers["Location"] == f"/couples/{couple.id}"
    partners = db.session.scalars(sa.select(Partner).order_by(Partner.position)).all()
    assert [(p.position, p.display_name, p.email, p.pronouns) for p in partners] == [
        (1, "Jordan", "jordan@example.org", "they/them"),
        (2, "Mika", None, None),
    ]
    assert couple.status == CoupleStatus.NOTHING_SENT
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "J &amp; M" in page and "Jordan" in page and "Mika" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": ""}, "Give the couple a label, such as their initials."),
        ({"partner_b-display_name": ""}, "Each partner needs a name."),
        ({"partner_a-email": "not an email"}, "Enter an email address like name@example.org."),
        ({"label": "x" * 61}, "Field cannot be longer than 60 characters."),
    ],
)
def test_create_couple_validation_messages_beside_the_field(change, message, client, make_practice, db):
    login(client, make_practice())
    response = client.post_form("/couples/new", {**COUPLE_FORM, **change})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Couple)) == 0


def test_clinician_creates_couples_for_themself_only(client, make_practice, make_clinician, db):
    owner = make_practice()
    clinician = make_clinician(owner)
    login(client, clinician)
    page = client.get("/couples/new").get_data(as_text=True)
    assert 'name="clinician_id"' not in page
    client.post_form("/couples/new", {**COUPLE_FORM, "clinician_id": owner.id})
    assert db.session.scalar(sa.select(Couple.clinician_id)) == clinician.id


def test_owner_assigns_a_couple_to_a_clinician(client, make_practice, make_clinician, db):
    owner = make_practice()
    clinician = make_clinician(owner, name="Pat Quill")
    login(client, owner)
    client.post_form("/couples/new", {**COUPLE_FORM, "clinician_id": clinician.id})
    assert db.session.scalar(sa.select(Couple.clinician_id)) == clinician.id


def test_owner_cannot_assign_to_another_practice(client, make_practice, db):
    owner = make_practice()
    stranger = make_practice()
    login(client, owner)
    response = client.post_form("/couples/new", {**COUPLE_FORM, "clinician_id": stranger.id})
    assert response.status_code == 400  # not a choice offered on the form
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Couple)) == 0


def test_edit_couple(client, make_practice, make_couple, db):
    owner = make_practice()
    couple = make_couple(owner, names=("Ana", "Ben"))
    login(client, owner)
    page = client.get(f"/couples/{couple.id}/edit").get_data(as_text=True)
    assert 'value="Ana"' in page
    response = client.post_form(
        f"/couples/{couple.id}/edit",
        {**COUPLE_FORM, "label": "A & B (2)", "partner_a-display_name": "Anna", "clinician_id": owner.id},
    )
    assert response.status_code == 302
    db.session.expire_all()
    couple = db.session.get(Couple, couple.id)
    assert couple.label == "A & B (2)"
    names = db.session.scalars(
        sa.select(Partner.display_name).where(Partner.couple_id == couple.id).order_by(Partner.position)
    ).all()
    assert names == ["Anna", "Mika"]


def test_archive_hides_from_dashboard_and_stops_links(client, make_practice, make_couple, make_assessment, db):
    owner = make_practice()
    couple = make_couple(owner, label="Archive me")
    make_assessment(couple)
    login(client, owner)
    listed = ">Archive me</a>"
    assert listed in client.get("/couples/").get_data(as_text=True)
    client.post_form(f"/couples/{couple.id}/archive")
    assert listed not in client.get("/couples/").get_data(as_text=True)
    assert listed in client.get("/couples/?status=archived").get_data(as_text=True)
    revoked = db.session.scalars(sa.select(Invitation.revoked_at)).all()
    assert len(revoked) == 2 and all(revoked)
    client.post_form(f"/couples/{couple.id}/unarchive")
    assert listed in client.get("/couples/").get_data(as_text=True)


def test_dashboard_empty_state(client, make_practice):
    login(client, make_practice())
    page = client.get("/couples/").get_data(as_text=True)
    assert "No couples yet — add your first" in page


def test_clinician_sees_own_couples_owner_sees_all(make_client, make_practice, make_clinician, make_couple):
    owner = make_practice()
    colleague = make_clinician(owner)
    make_couple(owner, label="Owner's couple")
    make_couple(colleague, label="Colleague's couple")
    make_couple(make_practice(), label="Elsewhere couple")

    owner_page = login(make_client(), owner).get("/couples/").get_data(as_text=True)
    colleague_page = login(make_client(), colleague).get("/couples/").get_data(as_text=True)
    assert "Owner&#39;s couple" in owner_page and "Colleague&#39;s couple" in owner_page
    assert "Elsewhere" not in owner_page
    assert "Colleague&#39;s couple" in colleague_page
    assert "Owner&#39;s couple" not in colleague_page and "Elsewhere" not in colleague_page


def test_search_by_label_is_case_insensitive_and_literal(client, make_practice, make_couple):
    owner = make_practice()
    make_couple(owner, label="Kim & Lee")
    make_couple(owner, label="Ortega")
    make_couple(owner, label="100% sure")
    login(client, owner)
    page = client.get("/couples/?q=kIm").get_data(as_text=True)
    assert "Kim &amp; Lee" in page and "Ortega" not in page
    page = client.get("/couples/?q=%25").get_data(as_text=True)
    assert "100% sure" in page and "Ortega" not in page
    page = client.get("/couples/?q=zzz").get_data(as_text=True)
    assert "No couples match" in page


def test_search_by_initials_finds_exactly_what_ilike_finds(client, make_practice, make_couple):
    """The keyed-label condition (an index on PostgreSQL) only narrows: the matches stay ILIKE's."""
    owner = make_practice()
    for label in ("M & D 00001", "m & d", "M&D", "M and D", "Mqd", "Mandy Dee", "Sam & Dan", "A_B", "AxB"):
        make_couple(owner, label=label)
    login(client, owner)

    def found(q: str) -> set[str]:
        page = client.get("/couples/", query_string={"q": q}).get_data(as_text=True)
        return {m.replace("&amp;", "&") for m in re.findall(r'href="/couples/\d+">([^<]+)</a>', page)}

    assert found("M & D") == {"M & D 00001", "m & d", "Sam & Dan"}  # "saM & Dan" holds it too
    assert found("m&d") == {"M&D"}
    assert found("m and d") == {"M and D"}
    assert found("& d") == {"M & D 00001", "m & d", "Sam & Dan"}
    assert found("a_b") == {"A_B"}
    assert found("md") == set()
    assert found("mqd") == {"Mqd"}  # what "M & D" is keyed to, yet only ILIKE's match


def test_status_filter(client, make_practice, make_couple, make_assessment, answer_as, db):
    owner = make_practice()
    make_couple(owner, label="Quiet")
    waiting = make_couple(owner, label="Waiting couple")
    make_assessment(waiting)
    gone = make_couple(owner, label="Gone couple")
    make_assessment(gone)
    # One partner has saved an answer but not sent: in progress.
    started = make_couple(owner, label="Started couple")
    _, tokens = make_assessment(started, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": {"satisfied": 4}}, submit=False)
    # Both partners sent: completed.
    finished = make_couple(owner, label="Finished couple")
    _, tokens = make_assessment(finished, instruments=["checkin"])
    for position in (1, 2):
        answer_as(tokens[position], {"checkin": {"satisfied": 4, "close": 3, "hopeful": 5, "together": 4}})
    # Let one couple's links run out: the stored status still says waiting.
    db.session.execute(
        sa.update(Invitation)
        .where(
            Invitation.assessment_id.in_(
                sa.select(sa.text("id")).select_from(sa.text("assessment")).where(sa.text(f"couple_id = {gone.id}"))
            )
        )
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.session.execute(
        sa.update(Couple).where(Couple.id == gone.id).values(status_until=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    login(client, owner)

    everyone = ("Quiet", "Waiting couple", "Gone couple", "Started couple", "Finished couple")

    def labels(status):
        page = client.get(f"/couples/?status={status}").get_data(as_text=True)
        return {name for name in everyone if name in page}

    assert labels("nothing_sent") == {"Quiet"}
    assert labels("waiting") == {"Waiting couple"}
    assert labels("in_progress") == {"Started couple"}
    assert labels("completed") == {"Finished couple"}
    assert labels("expired") == {"Gone couple"}
    assert labels("") == set(everyone)
    assert client.get("/couples/?status=bogus").status_code == 200  # ignored, not an error


def test_pagination_without_counting(client, make_practice, make_couple, db):
    owner = make_practice()
    for n in range(53):
        make_couple(owner, label=f"Couple {n:02d}", emails=False)
    login(client, owner)
    first = client.get("/couples/").get_data(as_text=True)
    assert first.count('href="/couples/') - first.count('href="/couples/new"') >= 50
    assert 'rel="next"' in first and "Couple 52" in first and "Couple 02" not in first
    second = client.get("/couples/?page=2").get_data(as_text=True)
    assert "Couple 02" in second and "Couple 00" in second and 'rel="next"' not in second
    assert client.get("/couples/?page=-3").status_code == 200


@pytest.mark.parametrize("size", [5, 50])
def test_dashboard_query_count_is_constant(size, client, make_practice, make_couple, make_assessment, count_queries):
    owner = make_practice()
    for n in range(size):
        couple = make_couple(owner, label=f"C{n}")
        if n % 2:
            make_assessment(couple)
    login(client, owner)
    with count_queries() as counted:
        assert client.get("/couples/").status_code == 200
    # the signed-in clinician; the page of couples with their therapist, partners' names and who
    # has not sent each one's latest assessment
    assert len(counted) == 2, counted


@pytest.mark.parametrize(
    "url",
    ["/couples/{id}", "/couples/{id}/edit", "/couples/{id}/assessments/new"],
)
def test_other_practice_and_other_clinician_get_404(url, make_client, make_practice, make_clinician, make_couple):
    owner = make_practice()
    couple = make_couple(make_clinician(owner))
    other_clinician = make_clinician(owner)
    stranger = make_practice()
    for who in (other_clinician, stranger):
        assert login(make_client(), who).get(url.format(id=couple.id)).status_code == 404
    assert login(make_client(), owner).get(url.format(id=couple.id)).status_code == 200


@pytest.mark.parametrize("action", ["archive", "unarchive", "edit"])
def test_foreign_couple_posts_get_404_and_change_nothing(action, make_client, make_practice, make_couple, db):
    couple = make_couple(make_practice(), label="Theirs")
    browser = login(make_client(), make_practice())
    response = browser.post_form(f"/couples/{couple.id}/{action}", {**COUPLE_FORM})
    assert response.status_code == 404
    db.session.expire_all()
    fresh = db.session.get(Couple, couple.id)
    assert (fresh.label, fresh.archived) == ("Theirs", False)


def test_dashboard_rows_follow_every_change_they_show(
    client, make_practice, make_clinician, make_couple, make_assessment, db
):
    # Every row is rendered from the couple as it is now: each change shows at once.
    owner = make_practice()
    colleague = make_clinician(owner, name="Dr. Lee Park")
    couple = make_couple(owner, label="Kept row", names=("Robin", "Sasha"))
    login(client, owner)

    def row() -> str:
        page = client.get("/couples/").get_data(as_text=True)
        start = page.index(f'href="/couples/{couple.id}"')
        return page[start : page.index("</tr>", start)]

    first = row()
    assert "Kept row" in first and "Robin &amp; Sasha" in first and "Nothing sent" in first
    assert row() == first

    partner = db.session.scalar(sa.select(Partner).where(Partner.couple_id == couple.id, Partner.position == 1))
    partner.display_name = "Robin Renamed"
    stored = db.session.get(Couple, couple.id)
    stored.label = "Renamed row"
    stored.clinician_id = colleague.id
    db.session.commit()
    changed = row()
    assert "Renamed row" in changed and "Robin Renamed &amp; Sasha" in changed and "Dr. Lee Park" in changed

    make_assessment(stored)
    assert "Waiting" in row()
    stored = db.session.get(Couple, couple.id)
    stored.archived = True
    db.session.commit()
    assert "Renamed row" not in client.get("/couples/").get_data(as_text=True)
    assert "(archived)" in client.get("/couples/?status=archived").get_data(as_text=True)


def test_last_activity_follows_a_partner_who_keeps_answering(
    client, make_practice, make_couple, make_assessment, make_client, db
):
    owner = make_practice()
    busy = make_couple(owner, label="Busy pair")
    quiet = make_couple(owner, label="Quiet pair")
    assessment, tokens = make_assessment(busy)
    make_assessment(quiet)
    partner = make_client()
    assert partner.get(f"/l/{tokens[1]}").status_code == 302
    csrf = CSRF_META.search(partner.get("/q").get_data(as_text=True)).group(1)

    def save(item: str, value: int) -> None:
        body = {"instrument": "connection", "item": item, "value": value}
        assert partner.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf}).status_code == 200

    def set_back(couple, minutes: int):
        when = utcnow() - timedelta(minutes=minutes)
        db.session.execute(sa.update(Couple).where(Couple.id == couple.id).values(last_activity_at=when))
        db.session.commit()
        return when

    def activity(couple):
        db.session.expire_all()
        return db.session.get(Couple, couple.id).last_activity_at

    def busy_first() -> bool:
        page = client.get("/couples/").get_data(as_text=True)
        return page.index("Busy pair") < page.index("Quiet pair")

    save("heard_1", 4)  # the first answer: "in progress"
    login(client, owner)
    set_back(busy, 60)
    set_back(quiet, 30)
    assert not busy_first()

    # Long after the first answer, another one: the dashboard follows.
    save("heard_2", 3)
    assert utcnow() - activity(busy) < timedelta(seconds=30)
    assert busy_first()

    # Saves within a few minutes of the last touch leave the couple's row alone.
    recent = set_back(busy, 2)
    save("heard_3", 2)
    assert activity(busy) == recent

    # A page post ("Save and continue") moves it as well.
    set_back(busy, 10)
    invitation_id = invitation_of(db, assessment, 1).id
    posted = post_questionnaire(partner, db, invitation_id, "connection", {"heard_4": "4"})
    assert [response.status_code for response in posted] == [302]
    assert utcnow() - activity(busy) < timedelta(seconds=30)
