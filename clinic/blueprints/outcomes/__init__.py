"""The outcomes overview: how a clinician's couples, or the practice's, changed over time."""

from flask import Blueprint

bp = Blueprint("outcomes", __name__, url_prefix="/outcomes")

from clinic.blueprints.outcomes import routes  # noqa: E402,F401
