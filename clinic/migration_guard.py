"""Migrations that seal or encrypt data refuse the published development keys on real data.

A migration that writes keyed data (the audit trail's HMAC chain, AUDIT_KEY) or encrypted
data (DATA_KEYS) seals it with the keys of whatever environment runs it. Run by mistake with
TANDEM_ENV=development against a database that holds a practice's records, it would seal them
with keys anyone can read in clinic/config.py. Such a migration declares itself with
``@writes_keyed_data(...)`` on its ``upgrade()``: it then refuses, before writing anything,
when a key it uses is a development default and the database already holds data, unless the
operator sets TANDEM_MIGRATE_WITH_DEVELOPMENT_KEYS=1. An empty database (a new install,
`make run`) needs no flag. migrations/env.py lists these migrations before an upgrade and
checks them all before the first one runs.

The test configuration's keys are not refused: TestConfig always uses its own database
(``sqlite://`` unless code says otherwise), so TANDEM_ENV=testing cannot reach a real one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from clinic.config import DEVELOPMENT_SECRET

ALLOW_FLAG = "TANDEM_MIGRATE_WITH_DEVELOPMENT_KEYS"
# The settings a keyed migration may seal data with.
SETTINGS = ("AUDIT_KEY", "DATA_KEYS")
# Rows in any of these mean the database holds a practice's records.
DATA_TABLES = ("practice", "audit_event")


@dataclass(frozen=True)
class KeyedData:
    """What a keyed migration writes ("re-keys the audit trail with AUDIT_KEY"), with which settings."""

    what: str
    settings: tuple[str, ...]


class MigrationRefused(RuntimeError):
    """A keyed migration will not run with these settings; the message says what to change."""


def development_key_settings(config, settings: tuple[str, ...] = SETTINGS) -> list[str]:
    """The settings among ``settings`` whose key in use is a development default.

    The development defaults are the keys the app derives from SECRET_KEY when AUDIT_KEY or
    DATA_KEYS is unset (clinic.audit.key_from_config, clinic.crypto.keys_from_config) while
    SECRET_KEY is DevelopmentConfig's published DEVELOPMENT_SECRET; the keys in use are compared
    with the keys that secret gives.
    """
    from clinic.audit import key_from_config
    from clinic.crypto import _derived_key

    development = {"ENV_NAME": "development", "SECRET_KEY": DEVELOPMENT_SECRET}
    found = []
    if "AUDIT_KEY" in settings and key_from_config(config) == key_from_config(development):
        found.append("AUDIT_KEY")
    if "DATA_KEYS" in settings:
        # The first key encrypts (MultiFernet); with none set, the one derived from SECRET_KEY does.
        first = next((k.strip() for k in (config.get("DATA_KEYS") or "").split(",") if k.strip()), None)
        in_use = first.encode() if first else _derived_key(config.get("SECRET_KEY") or "")
        if in_use == _derived_key(DEVELOPMENT_SECRET):
            found.append("DATA_KEYS")
    return found


def holds_data(conn: sa.Connection) -> bool:
    """Whether the database already has a practice or an audit row (an install in use)."""
    existing = set(sa.inspect(conn).get_table_names())
    return any(
        conn.execute(sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first() is not None
        for table in DATA_TABLES
        if table in existing
    )


def allowed_by_operator() -> bool:
    """The operator said, in the environment, that development keys are meant here."""
    return os.environ.get(ALLOW_FLAG, "").strip().lower() in {"1", "true", "yes", "on"}


def refuse_development_keys(conn: sa.Connection, revision: str, what: str, settings: tuple[str, ...]) -> None:
    """Raise MigrationRefused if ``revision`` would seal existing data with development keys."""
    weak = development_key_settings(current_app.config, settings)
    if not weak or allowed_by_operator() or not holds_data(conn):
        return
    names = " and ".join(weak)
    raise MigrationRefused(
        f"Migration {revision} {what}, but {names} {'is' if len(weak) == 1 else 'are'} the public development "
        f"default and this database holds data: set {names} to this installation's own "
        f"{'key' if len(weak) == 1 else 'keys'} (and TANDEM_ENV=production), or set {ALLOW_FLAG}=1 "
        "if this really is development data. Nothing was changed."
    )


def writes_keyed_data(what: str, settings: tuple[str, ...] = ("AUDIT_KEY",)) -> Callable:
    """Mark a migration's upgrade() as sealing data with ``settings`` and guard it.

    ``what`` says in a few words what it writes ("re-keys the audit trail with AUDIT_KEY");
    `flask db upgrade` prints it beside the revision before running.
    """
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown key settings: {', '.join(sorted(unknown))}")

    def mark(upgrade: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(upgrade)
        def guarded() -> None:
            from alembic import op

            revision = upgrade.__globals__.get("revision", "?")
            refuse_development_keys(op.get_bind(), revision, what, settings)
            upgrade()

        guarded.keyed_data = KeyedData(what, tuple(settings))
        return guarded

    return mark


def keyed_data(upgrade: Callable) -> KeyedData | None:
    """What a revision's upgrade() declared with @writes_keyed_data, or None."""
    return getattr(upgrade, "keyed_data", None)
