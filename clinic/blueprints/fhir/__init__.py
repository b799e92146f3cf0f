from flask import Blueprint

bp = Blueprint("fhir", __name__)

from clinic.blueprints.fhir import routes  # noqa: E402,F401
