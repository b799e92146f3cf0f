"""FHIR R4 (4.0.1) resources of Tandem's data, as plain dicts: pure functions of loaded rows.

What becomes what:
- an instrument version: a Questionnaire. Its `url` is BASE_URL + /fhir/Questionnaire/<instrument
  id> (the address that serves it), its `version` the instrument's; choice items carry answerOption
  codings (code: the value, display: its label) with the value scoring counts (reverse keying
  applied) as the SDC ordinalValue extension; text items are `text` items.
- a partner: a Patient with the display name (the email only when asked for);
- a couple: a Group of type person with the two Patients as members, named by the couple's label;
- a partner's submitted questionnaire: a QuestionnaireResponse (choice answers as the Questionnaire's
  codings; free text only when asked for);
- each subscale and total of a scored questionnaire: an Observation derived from its response, with
  the score as the couple view writes it (half-up, two decimals) and the band as its interpretation;
  a score without enough answers has a dataAbsentReason instead.

Nothing else goes out: no therapist notes, safety reviews, reports, links or audit rows. Scores come
from clinic.results (the couple view's own scoring); this module reads no database and no config.
Ids are made per export run (Ids): in a Bundle every reference is a `urn:uuid:` fullUrl of an entry,
in NDJSON files (FHIR Bulk Data) it is `Type/id`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from clinic.models import Couple, Invitation, Partner
from clinic.results import CoupleResults, measure_score
from instruments import Instrument, Item, Measure, ScoreResult
from instruments.numbers import shown
from instruments.scoring import key

FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+json"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
UCUM = "http://unitsofmeasure.org"
# The resource types of an export, in the order a Bundle lists them (and the NDJSON files' names).
TYPES = ("Group", "Patient", "Questionnaire", "QuestionnaireResponse", "Observation")

Answers = Mapping[int, Mapping[str, Mapping[str, int | str]]]  # invitation id -> instrument id -> item id -> answer


def questionnaire_url(base_url: str, instrument_id: str) -> str:
    """The canonical URL of an instrument (every version shares it; `version` tells them apart)."""
    return f"{base_url.rstrip('/')}/fhir/Questionnaire/{instrument_id}"


def canonical(base_url: str, instrument: Instrument) -> str:
    """The canonical reference to one instrument version: url|version."""
    return f"{questionnaire_url(base_url, instrument.id)}|{instrument.version}"


def measure_system(base_url: str) -> str:
    """Tandem's code system of scores: code <instrument>/<subscale or total>."""
    return f"{base_url.rstrip('/')}/fhir/CodeSystem/measure"


def band_system(base_url: str) -> str:
    """Tandem's code system of interpretation bands: code <instrument>/<measure>/<band>."""
    return f"{base_url.rstrip('/')}/fhir/CodeSystem/band"


def questionnaire_id(instrument: Instrument) -> str:
    """A FHIR id of one instrument version, the same in every export: "life-context-v1"
    (FHIR ids allow letters, digits, "-" and ".", so an underscore becomes "-")."""
    return f"{instrument.id.replace('_', '-')}-v{instrument.version}"


