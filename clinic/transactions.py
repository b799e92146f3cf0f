"""How a request's database transaction ends.

Flask-SQLAlchemy closes the session after every request, which rolls its
transaction back. For a request that only read, COMMIT and ROLLBACK leave the
data the same, but not the connection: psycopg forgets every prepared statement
on ROLLBACK, so PostgreSQL would plan each statement of each request afresh (the
partner session's six-table join costs far more to plan than to run).

So a request that only read, and did not fail, ends with COMMIT. Anything that
may have written (a flush, an INSERT/UPDATE/DELETE through the session, changed
objects not yet flushed) or an exception keeps the ROLLBACK, exactly as before:
whatever a request did not commit itself is never committed for it.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import ORMExecuteState, Session

from clinic.extensions import db

WROTE = "tandem_wrote"


def _wrote(session: Session, *args) -> None:
    session.info[WROTE] = True


def _check_statement(state: ORMExecuteState) -> None:
    # Anything but a SELECT (text() included) counts as a possible write.
    if not state.is_select:
        state.session.info[WROTE] = True


def _clear(session: Session, *args) -> None:
    session.info.pop(WROTE, None)


def finish(exc: BaseException | None) -> None:
    """End the request's transaction with COMMIT when it only read and did not fail."""
    if exc is not None or not db.session.registry.has():
        return
    session = db.session()
    if not session.in_transaction() or session.info.get(WROTE):
        return
    if session.new or session.dirty or session.deleted:
        return
    try:
        session.commit()
    except sa.exc.SQLAlchemyError:
        # The page was served; a connection that died since must not turn it into a 500.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            session.rollback()


def init_app(app: Flask) -> None:
    # Registered after db.init_app: Flask runs teardowns in reverse order, so this
    # runs before Flask-SQLAlchemy closes (and so rolls back) the session.
    if not sa.event.contains(Session, "after_flush", _wrote):
        sa.event.listen(Session, "after_flush", _wrote)
        sa.event.listen(Session, "do_orm_execute", _check_statement)
        sa.event.listen(Session, "after_commit", _clear)
        sa.event.listen(Session, "after_soft_rollback", _clear)
    app.teardown_appcontext(finish)
