"""clinic.transactions: a request that only read ends with COMMIT; anything else keeps ROLLBACK."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from clinic import transactions
from clinic.models import Couple


@pytest.fixture
def ends(app, db):
    """How the session's transactions end: a list of "commit" / "rollback" per transaction."""
    seen: list[str] = []

    def on_commit(conn):
        seen.append("commit")

    def on_rollback(conn):
        seen.append("rollback")

    sa.event.listen(db.engine, "commit", on_commit)
    sa.event.listen(db.engine, "rollback", on_rollback)
    yield seen
    sa.event.remove(db.engine, "commit", on_commit)
    sa.event.remove(db.engine, "rollback", on_rollback)


def label_in_database(db, couple_id: int) -> str:
    with db.engine.connect() as conn:
        return conn.scalar(sa.select(Couple.label).where(Couple.id == couple_id))


def test_a_request_that_only_read_commits(client, make_practice, make_couple, ends, db):
    owner = make_practice()
    couple = make_couple(owner, label="Read only")
    db.session.commit()
    ends.clear()
    assert db.session.scalar(sa.select(Couple.label).where(Couple.id == couple.id)) == "Read only"
    transactions.finish(None)
    assert ends == ["commit"] and not db.session().in_transaction()


@pytest.mark.parametrize("how", ["changed, not flushed", "flushed", "statement", "failed"])
def test_anything_that_may_have_written_or_failed_is_never_committed(how, make_practice, make_couple, ends, db):
    owner = make_practice()
    couple = make_couple(owner, label="Before")
    db.session.commit()
    ends.clear()
    loaded = db.session.get(Couple, couple.id)
    exc = None
    if how == "changed, not flushed":
        loaded.label = "After"
    elif how == "flushed":
        loaded.label = "After"
        db.session.flush()
    elif how == "statement":
        db.session.execute(sa.update(Couple).where(Couple.id == couple.id).values(label="After"))
    else:
        db.session.execute(sa.update(Couple).where(Couple.id == couple.id).values(label="After"))
        exc = RuntimeError("the view failed")
        db.session.info.pop(transactions.WROTE)  # even a write it did not notice is safe on failure
    transactions.finish(exc)
    assert "commit" not in ends
    db.session.rollback()  # what Flask-SQLAlchemy's teardown does next
    assert label_in_database(db, couple.id) == "Before"


def test_after_a_commit_the_next_read_only_transaction_commits_again(make_practice, make_couple, ends, db):
    owner = make_practice()
    couple = make_couple(owner, label="Before")
    loaded = db.session.get(Couple, couple.id)
    loaded.label = "Saved"
    db.session.commit()
    ends.clear()
    assert db.session.scalar(sa.select(Couple.label).where(Couple.id == couple.id)) == "Saved"
    transactions.finish(None)
    assert ends == ["commit"]
    assert label_in_database(db, couple.id) == "Saved"


def test_pages_still_save_and_refuse_as_before(client, make_practice, db):
    # Through HTTP: a refused form changes nothing; a saved one is kept.
    from tests.conftest import login

    owner = make_practice()
    browser = login(client, owner)
    refused = browser.post_form("/couples/new", {"label": "", "partner_a-display_name": "A"})
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Couple)) == 0
