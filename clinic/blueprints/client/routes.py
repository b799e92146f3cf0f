from flask import current_app, redirect, url_for

from clinic.blueprints.client import bp
from clinic.blueprints.client import session as partner_session
from clinic.db_types import utcnow
from clinic.extensions import db, limiter


@bp.route("/l/<token>")
@limiter.limit(lambda: current_app.config["LINK_OPEN_LIMIT"])
def open_link(token: str):
    """Swap the link's token for a partner session and leave the token out of every later URL."""
    invitation = partner_session.open_token(token)
    if invitation is None:
        return partner_session.link_not_valid()
    if invitation.opened_at is None:
        invitation.opened_at = utcnow()
        db.session.commit()
    partner_session.start(invitation)
    return redirect(url_for("client.welcome"))
