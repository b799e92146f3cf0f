import logging
import sys
from contextlib import contextmanager
from logging.config import fileConfig

from flask import current_app

from alembic import context
from alembic.runtime.migration import RevisionStep

from clinic.migration_guard import keyed_data, refuse_development_keys

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging, for `flask db upgrade` on its own. A
# program that already handles its logs (the test suite, a server that migrates) keeps
# its own set-up: a second handler would write to whatever stderr was at that moment.
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def describe_upgrade(heads, steps):
    """The lines `flask db upgrade` prints before it changes anything: where the database is,
    then each pending revision (oldest first) with its one-line message, and a line under
    those that seal data with a key."""
    lines = [f"Database revision: {', '.join(heads) if heads else 'none (empty database)'}"]
    lines.append(f"Applying {len(steps)} revision{'s' if len(steps) != 1 else ''}:")
    for step in steps:
        message = (step.doc or "").strip().splitlines()[0] if (step.doc or "").strip() else "(no message)"
        lines.append(f"  {step.revision.revision}  {message}")
        declared = keyed_data(step.migration_fn)
        if declared:
            lines.append(f"    writes keyed data: {declared.what} ({', '.join(declared.settings)})")
    return lines


def announce_and_guard(work, connection):
    """Wrap the command's work function: an upgrade prints its plan, then checks every keyed
    revision's guard before the first revision runs, so a refusal leaves the database as it was."""

    def planned(heads, migration_context):
        steps = list(work(heads, migration_context))
        upgrades = [step for step in steps if isinstance(step, RevisionStep) and step.is_upgrade]
        if upgrades:
            print("\n".join(describe_upgrade(heads, upgrades)), file=sys.stderr, flush=True)
        for step in upgrades:
            declared = keyed_data(step.migration_fn)
            if declared:
                refuse_development_keys(connection, step.revision.revision, declared.what, declared.settings)
        return steps

    return planned


@contextmanager
def sqlite_foreign_keys_off(connection):
    """On SQLite, a batch migration changes a table by copying it and dropping the old one; with
    foreign keys on, that DROP deletes every row referring to it (ON DELETE CASCADE: a couple's
    partners, assessments and answers). SQLite's own procedure for such changes: keys off, outside
    any transaction, while migrating; then check that every reference still holds."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
        if broken is not None:
            raise RuntimeError(f"After migrating, table {broken[0]} has a row whose {broken[2]} reference is missing.")
    finally:
        connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        # Alembic's commands hand the migration context their work (for an upgrade: the revisions
        # to run; alembic 1.17 keeps it in _migrations_fn, tests/test_migration_safety.py notices if
        # that changes). Wrapped, an upgrade says what it will change and checks the keyed
        # revisions' guards before running anything.
        migration_context = context.get_context()
        if migration_context._migrations_fn is not None:
            migration_context._migrations_fn = announce_and_guard(migration_context._migrations_fn, connection)

        with sqlite_foreign_keys_off(connection), context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
