"""Friendly error pages that show no internals."""

import contextlib
import logging

from flask import Flask, g, render_template, request
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc

from clinic.extensions import db
from clinic.models import DEFAULT_LEAVE_URL

log = logging.getLogger(__name__)
# How long a page or the autosave script is asked to wait when the database is away for a moment.
RETRY_AFTER_SECONDS = 5
# The database went away (a restart, a dropped or terminated connection, the pool exhausted):
# the request can be tried again as it is. Integrity and data errors are bugs, not blips.
DATABASE_AWAY = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
UNAVAILABLE_JSON = "We couldn't save just now. We'll keep trying."


def _on_partner_pages() -> bool:
    return request.path == "/q" or request.path.startswith(("/q/", "/l/"))


def _wants_json() -> bool:
    if request.endpoint == "client.autosave":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def init_app(app: Flask) -> None:
    @app.errorhandler(400)
    def bad_request(error):
        # Descriptions are ours (abort(400, "...")) or Werkzeug's generic text: no internals.
        return render_template("errors/400.html", message=error.description), 400

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/csrf.html"), 400

    def not_found_page(status: int):
        # An address under the partner's /q that matches no route (an old /q/<questionnaire>
        # bookmark, a mistyped page): the partner's page, never the therapist's sign-in link.
        if request.path == "/q" or request.path.startswith("/q/"):
            return render_template("client/not_found.html"), status
        return render_template("errors/404.html"), status

    @app.errorhandler(404)
    def not_found(error):
        return not_found_page(404)

    @app.errorhandler(405)
    def method_not_allowed(error):
        return not_found_page(405)

    def database_away(error):
        """The database is away for a moment: 503 with Retry-After, never a 500.

        Nothing of the request was written (its transaction is rolled back), and the next request
        gets a fresh connection (the pool drops a broken one, and pool_pre_ping tests the rest).
        The page touches no database: the signed-in user is not loaded again."""
        with contextlib.suppress(sa_exc.SQLAlchemyError):  # a dead connection may refuse even this
            db.session.rollback()
        # The class only: a driver's message can quote a statement's parameters.
        log.warning(
            "database unavailable: %s on %s", type(getattr(error, "orig", None) or error).__name__, request.endpoint
        )
        g._login_user = AnonymousUserMixin()  # the page's header must not load the user again
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
        if _wants_json():
            return {"error": UNAVAILABLE_JSON, "retry_after": RETRY_AFTER_SECONDS}, 503, headers
        template = "client/unavailable.html" if _on_partner_pages() else "errors/unavailable.html"
        page = render_template(template, posted=request.method == "POST", leave_to=DEFAULT_LEAVE_URL)
        return page, 503, headers

    for away in DATABASE_AWAY:
        app.register_error_handler(away, database_away)

    @app.errorhandler(500)
    def server_error(error):
        # A database blip outside a view (an after-request hook, a commit on the way out).
        if isinstance(getattr(error, "original_exception", None), DATABASE_AWAY):
            return database_away(error.original_exception)
        # Whatever the failed request had pending must not leak into the next one.
        db.session.rollback()
        return render_template("errors/500.html"), 500
