"""FHIR R4 export (issue 17): every resource parses with fhir.resources' R4B models (a validation error
fails the test), every reference resolves, answers and scores are the couple view's, free text and
emails go out only when asked for, nothing of another practice's couple, and the NDJSON command."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from clinic import catalog, fhir, fhir_export, memo
from clinic.cli import DEMO_EMAIL, DEMO_PASSWORD
from clinic.demo import level_answers
from clinic.models import AuditEvent, Couple, Partner
from clinic.results import load_couple_results, measure_score
from instruments.numbers import fmt
from instruments.scoring import key
from tests.conftest import CHECKIN, login

NOTE = "My sister has been staying with us since June"
TYPES = set(fhir.TYPES)


# --- reading an export back --------------------------------------------------------------------


def validate(resource: dict) -> None:
    """Parse one resource with the R4B model of its type: a validation error fails the test."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def references(value) -> list[dict]:
    """Every Reference (a dict with "reference") anywhere inside a resource."""
    if isinstance(value, dict):
        found = [value] if "reference" in value else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def check_resources(by_ref: dict[str, dict], resources: list[dict]) -> dict[str, list[dict]]:
    """The checks a Bundle and the NDJSON files share: every resource validates, ids are unique per
    type, every reference resolves to a resource of its type, the Group holds the couple's two
    Patients, each response answers a Questionnaire given alongside, with its codings, and each
    Observation comes from a response about the same partner. Returns the resources by type."""
    by_type: dict[str, list[dict]] = {kind: [] for kind in TYPES}
    for resource in resources:
        validate(resource)
        by_type[resource["resourceType"]].append(resource)
    for kind, found in by_type.items():
        ids = [r["id"] for r in found]
        assert len(ids) == len(set(ids)), f"{kind} ids repeat"
    for resource in resources:
        for ref in references(resource):
            target = by_ref.get(ref["reference"])
            assert target is not None, f"{resource['resourceType']} points outside: {ref['reference']}"
            assert target["resourceType"] == ref["type"]
    patients = {id(p) for p in by_type["Patient"]}
    members = [by_ref[m["entity"]["reference"]] for g in by_type["Group"] for m in g["member"]]
    assert {id(m) for m in members} == patients and len(members) == len(patients) == 2 * len(by_type["Group"])
    for group in by_type["Group"]:
        assert (group["type"], group["actual"], group["quantity"], len(group["member"])) == ("person", True, 2, 2)
    questionnaires = {(q["url"], q["version"]): q for q in by_type["Questionnaire"]}
    assert len(questionnaires) == len(by_type["Questionnaire"])
    used = set()
    for response in by_type["QuestionnaireResponse"]:
        assert response["status"] == "completed"
        assert by_ref[response["subject"]["reference"]]["resourceType"] == "Patient"
        url, version = response["questionnaire"].split("|")
        used.add((url, version))
        questionnaire = questionnaires[url, version]
        asked = {item["linkId"]: item for item in questionnaire["item"]}
        for item in response.get("item", []):
            (answer,) = item["answer"]
            question = asked[item["linkId"]]
            if "valueCoding" in answer:
                assert question["type"] == "choice"
                assert answer["valueCoding"] in [o["valueCoding"] for o in question["answerOption"]]
            else:
                assert question["type"] == "text" and set(answer) == {"valueString"}
    assert used == set(questionnaires), "a Questionnaire no response answers, or a response without its Questionnaire"
    for observation in by_type["Observation"]:
        assert observation["status"] == "final"
        (source,) = (by_ref[r["reference"]] for r in observation["derivedFrom"])
        assert source["resourceType"] == "QuestionnaireResponse"
        assert source["subject"] == observation["subject"]
        assert observation["effectiveDateTime"] == source["authored"]
        assert ("valueQuantity" in observation) != ("dataAbsentReason" in observation)
    return by_type


