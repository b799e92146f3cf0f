"""Tandem: a practice tool for couples therapists."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from clinic.config import ConfigError, check_production, config_from_env

MAX_ID = 2**31 - 1  # PostgreSQL integer; SQLite would overflow at 2**63 anyway


class BoundedIntConverter(IntegerConverter):
    """<int:...> that only matches ids a database column can hold."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(config: type | Mapping | None = None) -> Flask:
    """Build the app: load config, bind extensions, register blueprints. No I/O."""
    app = Flask(__name__, instance_relative_config=False)
    # Ids in URLs beyond what the database can hold are simply not found (not a 500).
    app.url_map.converters["int"] = BoundedIntConverter
    if config is None or isinstance(config, Mapping):
        app.config.from_object(config_from_env())
        if config:
            app.config.update(config)
    else:
        app.config.from_object(config)

    if app.config["ENV_NAME"] == "production":
        check_production(app.config)
    if app.config.get("TRUSTED_PROXIES"):
        # Behind nginx or a load balancer: the client's address (for rate limits and
        # the audit trail) and scheme come from X-Forwarded-* set by that many proxies.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        # flaskr does the same: the default SQLite file needs its folder.
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "tandem.db")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite has no server-side pool to ping.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"hide_parameters": True}

    from clinic import catalog, cli, errors, login, logs, memo, security, transactions
    from clinic.extensions import csrf, db, limiter, login_manager, migrate

    catalog.init_app(app)
    memo.init_app(app)
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    transactions.init_app(app)
    csrf.init_app(app)
    # Limits hold across workers and machines only when they are counted in Redis.
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    limiter.init_app(app)
    login_manager.init_app(app)
    login.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    logs.init_app(app)
    cli.init_app(app)

    from clinic.blueprints.audit import bp as audit_bp
    from clinic.blueprints.auth import bp as auth_bp
    from clinic.blueprints.client import bp as client_bp
    from clinic.blueprints.couples import bp as couples_bp
    from clinic.blueprints.fhir import bp as fhir_bp
    from clinic.blueprints.library import bp as library_bp
    from clinic.blueprints.main import bp as main_bp
    from clinic.blueprints.outcomes import bp as outcomes_bp
    from clinic.blueprints.practice import bp as practice_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(practice_bp)
    app.register_blueprint(couples_bp)
    app.register_blueprint(client_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(library_bp)
    app.register_blueprint(outcomes_bp)
    app.register_blueprint(fhir_bp)

    from clinic import templating

    templating.init_app(app)
    return app


__all__ = ["ConfigError", "create_app"]
