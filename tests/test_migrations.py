"""The migrations build exactly the schema the models declare, on the suite's database.

`empty_database_url` (a database nobody has touched) comes from tests/conftest.py.
"""

import warnings

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from clinic import create_app
from clinic.config import TestConfig
from clinic.extensions import db
from tests.conftest import TEST_DB_URL, is_postgres


def schema_differences(app):
    with app.app_context(), db.engine.connect() as conn, warnings.catch_warnings():
        # The keyed-label search index is an expression index on PostgreSQL only (ddl_if); SQLite
        # has none, and alembic says it cannot compare one there. PostgreSQL compares it.
        warnings.filterwarnings("ignore", "autogenerate skipping .* expression-based index 'ix_couple_label_key_trgm'")
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, db.metadata)


def test_migrations_build_the_models_schema(empty_database_url):
    app = create_app(type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_database_url}))
    with app.app_context():
        upgrade()
        assert db.engine.dialect.name == ("postgresql" if is_postgres() else "sqlite")
    assert schema_differences(app) == []
    with app.app_context():
        db.engine.dispose()


def test_migrations_downgrade_and_upgrade_again(empty_database_url):
    app = create_app(type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_database_url}))
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
    assert schema_differences(app) == []
    with app.app_context():
        db.engine.dispose()


def test_suite_runs_on_the_database_it_was_asked_for(app):
    """Guards the PostgreSQL run in CI: if it silently fell back to SQLite, this fails."""
    with app.app_context():
        assert db.engine.dialect.name == (
            "postgresql" if TEST_DB_URL and TEST_DB_URL.startswith("postgresql") else "sqlite"
        )


def test_the_session_brief_migration_counts_each_couples_unreviewed_flags(empty_database_url):
    """a4cc8384e981 adds the dashboard's count of unreviewed safety flags and fills it from the
    score rows kept at submission, less the flags already reviewed."""
    from clinic.models import Assessment, Couple, Invitation, SafetyReview, Score

    app = create_app(type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_database_url}))
    with app.app_context():
        upgrade()
        assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
        counts = dict(db.session.execute(sa.select(Couple.label, Couple.unreviewed_flags)).all())
        assert counts["N & T"] == 1 and sum(counts.values()) == 1  # Tomás's "afraid", from submission
        db.session.remove()

        kept = {table: db.session.scalar(sa.text(f"SELECT count(*) FROM {table}")) for table in ("answer", "score")}
        downgrade(revision="a7e3c9d41f20")  # before the count existed
        upgrade()
        assert dict(db.session.execute(sa.select(Couple.label, Couple.unreviewed_flags)).all()) == counts
        # Down and up again loses nothing (a "move and copy" of a table on SQLite would cascade).
        assert {table: db.session.scalar(sa.text(f"SELECT count(*) FROM {table}")) for table in kept} == kept
        assert kept["answer"] > 0

        # A flag reviewed before the upgrade is not counted.
        flagged = db.session.scalar(sa.select(Couple).where(Couple.label == "N & T"))
        (invitation,) = [
            score.invitation_id
            for score in db.session.scalars(
                sa.select(Score)
                .join(Invitation, Invitation.id == Score.invitation_id)
                .join(Assessment, Assessment.id == Invitation.assessment_id)
                .where(Assessment.couple_id == flagged.id, Score.instrument_id == "safety")
            )
            if score.result["flags"]
        ]
        db.session.add(SafetyReview(invitation_id=invitation, instrument_id="safety", item_id="afraid", note=""))
        db.session.commit()
        db.session.remove()
        downgrade(revision="a7e3c9d41f20")
        upgrade()
        assert db.session.scalar(sa.select(Couple.unreviewed_flags).where(Couple.label == "N & T")) == 0
        db.session.remove()
        db.engine.dispose()


def test_the_leave_url_migration_gives_existing_practices_the_default_and_keeps_their_data(empty_database_url):
    """b5d1e7f20c43 adds practice.leave_url ("Leave this page"): practices made before it get the
    neutral default, and down and up again loses no row (a plain ADD/DROP COLUMN, no table copy)."""
    from clinic.models import DEFAULT_LEAVE_URL, Practice

    app = create_app(type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_database_url}))
    tables = ("practice", "clinician", "couple", "invitation", "answer", "score")
    with app.app_context():
        upgrade()
        assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
        kept = {table: db.session.scalar(sa.text(f"SELECT count(*) FROM {table}")) for table in tables}
        db.session.remove()
        downgrade(revision="a4cc8384e981")  # before the column existed
        assert "leave_url" not in {c["name"] for c in sa.inspect(db.engine).get_columns("practice")}
        upgrade()
        assert {table: db.session.scalar(sa.text(f"SELECT count(*) FROM {table}")) for table in tables} == kept
        assert kept["practice"] > 0 and kept["answer"] > 0
        assert set(db.session.scalars(sa.select(Practice.leave_url))) == {DEFAULT_LEAVE_URL}
        db.session.remove()
        db.engine.dispose()