def check_bundle(found: dict) -> dict[str, list[dict]]:
    """A valid collection Bundle whose every entry is urn:uuid:<its id> and every reference one of them."""
    Bundle.model_validate(found)
    assert found["resourceType"] == "Bundle" and found["type"] == "collection"
    by_ref = {}
    for entry in found["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        uuid.UUID(entry["resource"]["id"])
        by_ref[entry["fullUrl"]] = entry["resource"]
    assert len(by_ref) == len(found["entry"]), "fullUrls repeat"
    return check_resources(by_ref, [entry["resource"] for entry in found["entry"]])


def ordinals(questionnaire: dict) -> dict[tuple[str, str], float]:
    """(linkId, code) -> the ordinalValue a Questionnaire gives that answer."""
    found = {}
    for item in questionnaire["item"]:
        for option in item.get("answerOption", []):
            (extension,) = option["extension"]
            assert extension["url"] == fhir.ORDINAL_VALUE
            found[item["linkId"], option["valueCoding"]["code"]] = extension["valueDecimal"]
    return found


def exported(by_type: dict[str, list[dict]], by_ref: dict[str, dict]) -> tuple[Counter, Counter]:
    """What an export says, in the couple view's terms: each partner's (by place in the Group) answers
    per submitted questionnaire as (item, scored value), and each score written as the view writes it."""
    (group,) = by_type["Group"]
    position = {m["entity"]["reference"]: n for n, m in enumerate(group["member"], start=1)}
    questionnaires = {(q["url"], q["version"]): ordinals(q) for q in by_type["Questionnaire"]}
    answers, scores = Counter(), Counter()
    for response in by_type["QuestionnaireResponse"]:
        url, version = response["questionnaire"].split("|")
        scored = questionnaires[url, version]
        given = tuple(
            sorted(
                (item["linkId"], scored[item["linkId"], item["answer"][0]["valueCoding"]["code"]])
                for item in response.get("item", [])
                if "valueCoding" in item["answer"][0]
            )
        )
        where = (position[response["subject"]["reference"]], url.rsplit("/", 1)[1], int(version), response["authored"])
        answers[(*where, given)] += 1
    for observation in by_type["Observation"]:
        instrument_id, measure_id = observation["code"]["coding"][0]["code"].split("/")
        value = observation.get("valueQuantity", {}).get("value")
        band = observation["interpretation"][0]["text"] if "interpretation" in observation else None
        when = observation["effectiveDateTime"]
        source = by_ref[observation["derivedFrom"][0]["reference"]]
        version = int(source["questionnaire"].split("|")[1])
        pos = position[observation["subject"]["reference"]]
        scores[(pos, instrument_id, version, when, measure_id, fmt(value) if value is not None else None, band)] += 1
    return answers, scores


def on_the_couple_view(couple: Couple) -> tuple[Counter, Counter]:
    """The same, from clinic.results (the couple view's numbers), written with instruments.numbers.fmt."""
    results = load_couple_results(couple)
    answers, scores = Counter(), Counter()
    for assessment in results.assessments:
        for row in results.by_assessment[assessment.id]:
            instrument = row.instrument
            for pos, result in row.results.items():
                if result is None:
                    continue
                when = fhir.instant(results.submitted[assessment.id][pos])
                answers[(pos, instrument.id, instrument.version, when, tuple(sorted(result.keyed.items())))] += 1
                if instrument.kind != "scored":
                    continue
                for measure in instrument.measures():
                    found = measure_score(result, measure.id)
                    shown = fmt(found.value) if found.valid else None
                    band = found.band.label if found.valid and found.band else None
                    scores[(pos, instrument.id, instrument.version, when, measure.id, shown, band)] += 1
    return answers, scores


def check_against_view(couple: Couple, found: dict) -> dict[str, list[dict]]:
    by_type = check_bundle(found)
    by_ref = {entry["fullUrl"]: entry["resource"] for entry in found["entry"]}
    got_answers, got_scores = exported(by_type, by_ref)
    want_answers, want_scores = on_the_couple_view(couple)
    assert got_answers == want_answers
    assert got_scores == want_scores
    return by_type


def download(browser, couple_id: int, query: str = "") -> dict:
    response = browser.get(f"/couples/{couple_id}/export/fhir{query}")
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/fhir+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == f'attachment; filename="tandem-couple-{couple_id}.fhir.json"'
    return json.loads(response.get_data(as_text=True))


def texts(by_type: dict[str, list[dict]]) -> list[str]:
    return [
        answer["valueString"]
        for response in by_type["QuestionnaireResponse"]
        for item in response.get("item", [])
        for answer in item["answer"]
        if "valueString" in answer
    ]


def emails_in(by_type: dict[str, list[dict]]) -> list[str]:
    return [t["value"] for p in by_type["Patient"] for t in p.get("telecom", []) if t["system"] == "email"]


# --- the demo practice -------------------------------------------------------------------------


@pytest.fixture
def demo(app, db) -> list[Couple]:
    """The demo practice, seeded as a new user seeds it; its couples."""
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return list(db.session.scalars(sa.select(Couple).order_by(Couple.id)))


def test_every_demo_couple_exports_a_valid_bundle_with_the_couple_views_answers_and_scores(db, client, demo):
    assert client.post_form("/signin", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 302
    observations = notes = 0
    for couple in demo:
        plain = download(client, couple.id)
        by_type = check_against_view(couple, plain)
        assert not texts(by_type) and not emails_in(by_type)
        names = {p["name"][0]["text"] for p in by_type["Patient"]}
        partners = db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id)).all()
        assert names == {p.display_name for p in partners}
        assert {g["name"] for g in by_type["Group"]} == {couple.label}
        observations += len(by_type["Observation"])
        # Asked for, free text and emails are there, and the rest is the same
        full = check_against_view(couple, download(client, couple.id, "?free_text=1&emails=1"))
        assert sorted(emails_in(full)) == sorted(p.email for p in partners if p.email)
        notes += len(texts(full))
    assert observations > 0 and notes > 0  # the demo has scores and a life-context note


