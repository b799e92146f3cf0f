"""The audit trail is chained: an edited or deleted row is found by `flask audit verify`."""

import itertools

import sqlalchemy as sa

from clinic import audit
from clinic.models import AuditEvent


def make_trail(db, n=4):
    for i in range(n):
        audit.record("test.event", couple_id=i, target=f"thing:{i}", detail={"n": i}, practice_id=1)
    db.session.commit()
    return db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_an_intact_trail_verifies(app, db):
    events = make_trail(db)
    assert events[0].prev_hash == audit.GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    db.session.expire_all()  # read back from the database, not the identity map
    assert audit.verify() == []
    result = verify_cli(app)
    assert result.exit_code == 0 and "intact" in result.output


def test_an_edited_row_is_found(app, db):
    events = make_trail(db)
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[1].id).values(action="test.other"))
    db.session.commit()
    db.session.expire_all()
    assert [(b.event_id, "edited" in b.reason) for b in audit.verify()] == [(events[1].id, True)]
    result = verify_cli(app)
    assert result.exit_code == 1 and f"row {events[1].id}" in result.output


def test_a_deleted_row_is_found(app, db):
    events = make_trail(db)
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == events[2].id))
    db.session.commit()
    db.session.expire_all()
    assert [b.event_id for b in audit.verify()] == [events[3].id]
    assert verify_cli(app).exit_code == 1


def test_rewriting_a_row_with_a_fresh_hash_still_breaks_the_chain(app, db):
    events = make_trail(db)
    forged = events[1]
    forged.detail = {"n": 99}
    forged.hash = audit.compute_hash(forged)  # a careful forger recomputes this row's hash...
    db.session.commit()
    db.session.expire_all()
    # ...but the next row still points at the old hash.
    assert [b.event_id for b in audit.verify()] == [events[2].id]
