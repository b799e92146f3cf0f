"""Upgrades cannot silently damage data.

A migration that seals data with a key refuses the public development keys on a database
that holds data (clinic.migration_guard), `flask db upgrade` says what it will change before
changing it (migrations/env.py), and a database holding data at any earlier revision upgrades
to head with every row kept and readable.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from flask_migrate import upgrade
from sqlalchemy.orm import selectinload

from clinic import audit, catalog, create_app
from clinic.config import DEVELOPMENT_SECRET, Config, DevelopmentConfig
from clinic.extensions import db
from clinic.migration_guard import ALLOW_FLAG, development_key_settings, keyed_data
from clinic.models import Assessment, AuditHead, Couple, Practice
from clinic.results import load_couple_results
from clinic.services.responses import result_json
from instruments import score

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
# What the keyed migration's refusal must say: the setting to change, and the flag.
REFUSAL = "AUDIT_KEY is the public development default and this database holds data"


SCRIPTS = ScriptDirectory(str(Path(__file__).resolve().parents[1] / "migrations"))
# Every revision, oldest first.
REVISIONS = [script.revision for script in reversed(list(SCRIPTS.walk_revisions()))]
# The revisions that seal data with a key, found by what they declare (not by a list kept here).
KEYED = [r for r in REVISIONS if keyed_data(SCRIPTS.get_revision(r).module.upgrade)]
AUDIT_REKEY = "a7e3c9d41f20"
BEFORE_REKEY = SCRIPTS.get_revision(AUDIT_REKEY).down_revision


@pytest.fixture(autouse=True)
def no_permission(monkeypatch):
    """No test starts with the operator's permission set (a developer's shell might have it)."""
    monkeypatch.delenv(ALLOW_FLAG, raising=False)


def development_app(url):
    """The app as `TANDEM_ENV=development` runs it with no keys set: the published defaults."""
    settings = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": DEVELOPMENT_SECRET, "AUDIT_KEY": "", "DATA_KEYS": ""}
    return create_app(type("DevelopmentDefaults", (DevelopmentConfig,), settings))


def production_app(url):
    """The app as production runs it: its own random keys, every production check passed."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "AUDIT_KEY": secrets.token_urlsafe(48),
        "DATA_KEYS": Fernet.generate_key().decode(),
        "BASE_URL": "https://tandem.example.org",
        "DEBUG": False,
        "REDIS_URL": "",
    }
    return create_app(type("ProductionLike", (Config,), settings))


# --- A row factory that fills what each revision's live schema requires --------------------


def _when(conn: sa.Connection, moment: datetime) -> datetime:
    # SQLite keeps no zone: times are stored as naive UTC, as clinic.db_types.UTCDateTime does.
    return moment.replace(tzinfo=None) if conn.dialect.name == "sqlite" else moment


def _plain_value(conn: sa.Connection, table: str, column: dict):
    """A sensible value of a required column's type, for columns the caller did not name."""
    kind = column["type"]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 0
    if isinstance(kind, sa.Float | sa.Numeric):
        return 0.0
    if isinstance(kind, sa.DateTime):
        return _when(conn, NOW)
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.LargeBinary):
        return b""
    if isinstance(kind, sa.String | sa.Text):
        return column["name"].replace("_", " ")[: getattr(kind, "length", None) or 60]
    raise AssertionError(f"the row factory has no value for {table}.{column['name']} ({kind!r})")


def insert(conn: sa.Connection, table: str, **given) -> int:
    """One row in `table` as the schema at this revision has it; returns its id.

    Values named for columns this revision does not have yet are left out; every other
    required column without a server default gets a plain value of its type.
    """
    # Reflected once per connection: the schema does not change while rows go in.
    reflected = conn.info.setdefault("reflected", {})
    if table not in reflected:
        reflected[table] = (sa.Table(table, sa.MetaData(), autoload_with=conn), sa.inspect(conn).get_columns(table))
    live, columns = reflected[table]
    values = {}
    for column in columns:
        name = column["name"]
        if name in given:
            value = given[name]
            values[name] = _when(conn, value) if isinstance(value, datetime) else value
        elif not (column["nullable"] or column.get("default") is not None or name == "id"):
            values[name] = _plain_value(conn, table, column)
    return conn.execute(live.insert().values(values).returning(live.c.id)).scalar_one()


def _old_audit_rows(conn: sa.Connection, practice_id: int, couple_id: int | None, count: int = 3) -> None:
    """Audit rows as the trail held them before it was keyed: chained by plain SHA-256, hashed
    exactly as the re-keying migration checks them (its own frozen function)."""
    plain = SCRIPTS.get_revision(AUDIT_REKEY).module._plain
    previous = "0" * 64
    for number in range(1, count + 1):
        row = {
            "id": number,
            "at": NOW + timedelta(minutes=number),
            "practice_id": practice_id,
            "actor_id": None,
            "actor": "system",
            "action": "couple.view",
            "couple_id": couple_id,
            "target": None,
            "detail": {"n": number},
            "ip": None,
        }
        digest = plain(row, previous)
        insert(conn, "audit_event", **row, prev_hash=previous, hash=digest)
        previous = digest