# --- hand-built couples ------------------------------------------------------------------------


def differentiation_answers(level: float, *, skip: int = 0) -> dict[str, int]:
    """Answers whose every area's mean is `level`; the first `skip` items left out."""
    instrument = catalog.registry().latest("differentiation")
    answers = level_answers(instrument, {s.id: level for s in instrument.subscales}, {})
    return dict(list(answers.items())[skip:])


@pytest.fixture
def couple(db, make_practice, make_couple, make_assessment, answer_as):
    """An intake both sent (B's with too few answers on one area, A's with a life-context note), then a
    check-in only A sent, and an open one nobody answered."""
    owner = make_practice()
    couple = make_couple(owner, names=("Robin Quarrie", "Sasha Pellow"))
    _, tokens = make_assessment(couple, instruments=["differentiation", "life_context", "safety"], occasion="Intake")
    answer_as(tokens[1], {"differentiation": differentiation_answers(3.0), "life_context": {"anything_else": NOTE}})
    answer_as(tokens[2], {"differentiation": differentiation_answers(4.0, skip=3), "life_context": {"work": 3}})
    _, tokens = make_assessment(couple, instruments=["checkin"], occasion="Week 4")
    answer_as(tokens[1], {"checkin": CHECKIN})
    make_assessment(couple, instruments=["checkin"], occasion="Week 5")
    return owner, couple


def test_a_hand_built_couple_exports_as_the_couple_view_shows_it(db, client, couple):
    owner, couple = couple
    browser = login(client, owner)
    found = download(browser, couple.id)
    by_type = check_against_view(couple, found)
    assert fhir.counts(found) == {
        "Group": 1,
        "Patient": 2,
        # differentiation, life context and safety, and the check-in
        "Questionnaire": 4,
        # three of the intake each, A's check-in; nobody answered week 5
        "QuestionnaireResponse": 7,
        # every area of both partners' differentiation, and A's check-in
        "Observation": 2 * len(catalog.registry().latest("differentiation").measures()) + 1,
    }
    # B's first area had too few answers: no value or band, a reason instead
    first = catalog.registry().latest("differentiation").subscales[0].id
    missing = [o for o in by_type["Observation"] if "dataAbsentReason" in o]
    assert [o["code"]["coding"][0]["code"] for o in missing] == [f"differentiation/{first}"]
    assert "interpretation" not in missing[0]
    assert missing[0]["dataAbsentReason"]["coding"][0]["system"] == fhir.DATA_ABSENT_REASON
    # A's differentiation: 3.00 everywhere, as the page shows, with a band in words and in Tandem's codes
    page = browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert "3.00" in page
    valued = [o for o in by_type["Observation"] if "valueQuantity" in o]
    assert all(o["valueQuantity"]["code"] == "{score}" for o in valued)
    assert all(o["interpretation"][0]["coding"][0]["system"] == "http://localhost/fhir/CodeSystem/band" for o in valued)
    # No free text, email, therapist note or anything else of the couple's record
    text = json.dumps(found)
    assert NOTE not in text and "@example.org" not in text
    assert all("telecom" not in p for p in by_type["Patient"])
    # Asked for, each comes alone
    with_text = check_against_view(couple, download(browser, couple.id, "?free_text=1"))
    assert texts(with_text) == [NOTE] and not emails_in(with_text)
    with_emails = check_against_view(couple, download(browser, couple.id, "?emails=1&free_text=0"))
    assert not texts(with_emails) and len(emails_in(with_emails)) == 2
    # Each download makes its own ids
    again = download(browser, couple.id)
    assert not {e["fullUrl"] for e in again["entry"]} & {e["fullUrl"] for e in found["entry"]}


