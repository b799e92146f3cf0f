"""Friendly error pages that show no internals."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError

from clinic.extensions import db


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

    @app.errorhandler(500)
    def server_error(error):
        # Whatever the failed request had pending must not leak into the next one.
        db.session.rollback()
        return render_template("errors/500.html"), 500