def instant(when: datetime) -> str:
    """A time as FHIR writes it: ISO 8601 in UTC, with its offset."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


class Ids:
    """The ids and references of one export run: a random uuid per thing, the same thing always the
    same uuid. For a Bundle (`bundle=True`) references are the entries' `urn:uuid:` fullUrls; for
    NDJSON files they are `Type/id`, and a Questionnaire keeps its stable id (questionnaire_id)."""

    def __init__(self, *, bundle: bool) -> None:
        self.bundle = bundle
        self._made: dict[tuple[str, Hashable], str] = {}

    def id(self, kind: str, thing: Hashable) -> str:
        return self._made.setdefault((kind, thing), str(uuid.uuid4()))

    def questionnaire(self, instrument: Instrument) -> str:
        if not self.bundle:
            return questionnaire_id(instrument)
        return self.id("Questionnaire", (instrument.id, instrument.version))

    def reference(self, kind: str, thing: Hashable) -> dict:
        made = self.id(kind, thing)
        return {"reference": f"urn:uuid:{made}" if self.bundle else f"{kind}/{made}", "type": kind}


def _name(instrument: Instrument) -> str:
    """A computable name (FHIR wants [A-Z][A-Za-z0-9_]*): "LifeContext"."""
    return "".join(part.capitalize() for part in instrument.id.split("_"))


def _copyright(instrument: Instrument) -> str:
    return f"{instrument.attribution.strip()} Licence: {instrument.licence.strip().rstrip('.')}."


def _coding(instrument: Instrument, item: Item, value: int) -> dict:
    """The coding of one answer: the value as code, its label as display."""
    return {"code": str(value), "display": instrument.scale_of(item).label_of(value)}


def _question(instrument: Instrument, item: Item) -> dict:
    if item.type == "text":
        return {"linkId": item.id, "text": item.text, "type": "text", "maxLength": item.text_limit}
    scale = instrument.scale_of(item)
    return {
        "linkId": item.id,
        "text": item.text,
        "type": "choice",
        "answerOption": [
            {
                # What scoring counts for this answer (a reverse-keyed item counts it turned round).
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": key(item, scale, option.value)}],
                "valueCoding": _coding(instrument, item, option.value),
            }
            for option in scale.values
        ],
    }


def questionnaire(instrument: Instrument, base_url: str, resource_id: str) -> dict:
    """One instrument version as a Questionnaire."""
    resource = {
        "resourceType": "Questionnaire",
        "id": resource_id,
        "url": questionnaire_url(base_url, instrument.id),
        "version": str(instrument.version),
        "name": _name(instrument),
        "title": instrument.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": instrument.description_clinician.strip(),
        "copyright": _copyright(instrument),
        "item": [_question(instrument, item) for item in instrument.items],
    }
    if instrument.notice and instrument.notice.strip():
        resource["purpose"] = instrument.notice.strip()
    return resource


def patient(partner: Partner, resource_id: str, *, emails: bool) -> dict:
    """A partner as a minimal Patient: the display name, and the email only when asked for."""
    resource: dict = {"resourceType": "Patient", "id": resource_id}
    if partner.display_name.strip():
        resource["name"] = [{"text": partner.display_name.strip()}]
    if emails and partner.email and partner.email.strip():
        resource["telecom"] = [{"system": "email", "value": partner.email.strip()}]
    return resource


def group(couple: Couple, members: list[dict], resource_id: str) -> dict:
    """A couple as a Group of people: its label (as the JSON export gives it) and its partners."""
    resource: dict = {"resourceType": "Group", "id": resource_id, "type": "person", "actual": True}
    if couple.label.strip():
        resource["name"] = couple.label.strip()
    resource["quantity"] = len(members)
    resource["member"] = [{"entity": member} for member in members]
    return resource


def questionnaire_response(
    instrument: Instrument,
    answers: Mapping[str, int | str],
    submitted_at: datetime,
    *,
    base_url: str,
    resource_id: str,
    subject: dict,
    free_text: bool,
) -> dict:
    """One partner's submitted answers to one instrument version (free text only when asked for)."""
    items = []
    for item in instrument.items:
        value = answers.get(item.id)
        if item.type == "text":
            if not free_text or not isinstance(value, str) or not value.strip():
                continue
            answer = {"valueString": value}
        else:
            if not isinstance(value, int) or isinstance(value, bool) or not instrument.scale_of(item).contains(value):
                continue  # unanswered (or not a value of the scale, which no submitted answer is)
            answer = {"valueCoding": _coding(instrument, item, value)}
        items.append({"linkId": item.id, "text": item.text, "answer": [answer]})
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id,
        "questionnaire": canonical(base_url, instrument),
        "status": "completed",
        "subject": subject,
        "authored": instant(submitted_at),
    }
    if items:
        resource["item"] = items
    return resource


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def band_code(instrument: Instrument, measure: Measure, band_index: int) -> str:
    """A band's code: <instrument>/<measure>/<its label in lower case> (its place when the label has no letters)."""
    label = _slug(measure.bands[band_index].label) or str(band_index + 1)
    return f"{instrument.id}/{measure.id}/{label}"


def observation(
    instrument: Instrument,
    measure: Measure,
    found: ScoreResult,
    submitted_at: datetime,
    *,
    base_url: str,
    resource_id: str,
    subject: dict,
    derived_from: dict,
) -> dict:
    """One subscale or total score: the value as the couple view writes it, its band as interpretation;
    without enough answers, a dataAbsentReason instead."""
    resource: dict = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": {
            "coding": [
                {"system": measure_system(base_url), "code": f"{instrument.id}/{measure.id}", "display": measure.label}
            ],
            "text": f"{instrument.title}: {measure.label}",
        },
        "subject": subject,
        "effectiveDateTime": instant(submitted_at),
    }
    if found.valid and found.value is not None:
        resource["valueQuantity"] = {"value": shown(found.value), "unit": "score", "system": UCUM, "code": "{score}"}
        if found.band is not None:
            index = measure.bands.index(found.band)
            coding = {"system": band_system(base_url), "code": band_code(instrument, measure, index)}
            resource["interpretation"] = [
                {"coding": [coding | {"display": found.band.label}], "text": found.band.label}
            ]
    else:
        resource["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT_REASON, "code": "asked-declined", "display": "Asked But Declined"}],
            "text": f"Not enough answers for a score: {found.answered} of {found.total_items} items answered.",
        }
    resource["derivedFrom"] = [derived_from]
    return resource