def test_the_scored_value_of_a_reverse_keyed_answer_is_turned_round(db, client, couple):
    owner, couple = couple
    found = download(login(client, owner), couple.id)
    differentiation = catalog.registry().latest("differentiation")
    (questionnaire,) = (
        e["resource"]
        for e in found["entry"]
        if e["resource"].get("url", "").endswith("/fhir/Questionnaire/differentiation")
    )
    scored = ordinals(questionnaire)
    reversed_items = [item for item in differentiation.items if item.reverse]
    assert reversed_items
    for item in differentiation.items:
        scale = differentiation.scale_of(item)
        for option in scale.values:
            assert scored[item.id, str(option.value)] == key(item, scale, option.value)


def test_a_couple_nobody_answered_is_a_group_of_two_patients(client, make_practice, make_couple):
    owner = make_practice()
    empty = make_couple(owner, emails=False)
    found = download(login(client, owner), empty.id, "?emails=1")
    by_type = check_bundle(found)
    assert fhir.counts(found) == {
        "Group": 1,
        "Patient": 2,
        "Questionnaire": 0,
        "QuestionnaireResponse": 0,
        "Observation": 0,
    }
    assert not emails_in(by_type)


def test_the_download_is_audited_with_its_choices_and_no_names(db, client, couple):
    owner, couple = couple
    browser = login(client, owner)
    download(browser, couple.id, "?free_text=1")
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "couple.exported_fhir")).one()
    assert (event.couple_id, event.actor_id, event.target) == (couple.id, owner.id, f"couple:{couple.id}")
    assert event.detail["free_text"] is True and event.detail["emails"] is False
    assert event.detail["resources"]["QuestionnaireResponse"] == 7
    assert "Robin" not in json.dumps(event.detail) and NOTE not in json.dumps(event.detail)


@pytest.mark.parametrize(
    "query", ["?free_text=yes", "?emails=true", "?free_text=1&free_text=1", "?emails=", "?free_text=%00"]
)
def test_a_flag_other_than_0_or_1_is_a_bad_request(client, couple, query):
    owner, couple = couple
    assert login(client, owner).get(f"/couples/{couple.id}/export/fhir{query}").status_code == 400


def test_another_practices_or_colleagues_couple_is_404_and_anonymous_signs_in(
    db, client, make_client, make_practice, make_clinician, couple
):
    owner, couple = couple
    url = f"/couples/{couple.id}/export/fhir"
    assert login(client, make_practice()).get(url).status_code == 404
    assert login(make_client(), make_clinician(owner)).get(url).status_code == 404
    assert (
        login(make_client(), make_clinician(owner)).get(f"/couples/{couple.id + 1000}/export/fhir").status_code == 404
    )
    anonymous = make_client().get(url)
    assert anonymous.status_code == 302 and "/signin" in anonymous.headers["Location"]
    assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "couple.exported_fhir")).all()


