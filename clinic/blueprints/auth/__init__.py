from flask import Blueprint

bp = Blueprint("auth", __name__)

from clinic.blueprints.auth import routes  # noqa: E402,F401
