from flask import Blueprint

bp = Blueprint("library", __name__, url_prefix="/instruments")

from clinic.blueprints.library import routes  # noqa: E402,F401
