"""The audit trail is append-only and tamper-evident.

The database refuses UPDATE and DELETE on it (triggers, on SQLite and PostgreSQL). Whoever
gets round that — the database's owner can drop triggers — still cannot hide an edit,
a removed row, or removed newest rows from `flask audit verify` without AUDIT_KEY: each
row's hash is keyed, and a keyed head record names the last row.
"""

import hashlib
import hmac
import itertools
import json

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from clinic import ConfigError, audit, create_app
from clinic.config import TestConfig
from clinic.models import AuditEvent, AuditHead
from tests.conftest import is_postgres
from tests.test_config import AUDIT_KEY, STRONG, production


def make_trail(db, n=5):
    for i in range(n):
        audit.record("test.event", couple_id=i, target=f"thing:{i}", detail={"n": i}, practice_id=1)
    db.session.commit()
    return db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def as_database_owner(db, *statements):
    """Run statements the way someone holding the database (not the key) could: triggers off.

    Changes the test made to loaded rows are dropped: only the statements reach the database."""
    db.session.rollback()
    with db.engine.begin() as conn, audit.unguarded(conn):
        for statement in statements:
            conn.execute(statement)
    db.session.expire_all()


def plain_sha256(event: AuditEvent) -> str:
    """The hash as the trail computed it before it was keyed: what a forger can compute."""
    return hashlib.sha256(audit._canonical(event)).hexdigest()


def assert_cli_names(app, row: int):
    result = verify_cli(app)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: The audit trail was altered: row {row} "), lines[0]


def test_an_intact_trail_verifies_and_the_cli_says_where_it_ends(app, db):
    events = make_trail(db)
    assert events[0].prev_hash == audit.GENESIS
    assert [e.id for e in events] == list(range(1, 6))  # no gaps: the head hands out ids
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    head = db.session.get(AuditHead, audit.HEAD_ID)
    assert (head.last_id, head.last_hash) == (events[-1].id, events[-1].hash)
    db.session.expire_all()  # read back from the database, not the identity map
    assert audit.verify() == []
    result = verify_cli(app)
    assert result.exit_code == 0
    assert result.output.strip() == f"The audit trail is intact: 5 rows, ending at row 5 ({events[-1].hash})."


def test_hashes_are_keyed(app, db):
    event = make_trail(db, 1)[0]
    key = audit.key_from_config(app.config)
    assert event.hash == hmac.new(key, audit._canonical(event), hashlib.sha256).hexdigest()
    assert event.hash != plain_sha256(event)


# --- the database refuses changes -------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(AuditEvent).where(AuditEvent.id == 2).values(action="test.other"),
        sa.update(AuditEvent).values(detail={}),
        sa.delete(AuditEvent).where(AuditEvent.id == 5),
        sa.delete(AuditEvent),
        sa.delete(AuditHead),
    ],
    ids=["update one", "update all", "delete newest", "delete all", "delete head"],
)
def test_the_database_refuses_to_change_or_delete_audit_rows(app, db, statement):
    make_trail(db)
    with pytest.raises(sa.exc.IntegrityError, match="append-only"):
        db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.rollback()
    assert len(db.session.scalars(sa.select(AuditEvent)).all()) == 5
    assert audit.verify() == []


@pytest.mark.skipif(not is_postgres(), reason="SQLite has no TRUNCATE")
@pytest.mark.parametrize("table", ["audit_event", "audit_head"])
def test_postgres_refuses_to_truncate_the_trail(app, db, table):
    make_trail(db)
    with pytest.raises(sa.exc.IntegrityError, match="append-only"):
        db.session.execute(sa.text(f"TRUNCATE {table}"))
    db.session.rollback()
    assert audit.verify() == []


def test_new_events_still_append_after_a_refused_change(app, db):
    make_trail(db, 2)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.delete(AuditEvent))
    db.session.rollback()
    audit.record("test.later", practice_id=1)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) == 3
    assert audit.verify() == []


# --- what the owner of the database could still do, verify finds ------------------------------