def test_the_download_runs_the_same_number_of_queries_for_one_assessment_or_three(
    app, client, make_practice, make_couple, make_assessment, answer_as, count_queries
):
    owner = make_practice()
    one, three = make_couple(owner), make_couple(owner)
    for couple, times in ((one, 1), (three, 3)):
        for n in range(times):
            _, tokens = make_assessment(couple, instruments=["checkin", "differentiation"], occasion=f"Week {n}")
            for pos in (1, 2):
                answer_as(tokens[pos], {"checkin": CHECKIN, "differentiation": differentiation_answers(3.5)})
    browser = login(client, owner)
    counted = {}
    for couple in (one, three):
        download(browser, couple.id)  # the session's first request reads what later ones do not
        memo.init_app(app)  # nothing read before is kept: every answer is read again
        with count_queries() as statements:
            found = download(browser, couple.id)
        counted[couple.id] = statements
        assert fhir.counts(found)["QuestionnaireResponse"] == 4 * (1 if couple is one else 3)
    assert len(counted[one.id]) == len(counted[three.id]), counted[three.id]


def test_the_couple_page_offers_the_export_and_says_what_the_choices_add(client, couple):
    owner, couple = couple
    page = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert f'action="/couples/{couple.id}/export/fhir"' in page
    assert 'name="free_text" type="checkbox" value="1"' in page and 'name="emails" type="checkbox" value="1"' in page
    assert "in their own words" in page and "email addresses" in page


# --- the Questionnaire endpoint ----------------------------------------------------------------


def test_every_instrument_is_served_as_a_valid_questionnaire(client, make_practice):
    browser = login(client, make_practice())
    registry = catalog.registry()
    for instrument_id in registry.ids():
        latest = registry.latest(instrument_id)
        response = browser.get(f"/fhir/Questionnaire/{instrument_id}")
        assert response.status_code == 200 and response.mimetype == "application/fhir+json"
        served = response.get_json(force=True)
        validate(served)
        assert served["url"] == f"http://localhost/fhir/Questionnaire/{instrument_id}"
        assert (served["version"], served["status"], served["title"]) == (str(latest.version), "active", latest.title)
        assert latest.licence in served["copyright"] and latest.attribution in served["copyright"]
        assert [i["linkId"] for i in served["item"]] == [i.id for i in latest.items]
        for item, question in zip(latest.items, served["item"], strict=True):
            if item.type == "text":
                assert question["type"] == "text" and "answerOption" not in question
                continue
            scale = latest.scale_of(item)
            assert question["type"] == "choice"
            assert [o["valueCoding"] for o in question["answerOption"]] == [
                {"code": str(v.value), "display": v.label} for v in scale.values
            ]
        versioned = browser.get(f"/fhir/Questionnaire/{instrument_id}?version={latest.version}")
        assert versioned.status_code == 200 and versioned.get_json(force=True) == served


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/Questionnaire/nonexistent",
        "/fhir/Questionnaire/connection?version=99",
        "/fhir/Questionnaire/connection?version=0",
        "/fhir/Questionnaire/connection?version=x",
        "/fhir/Questionnaire/connection?version=",
        "/fhir/Questionnaire/connection?version=%C2%B3",
        "/fhir/Questionnaire/connection?version=99999999999999999999999",
        "/fhir/Questionnaire/..%2Fsafety",
    ],
)
def test_an_unknown_questionnaire_or_version_is_404(client, make_practice, path):
    assert login(client, make_practice()).get(path).status_code == 404


def test_questionnaires_need_a_signed_in_clinician(client):
    response = client.get("/fhir/Questionnaire/connection")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


# --- the NDJSON command ------------------------------------------------------------------------


