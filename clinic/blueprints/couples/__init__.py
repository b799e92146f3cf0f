"""The therapist's side: couples, assessments and the partners' links."""

from flask import Blueprint

bp = Blueprint("couples", __name__, url_prefix="/couples")

from clinic.blueprints.couples import routes  # noqa: E402,F401