def test_an_edited_row_is_found(app, db):
    events = make_trail(db)
    as_database_owner(db, sa.update(AuditEvent).where(AuditEvent.id == events[1].id).values(action="test.other"))
    assert [(b.event_id, "edited" in b.reason) for b in audit.verify()] == [(events[1].id, True)]
    assert_cli_names(app, events[1].id)


def test_a_deleted_row_is_found(app, db):
    events = make_trail(db)
    as_database_owner(db, sa.delete(AuditEvent).where(AuditEvent.id == events[2].id))
    assert [b.event_id for b in audit.verify()] == [events[3].id]
    assert_cli_names(app, events[3].id)


@pytest.mark.parametrize("removed", [1, 2, 5])
def test_deleting_the_newest_rows_is_found(app, db, removed):
    events = make_trail(db)
    first_gone = events[-removed].id
    as_database_owner(db, sa.delete(AuditEvent).where(AuditEvent.id >= first_gone))
    problems = audit.verify()
    assert [b.event_id for b in problems] == [first_gone]
    assert "removed" in problems[0].reason
    assert_cli_names(app, first_gone)


def test_deleting_the_newest_rows_and_pointing_the_head_at_the_new_last_is_found(app, db):
    """Without the key the head's MAC cannot be made for another row."""
    events = make_trail(db)
    new_last = events[2]
    forged_mac = hashlib.sha256(f"audit-head:{new_last.id}:{new_last.hash}".encode()).hexdigest()
    as_database_owner(
        db,
        sa.delete(AuditEvent).where(AuditEvent.id > new_last.id),
        sa.update(AuditHead).values(last_id=new_last.id, last_hash=new_last.hash, mac=forged_mac),
    )
    problems = audit.verify()
    assert [b.event_id for b in problems] == [new_last.id]
    assert "head" in problems[0].reason
    assert_cli_names(app, new_last.id)


def test_deleting_the_head_with_the_newest_rows_is_found(app, db):
    events = make_trail(db)
    as_database_owner(db, sa.delete(AuditEvent).where(AuditEvent.id > 3), sa.delete(AuditHead))
    assert [b.event_id for b in audit.verify()] == [3]
    assert verify_cli(app).exit_code == 1
    assert len(events) == 5


def test_rewriting_a_row_with_a_fresh_hash_still_breaks_the_chain(app, db):
    events = make_trail(db)
    forged = events[1]
    forged.detail = {"n": 99}
    forged_hash = audit.compute_hash(forged)  # even with the key, this row's hash alone...
    as_database_owner(
        db, sa.update(AuditEvent).where(AuditEvent.id == forged.id).values(detail={"n": 99}, hash=forged_hash)
    )
    # ...leaves the next row pointing at the old hash.
    assert [b.event_id for b in audit.verify()] == [events[2].id]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda canonical: hashlib.sha256(canonical).hexdigest(), id="plain SHA-256"),
        pytest.param(
            lambda canonical: hmac.new(
                hashlib.sha256(b"tandem-audit-key:dev-only-key-never-use-in-production").digest(),
                canonical,
                hashlib.sha256,
            ).hexdigest(),
            id="HMAC with the development key",
        ),
    ],
)
def test_editing_a_row_and_recomputing_the_whole_chain_without_the_key_is_found(app, db, forge):
    """The forger recomputes every hash from the edited row on, and the head, the way the code
    does — but without AUDIT_KEY. Every row they touched fails; verify names the edited one first."""
    events = make_trail(db)
    edited = events[1]
    statements, previous = [], events[0].hash
    for event in events[1:]:
        if event.id == edited.id:
            event.action = "test.innocent"
        event.prev_hash = previous
        event.hash = forge(audit._canonical(event))
        statements.append(
            sa.update(AuditEvent)
            .where(AuditEvent.id == event.id)
            .values(action=event.action, prev_hash=event.prev_hash, hash=event.hash)
        )
        previous = event.hash
    head_mac = forge(f"audit-head:{events[-1].id}:{previous}".encode())
    statements.append(sa.update(AuditHead).values(last_id=events[-1].id, last_hash=previous, mac=head_mac))
    as_database_owner(db, *statements)
    problems = audit.verify()
    assert problems[0].event_id == edited.id and "edited" in problems[0].reason
    assert {b.event_id for b in problems} == {e.id for e in events[1:]}
    assert_cli_names(app, edited.id)


