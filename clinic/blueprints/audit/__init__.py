"""The practice owner's view of the audit trail."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/practice/audit")

from clinic.blueprints.audit import routes  # noqa: E402,F401
