"""The partner's side: a private link opens one invitation's questionnaires."""

from flask import Blueprint

bp = Blueprint("client", __name__)

from clinic.blueprints.client import routes  # noqa: E402,F401
