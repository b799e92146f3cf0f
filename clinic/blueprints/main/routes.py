from flask import redirect, render_template, url_for
from flask_login import login_required

from clinic.blueprints.main import bp


@bp.route("/")
@login_required
def home():
    """Signed-in clinicians start on their couples."""
    return redirect(url_for("couples.index"))


@bp.route("/account")
@login_required
def account():
    """The signed-in clinician's account details."""
    return render_template("main/account.html")


@bp.route("/healthz")
def healthz():
    """Liveness check for load balancers; touches nothing."""
    return {"status": "ok"}
