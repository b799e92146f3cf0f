"""Flask extensions, created once and bound to an app in create_app()."""

import sqlite3

import sqlalchemy as sa
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so Alembic can alter them later (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay readable after commit (relationships never lazy-load, so an
# expired object could not reload what a view already loaded); each request
# gets a fresh session, so nothing stale outlives it.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Storage comes from RATELIMIT_STORAGE_URI: Redis when REDIS_URL is set, so limits
# hold across workers and machines; memory otherwise (one process, development).
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_enforce_foreign_keys(dbapi_connection, _record):
    """SQLite ignores foreign keys unless asked, per connection; PostgreSQL always enforces them."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