@dataclass
class CoupleResources:
    """One couple's resources, and the instrument versions its responses answered."""

    group: dict
    patients: list[dict]
    responses: list[dict] = field(default_factory=list)
    observations: list[dict] = field(default_factory=list)
    instruments: dict[tuple[str, int], Instrument] = field(default_factory=dict)

    def by_type(self) -> Iterator[tuple[str, list[dict]]]:
        """(type, resources) of everything but the Questionnaires."""
        yield "Group", [self.group]
        yield "Patient", self.patients
        yield "QuestionnaireResponse", self.responses
        yield "Observation", self.observations


def _sent(results: CoupleResults) -> dict[tuple[int, int], Invitation]:
    """The submitted invitation of each (assessment id, partner position)."""
    position = {p.id: p.position for p in results.partners.values()}
    return {
        (a.id, position[i.partner_id]): i
        for a in results.assessments
        for i in a.invitations
        if i.submitted_at is not None
    }


def couple_resources(
    results: CoupleResults,
    answers: Answers,
    ids: Ids,
    *,
    base_url: str,
    free_text: bool = False,
    emails: bool = False,
) -> CoupleResources:
    """A couple's Group, Patients, QuestionnaireResponses and Observations, from the couple view's
    results (clinic.results) and the submitted answers they were scored from (by invitation id)."""
    partners = [results.partners[pos] for pos in sorted(results.partners)]
    made = CoupleResources(
        group=group(
            results.couple, [ids.reference("Patient", p.id) for p in partners], ids.id("Group", results.couple.id)
        ),
        patients=[patient(p, ids.id("Patient", p.id), emails=emails) for p in partners],
    )
    sent = _sent(results)
    for assessment in results.assessments:
        for row in results.by_assessment.get(assessment.id, ()):
            instrument = row.instrument
            for pos in sorted(row.results):
                result = row.results[pos]
                invitation = sent.get((assessment.id, pos))
                if result is None or invitation is None or invitation.submitted_at is None:
                    continue  # not sent by this partner
                subject = ids.reference("Patient", results.partners[pos].id)
                thing = (invitation.id, instrument.id)
                made.instruments[(instrument.id, instrument.version)] = instrument
                made.responses.append(
                    questionnaire_response(
                        instrument,
                        answers.get(invitation.id, {}).get(instrument.id, {}),
                        invitation.submitted_at,
                        base_url=base_url,
                        resource_id=ids.id("QuestionnaireResponse", thing),
                        subject=subject,
                        free_text=free_text,
                    )
                )
                if instrument.kind != "scored":
                    continue  # a checklist or a screen is read answer by answer, as on the couple view
                for measure in instrument.measures():
                    found = measure_score(result, measure.id)
                    if found is None:
                        continue
                    made.observations.append(
                        observation(
                            instrument,
                            measure,
                            found,
                            invitation.submitted_at,
                            base_url=base_url,
                            resource_id=ids.id("Observation", (*thing, measure.id)),
                            subject=subject,
                            derived_from=ids.reference("QuestionnaireResponse", thing),
                        )
                    )
    return made


def questionnaires(instruments: Mapping[tuple[str, int], Instrument], ids: Ids, base_url: str) -> list[dict]:
    """The Questionnaires of these instrument versions, in id and version order."""
    return [questionnaire(instruments[k], base_url, ids.questionnaire(instruments[k])) for k in sorted(instruments)]


def bundle(made: CoupleResources, ids: Ids, *, base_url: str, now: datetime) -> dict:
    """A couple's resources and the Questionnaires they answered as a collection Bundle: every entry's
    fullUrl is urn:uuid:<its id>, and every reference inside points at one of them."""
    if not ids.bundle:
        raise ValueError("a Bundle needs Ids(bundle=True)")
    resources = [
        made.group,
        *made.patients,
        *questionnaires(made.instruments, ids, base_url),
        *made.responses,
        *made.observations,
    ]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": instant(now),
        "entry": [{"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource} for resource in resources],
    }


def counts(found: Mapping) -> dict[str, int]:
    """How many resources of each type a Bundle holds, in TYPES order (for the audit trail)."""
    tally = dict.fromkeys(TYPES, 0)
    for entry in found.get("entry", ()):
        tally[entry["resource"]["resourceType"]] += 1
    return tally