def read_ndjson(folder: Path) -> dict[str, list[dict]]:
    """Each file's resources, parsed a line at a time."""
    found = {}
    for kind in TYPES:
        lines = (folder / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines()
        found[kind] = [json.loads(line) for line in lines]
        assert all(resource["resourceType"] == kind for resource in found[kind])
    return found


def check_ndjson(folder: Path) -> dict[str, list[dict]]:
    files = read_ndjson(folder)
    by_ref = {f"{kind}/{r['id']}": r for kind, resources in files.items() for r in resources}
    return check_resources(by_ref, [r for resources in files.values() for r in resources])


def test_the_command_writes_one_practice_as_ndjson_and_nothing_of_another(
    app, db, tmp_path, couple, make_practice, make_couple, make_assessment, answer_as, monkeypatch
):
    owner, couple = couple
    empty = make_couple(owner, label="Nobody sent")
    other = make_couple(make_practice(), label="Elsewhere pair", names=("Ottoline Brisk", "Fenwick Dray"))
    _, tokens = make_assessment(other, instruments=["connection"])
    answer_as(tokens[1], {"connection": {"heard_1": 2}})
    runner = app.test_cli_runner()
    monkeypatch.setattr(fhir_export, "BATCH", 1)  # a couple at a time: batches join up

    out = tmp_path / "one"
    result = runner.invoke(args=["export-fhir", "--output", str(out), "--practice", str(owner.practice_id)])
    assert result.exit_code == 0, result.output
    files = check_ndjson(out)
    assert {g["name"] for g in files["Group"]} == {couple.label, empty.label}
    assert len(files["QuestionnaireResponse"]) == 7
    # The files' ids name each Questionnaire version the same way every time
    assert sorted(q["id"] for q in files["Questionnaire"]) == [
        "checkin-v1",
        "differentiation-v1",
        "life-context-v1",
        "safety-v1",
    ]
    written = "".join(p.read_text(encoding="utf-8") for p in out.iterdir())
    for secret in ("Elsewhere", "Ottoline", "Fenwick", NOTE, "@example.org", "/fhir/Questionnaire/connection"):
        assert secret not in written
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{kind}.ndjson" for kind in TYPES)
    assert all(p.stat().st_mode & 0o077 == 0 for p in out.iterdir())
    # The scores are those of a Bundle of the same couple (the couple view's)
    by_ref = {f"{kind}/{r['id']}": r for kind, resources in files.items() for r in resources}
    mine = {"Patient/" + p["id"] for p in files["Patient"] if p["name"][0]["text"] in ("Robin Quarrie", "Sasha Pellow")}
    subset = {kind: [r for r in resources if _about(r, by_ref) & mine] for kind, resources in files.items()}
    subset["Questionnaire"] = files["Questionnaire"]
    assert exported(subset, by_ref) == on_the_couple_view(couple)
    # Counts only on the way out, and one audit row by the system, for that practice
    assert "resourceType" not in result.output and "Robin" not in result.output
    assert "Patient.ndjson 4" in result.output and "QuestionnaireResponse.ndjson 7" in result.output
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "practice.exported_fhir"))
    assert (event.actor, event.actor_id, event.practice_id) == ("system", None, owner.practice_id)
    assert event.detail["resources"]["Patient"] == 4 and event.detail["free_text"] is False

    # Asked for, free text and emails; and every practice at once
    everything = tmp_path / "all"
    result = runner.invoke(args=["export-fhir", "--output", str(everything), "--free-text", "--emails"])
    assert result.exit_code == 0, result.output
    files = check_ndjson(everything)
    assert len(files["Group"]) == 3 and texts(files) == [NOTE] and len(emails_in(files)) == 6
    assert "/fhir/Questionnaire/connection" in (everything / "QuestionnaireResponse.ndjson").read_text()

    # Files already there are never replaced; an unknown practice is refused
    again = runner.invoke(args=["export-fhir", "--output", str(out)])
    assert again.exit_code == 1 and "already holds" in again.output
    unknown = runner.invoke(args=["export-fhir", "--output", str(tmp_path / "none"), "--practice", "999999"])
    assert unknown.exit_code == 1 and not (tmp_path / "none").exists()


def _about(resource: dict, by_ref: dict[str, dict]) -> set[str]:
    """The Patients a resource is about (a Group: its members)."""
    if resource["resourceType"] == "Patient":
        return {f"Patient/{resource['id']}"}
    return {r["reference"] for r in references(resource) if r["type"] == "Patient"}


def test_a_failed_write_leaves_no_files(app, db, tmp_path, couple, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")
        yield  # a generator, like the real one

    monkeypatch.setattr(fhir_export, "practice_resources", broken)
    result = app.test_cli_runner().invoke(args=["export-fhir", "--output", str(tmp_path)])
    assert result.exit_code == 1 and "Nothing was written" in result.output
    assert list(tmp_path.iterdir()) == []
    assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "practice.exported_fhir")).all()