def test_a_trail_verified_under_another_key_fails(app, db, monkeypatch):
    make_trail(db, 2)
    monkeypatch.setitem(app.config, "AUDIT_KEY", "another-key-" + "x9Yq" * 8)
    assert [b.event_id for b in audit.verify()] == [1, 2, 2]  # both rows, and the head


# --- the key ----------------------------------------------------------------------------------


def test_production_starts_with_a_strong_audit_key():
    app = create_app(production())
    assert audit.key_from_config(app.config) == AUDIT_KEY.encode()


@pytest.mark.parametrize(
    "key", ["", "short-but-random-3kd9", "a" * 64, STRONG], ids=["unset", "short", "one letter", "same as SECRET_KEY"]
)
def test_production_refuses_a_missing_or_weak_audit_key(key):
    with pytest.raises(ConfigError, match="AUDIT_KEY must be set"):
        create_app(production(AUDIT_KEY=key))


def test_without_a_key_in_production_nothing_is_recorded():
    with pytest.raises(audit.AuditKeyError):
        audit.key_from_config({"ENV_NAME": "production", "SECRET_KEY": STRONG})


def test_development_and_tests_derive_a_key_from_the_secret_key(app):
    assert (
        audit.key_from_config(app.config)
        == hashlib.sha256(b"tandem-audit-key:" + TestConfig.SECRET_KEY.encode()).digest()
    )


# --- the migration ----------------------------------------------------------------------------


def _old_trail(conn, n=3, *, edit=None):
    """Rows as the code before the keyed trail wrote them: plain SHA-256, ids not covered."""
    from clinic.db_types import utcnow

    previous = audit.GENESIS
    for i in range(1, n + 1):
        row = {"at": utcnow(), "practice_id": 1, "actor_id": None, "actor": "system", "action": "old.event"}
        row |= {"couple_id": None, "target": None, "detail": {"n": i}, "ip": None, "prev_hash": previous}
        fields = {**row, "at": row["at"].isoformat()}
        row["hash"] = hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        if i == edit:
            row["action"] = "old.edited"
        conn.execute(AuditEvent.__table__.insert().values(id=i, **row))
        previous = row["hash"]


# The revision before the one that keyed the trail.
BEFORE_KEYED = "a7e3c9d41f20-1"


def _app_at(url):
    return create_app(type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))


def test_the_migration_rekeys_an_intact_trail(empty_database_url):
    app = _app_at(empty_database_url)
    with app.app_context():
        from clinic.extensions import db

        upgrade(revision=BEFORE_KEYED)
        with db.engine.begin() as conn:
            _old_trail(conn)
        upgrade()
        assert audit.verify() == []
        assert db.session.get(AuditHead, audit.HEAD_ID).last_id == 3
        audit.record("new.event")
        db.session.commit()
        assert audit.verify() == []
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.delete(AuditEvent))
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def test_the_migration_refuses_to_rekey_an_altered_trail(empty_database_url, caplog):
    app = _app_at(empty_database_url)
    with app.app_context():
        from clinic.extensions import db

        upgrade(revision=BEFORE_KEYED)
        with db.engine.begin() as conn:
            _old_trail(conn, edit=2)
        with pytest.raises(SystemExit):
            upgrade()
        # Flask-Migrate logs the reason (`flask db upgrade` prints it through migrations/alembic.ini).
        assert "The audit trail was already altered at row 2" in caplog.text
        # Nothing was changed: the rows are as they were, and no head or trigger was made.
        assert "audit_head" not in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_appends_from_several_threads_chain_one_after_another(app, db):
    """A request and a report thread (the in-process pool on the SQLite default) append at the
    same moment: each claims its own id, and the chain still verifies."""
    import threading

    from clinic.extensions import db as database

    audit.record("before.threads")
    database.session.commit()
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def append(n: int) -> None:
        with app.app_context():
            try:
                start.wait(timeout=10)
                for _ in range(5):
                    audit.record("thread.event", target=f"thread:{n}")
                    database.session.commit()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                database.session.remove()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    database.session.expire_all()
    assert database.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 31
    assert audit.verify() == []
