"""FHIR R4: each questionnaire as a Questionnaire (read-only), and a couple as a Bundle to download."""

from __future__ import annotations

import json

from flask import abort, make_response, request
from flask_login import login_required

from clinic import audit, catalog, fhir, fhir_export
from clinic.blueprints.fhir import bp
from clinic.extensions import db
from clinic.models import Couple
from clinic.scoping import get_or_404

# A flag in the query string: absent or "0" is no, "1" is yes; anything else is a bad request.
FLAGS = {"0": False, "1": True}


def _fhir_json(resource: dict):
    response = make_response(json.dumps(resource, ensure_ascii=False, indent=2))
    response.headers["Content-Type"] = fhir.MEDIA_TYPE
    return response


def _flag(name: str) -> bool:
    given = request.args.getlist(name)
    if not given:
        return False
    if len(given) > 1 or given[0] not in FLAGS:
        abort(400)
    return FLAGS[given[0]]


@bp.route("/fhir/Questionnaire/<instrument_id>")
@login_required
def questionnaire(instrument_id: str):
    """An instrument as a FHIR Questionnaire: the latest version, or the one `?version=` names."""
    registry = catalog.registry()
    wanted = request.args.get("version")
    if wanted is not None and not (wanted.isascii() and wanted.isdigit()):
        abort(404)
    try:
        instrument = registry.latest(instrument_id) if wanted is None else registry.get(instrument_id, int(wanted))
    except KeyError:
        abort(404)
    return _fhir_json(fhir.questionnaire(instrument, fhir_export.base_url(), fhir.questionnaire_id(instrument)))


@bp.route("/couples/<int:couple_id>/export/fhir")
@login_required
def couple_bundle(couple_id: int):
    """The couple as a FHIR R4 Bundle file (free text and emails only when asked for); recorded in the audit trail."""
    couple = get_or_404(Couple, couple_id)
    free_text, emails = _flag("free_text"), _flag("emails")
    found = fhir_export.couple_bundle(couple, free_text=free_text, emails=emails)
    audit.record(
        "couple.exported_fhir",
        couple_id=couple.id,
        target=f"couple:{couple.id}",
        detail={"free_text": free_text, "emails": emails, "resources": fhir.counts(found)},
    )
    db.session.commit()
    response = _fhir_json(found)
    response.headers["Content-Disposition"] = f'attachment; filename="tandem-couple-{couple.id}.fhir.json"'
    response.headers["Cache-Control"] = "no-store"
    return response