def hold_data(app) -> None:
    """A practice with a clinician, a couple of two partners with a submitted intake (answers and
    scores), and a few audit rows: whatever of that the database's current revision has tables for."""
    with app.app_context(), db.engine.begin() as conn:
        conn.info.pop("reflected", None)  # kept with the pooled connection: reflect this revision afresh
        tables = set(sa.inspect(conn).get_table_names())
        practice = insert(conn, "practice", name="Harbour Couples Therapy", timezone="Europe/London")
        clinician = insert(
            conn,
            "clinician",
            practice_id=practice,
            role="owner",
            name="Dr Ana Reyes",
            email="ana@harbour.example",
            active=True,
            session_version=1,
        )
        couple = None
        if "couple" in tables:
            couple = insert(
                conn,
                "couple",
                practice_id=practice,
                clinician_id=clinician,
                label="M & D",
                status="completed",
                last_activity_at=NOW,
            )
            partners = [
                insert(conn, "partner", couple_id=couple, position=position, display_name=name)
                for position, name in ((1, "Maya"), (2, "Dev"))
            ]
            assessment = insert(
                conn,
                "assessment",
                couple_id=couple,
                occasion="Intake",
                instruments=[["connection", 1]],
                created_by_id=clinician,
            )
            instrument = catalog.instrument("connection", 1)
            for shift, partner in enumerate(partners):
                invitation = insert(
                    conn,
                    "invitation",
                    assessment_id=assessment,
                    partner_id=partner,
                    token_hash=hashlib.sha256(f"link-{partner}".encode()).hexdigest(),
                    expires_at=NOW + timedelta(days=14),
                    opened_at=NOW,
                    started_at=NOW,
                    submitted_at=NOW + timedelta(hours=1),
                )
                answers = {}
                for number, item in enumerate(instrument.items):
                    values = [choice.value for choice in instrument.scale_of(item).values]
                    answers[item.id] = values[(number + shift) % len(values)]
                    insert(
                        conn,
                        "answer",
                        invitation_id=invitation,
                        instrument_id="connection",
                        item_id=item.id,
                        value=answers[item.id],
                    )
                insert(
                    conn,
                    "score",
                    invitation_id=invitation,
                    instrument_id="connection",
                    instrument_version=1,
                    result=result_json(score(instrument, answers)),
                )
        if "audit_event" in tables and "audit_head" not in tables:
            _old_audit_rows(conn, practice, couple)
    if "audit_head" in tables:
        # A keyed trail: rows written as the app writes them, with this app's key.
        with app.app_context():
            for _ in range(3):
                audit.record("couple.view", couple_id=couple, practice_id=practice, actor="system")
            db.session.commit()


def row_counts(app) -> dict[str, int]:
    """Rows per table (the migrations' own version table left out)."""
    with app.app_context(), db.engine.connect() as conn:
        names = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in names}


def audit_rows(app) -> list[tuple]:
    with app.app_context(), db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text("SELECT * FROM audit_event ORDER BY id"))]


def version(app) -> str | None:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- The guard --------------------------------------------------------------------------------


def test_the_audit_rekeying_migration_is_declared_keyed():
    """env.py and the guard find keyed migrations by their declaration: the audit re-keying has one."""
    assert KEYED == [AUDIT_REKEY]
    assert keyed_data(SCRIPTS.get_revision(AUDIT_REKEY).module.upgrade).settings == ("AUDIT_KEY",)


def test_development_keys_are_told_from_real_ones():
    """The development defaults are the keys DevelopmentConfig's published secret gives; a real
    AUDIT_KEY or DATA_KEYS, or a real SECRET_KEY they derive from, is not one."""
    development = {"ENV_NAME": "development", "SECRET_KEY": DEVELOPMENT_SECRET, "AUDIT_KEY": "", "DATA_KEYS": ""}
    assert development_key_settings(development) == ["AUDIT_KEY", "DATA_KEYS"]
    assert development_key_settings({**development, "AUDIT_KEY": secrets.token_urlsafe(48)}) == ["DATA_KEYS"]
    assert development_key_settings({**development, "DATA_KEYS": Fernet.generate_key().decode()}) == ["AUDIT_KEY"]
    assert development_key_settings({**development, "SECRET_KEY": secrets.token_urlsafe(48)}) == []
    assert development_key_settings(development, ("AUDIT_KEY",)) == ["AUDIT_KEY"]


