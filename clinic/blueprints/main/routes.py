from flask import render_template
from flask_login import login_required

from clinic.blueprints.main import bp


@bp.route("/")
@login_required
def home():
    """The signed-in clinician's start page."""
    return render_template("main/home.html")


@bp.route("/healthz")
def healthz():
    """Liveness check for load balancers; touches nothing."""
    return {"status": "ok"}
