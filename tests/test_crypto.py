"""Free text is encrypted at rest and keys can rotate."""

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from clinic import crypto
from clinic.models import Answer, Couple

NOTE = "Sam mentioned the panic attacks again."


def stored(db, table, column, where):
    """The raw value in the database, bypassing decryption."""
    return db.session.execute(sa.text(f"SELECT {column} FROM {table} WHERE {where}")).scalar_one()


@pytest.fixture
def noted_couple(make_practice, make_couple, db):
    couple = make_couple(make_practice())
    couple.prep_notes = NOTE
    db.session.commit()
    return couple


def test_prep_notes_and_free_text_answers_are_ciphertext_in_the_database(noted_couple, make_assessment, answer_as, db):
    _, tokens = make_assessment(noted_couple, instruments=["life_context"])
    answer_as(tokens[1], {"life_context": {"work": 2, "anything_else": "We lost our dog in May."}})
    raw_note = stored(db, "couple", "prep_notes", f"id = {noted_couple.id}")
    raw_text = stored(db, "answer", "text", "item_id = 'anything_else'")
    for raw, plain in ((raw_note, NOTE), (raw_text, "We lost our dog in May.")):
        assert raw.startswith(crypto.PREFIX)
        assert plain not in raw and "panic" not in raw and "dog" not in raw
    db.session.expire_all()
    assert db.session.get(Couple, noted_couple.id).prep_notes == NOTE
    assert (
        db.session.scalar(sa.select(Answer.text).where(Answer.item_id == "anything_else")) == "We lost our dog in May."
    )
    # Choice answers stay numbers: only free text needs hiding.
    assert stored(db, "answer", "value", "item_id = 'work'") == 2


def test_rotation_re_encrypts_with_the_new_key(app, noted_couple, db):
    old = app.config.get("DATA_KEYS") or crypto._derived_key(app.config["SECRET_KEY"]).decode()
    new = Fernet.generate_key().decode()
    before = stored(db, "couple", "prep_notes", f"id = {noted_couple.id}")
    saved = app.config.get("DATA_KEYS", "")
    try:
        app.config["DATA_KEYS"] = f"{new},{old}"
        app.extensions.pop("tandem_fernet", None)
        result = app.test_cli_runner().invoke(args=["rotate-keys"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 1 value" in result.output
        after = stored(db, "couple", "prep_notes", f"id = {noted_couple.id}")
        assert after != before
        # Readable with the new key alone: the old one can now be dropped.
        app.config["DATA_KEYS"] = new
        app.extensions.pop("tandem_fernet", None)
        db.session.expire_all()
        assert db.session.get(Couple, noted_couple.id).prep_notes == NOTE
    finally:
        app.config["DATA_KEYS"] = saved
        app.extensions.pop("tandem_fernet", None)


def test_a_missing_key_is_an_error_not_garbage(app, noted_couple, db):
    saved = app.config.get("DATA_KEYS", "")
    try:
        app.config["DATA_KEYS"] = Fernet.generate_key().decode()
        app.extensions.pop("tandem_fernet", None)
        db.session.expire_all()
        with pytest.raises(crypto.DataKeyError, match="could not be decrypted"):
            db.session.get(Couple, noted_couple.id).prep_notes  # noqa: B018
    finally:
        app.config["DATA_KEYS"] = saved
        app.extensions.pop("tandem_fernet", None)


def test_report_pdfs_are_encrypted_at_rest(noted_couple, db):
    from clinic.models import Report

    report = Report(couple_id=noted_couple.id, kind="clinician", cache_key="2" * 64, pdf=b"%PDF-1.7 secret notes")
    db.session.add(report)
    db.session.commit()
    raw = db.session.execute(sa.text(f"SELECT pdf FROM report WHERE id = {report.id}")).scalar_one()
    assert bytes(raw).startswith(crypto.BINARY_PREFIX) and b"secret" not in bytes(raw)
    db.session.expire_all()
    assert db.session.get(Report, report.id).pdf == b"%PDF-1.7 secret notes"