def test_the_keyed_migration_refuses_development_keys_on_a_database_with_audit_rows(empty_database_url, caplog):
    app = development_app(empty_database_url)
    with app.app_context():
        upgrade(revision=BEFORE_REKEY)
    hold_data(app)
    counts, trail = row_counts(app), audit_rows(app)
    assert counts["practice"] == 1 and counts["audit_event"] == 3

    with app.app_context(), pytest.raises(SystemExit):
        upgrade()
    # Flask-Migrate logs the reason in one line (`flask db upgrade` prints it as "Error: ...").
    (refusal,) = [r.getMessage() for r in caplog.records if REFUSAL in r.getMessage()]
    assert "\n" not in refusal and f"{ALLOW_FLAG}=1" in refusal and AUDIT_REKEY in refusal
    # Nothing was written: not the keyed step, nor any revision after the one the database was at.
    assert version(app) == BEFORE_REKEY
    assert row_counts(app) == counts and audit_rows(app) == trail
    dispose(app)


def test_the_keyed_migration_runs_with_development_keys_when_told(empty_database_url, monkeypatch):
    app = development_app(empty_database_url)
    with app.app_context():
        upgrade(revision=BEFORE_REKEY)
    hold_data(app)
    counts = row_counts(app)

    monkeypatch.setenv(ALLOW_FLAG, "1")
    with app.app_context():
        upgrade()
        assert audit.verify() == []
        assert db.session.get(AuditHead, audit.HEAD_ID).last_id == 3
    assert version(app) == REVISIONS[-1]
    assert {t: n for t, n in row_counts(app).items() if t in counts} == counts
    dispose(app)


def test_an_empty_database_upgrades_with_development_keys_and_no_flag(empty_database_url):
    """A new install, `make run`: nothing to protect, so no flag is needed."""
    app = development_app(empty_database_url)
    with app.app_context():
        upgrade()
    assert version(app) == REVISIONS[-1]
    dispose(app)


def test_the_keyed_migration_runs_with_production_keys_on_a_database_with_data(empty_database_url):
    app = production_app(empty_database_url)
    with app.app_context():
        upgrade(revision=BEFORE_REKEY)
    hold_data(app)
    with app.app_context():
        upgrade()
        assert audit.verify() == []
    assert version(app) == REVISIONS[-1]
    dispose(app)


# --- What an upgrade says before it runs ---------------------------------------------------------


def test_upgrade_prints_the_pending_revisions_first(empty_database_url):
    app = production_app(empty_database_url)
    runner = app.test_cli_runner()
    with app.app_context():
        upgrade(revision=BEFORE_REKEY)

    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    pending = REVISIONS[REVISIONS.index(BEFORE_REKEY) + 1 :]
    assert lines[:2] == [f"Database revision: {BEFORE_REKEY}", f"Applying {len(pending)} revisions:"]
    listed = [line.split()[0] for line in lines[2:] if line.startswith("  ") and not line.startswith("    ")]
    assert listed == pending
    doc = SCRIPTS.get_revision(AUDIT_REKEY).doc.splitlines()[0]
    rekey = lines.index(f"  {AUDIT_REKEY}  {doc}")
    assert lines[rekey + 1] == "    writes keyed data: re-keys the audit trail (AUDIT_KEY)"
    assert sum("writes keyed data" in line for line in lines) == len(KEYED)

    # At head there is nothing to do, and nothing is said.
    again = runner.invoke(args=["db", "upgrade"])
    assert again.exit_code == 0 and again.output == ""
    dispose(app)


def test_upgrade_from_an_empty_database_lists_every_revision(empty_database_url, capsys):
    app = development_app(empty_database_url)
    with app.app_context():
        upgrade()
    out = capsys.readouterr().err.splitlines()
    assert out[0] == "Database revision: none (empty database)"
    assert [line.split()[0] for line in out[2:] if not line.startswith("    ")] == REVISIONS
    dispose(app)


# --- Data made at every revision reaches head intact -----------------------------------------------


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_database_holding_data_at_each_revision_upgrades_to_head(revision, empty_database_url):
    app = production_app(empty_database_url)
    with app.app_context():
        upgrade(revision=revision)
    hold_data(app)
    before = row_counts(app)
    assert before["practice"] == 1 and before["clinician"] == 1

    with app.app_context():
        upgrade()
    assert version(app) == REVISIONS[-1]
    after = row_counts(app)
    assert {table: after[table] for table in before} == before

    with app.app_context():
        # The app at head reads what was written at `revision`.
        practice = db.session.scalar(sa.select(Practice))
        assert practice.name == "Harbour Couples Therapy" and practice.leave_url
        if before.get("couple"):
            couple = db.session.scalar(
                sa.select(Couple).options(
                    selectinload(Couple.partners), selectinload(Couple.assessments).selectinload(Assessment.invitations)
                )
            )
            assert couple.label == "M & D"
            assert [p.display_name for p in couple.partners] == ["Maya", "Dev"]
            assert [len(a.invitations) for a in couple.assessments] == [2]
            results = load_couple_results(couple)
            assert results.has_results and couple.unreviewed_flags == 0
        # The trail, re-keyed by the upgrade or written with this key, verifies to its last row.
        assert audit.verify() == []
        assert db.session.get(AuditHead, audit.HEAD_ID).last_id == before.get("audit_event", 0)
    dispose(app)
