from flask import Blueprint

bp = Blueprint("practice", __name__, url_prefix="/practice")

from clinic.blueprints.practice import routes  # noqa: E402,F401
