"""flask create-practice and seed-demo."""

import sqlalchemy as sa

from clinic.cli import DEMO_EMAIL, DEMO_PASSWORD
from clinic.models import Clinician, Practice, Role


def count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_practice_reads_password_from_stdin(app, db, client):
    result = app.test_cli_runner().invoke(
        args=[
            "create-practice",
            "--name",
            "Cedar Couples",
            "--owner-name",
            "Lou Ames",
            "--email",
            "Lou@Example.org",
            "--credential",
            "LMFT",
            "--timezone",
            "Europe/Berlin",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created practice 'Cedar Couples'" in result.output
    owner = db.session.scalar(sa.select(Clinician))
    assert (owner.email, owner.role, owner.credential, owner.practice.timezone) == (
        "lou@example.org",
        Role.OWNER,
        "LMFT",
        "Europe/Berlin",
    )
    assert (
        client.post_form("/signin", {"email": "lou@example.org", "password": "a long enough password"}).status_code
        == 302
    )


def test_create_practice_prompts_for_everything(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-practice"],
        input="Birch Practice\nKai Moss\nkai@example.org\na long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert count(db, Practice) == 1


def test_create_practice_refuses_weak_password(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-practice", "--name", "P", "--owner-name", "O", "--email", "o@example.org", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code == 1
    assert "Error: Use at least 12 characters." in result.output
    assert count(db, Practice) == 0


def test_create_practice_refuses_duplicate_email(app, db, make_practice):
    make_practice(email="dup@example.org")
    result = app.test_cli_runner().invoke(
        args=["create-practice", "--name", "P", "--owner-name", "O", "--email", "DUP@example.org", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 1
    assert "Error: An account with this email address already exists." in result.output
    assert count(db, Practice) == 1


def test_create_practice_refuses_unknown_time_zone(app, db):
    result = app.test_cli_runner().invoke(
        args=[
            "create-practice",
            "--name",
            "P",
            "--owner-name",
            "O",
            "--email",
            "o@example.org",
            "--timezone",
            "Mars/Olympus",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 1
    assert "Unknown time zone 'Mars/Olympus'" in result.output


def test_seed_demo_prints_a_working_sign_in_and_is_idempotent(app, db, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert f"Demo sign-in: {DEMO_EMAIL} / {DEMO_PASSWORD}" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert count(db, Practice) == 1
    assert count(db, Clinician) == 2
    assert client.post_form("/signin", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 302


def test_seed_demo_if_empty_leaves_a_real_practice_alone(app, db, make_practice):
    make_practice()
    result = app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0
    assert "no demo data added" in result.output
    assert count(db, Practice) == 1


def test_seed_demo_is_refused_in_production(app, db):
    app.config["ENV_NAME"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo"])
    finally:
        app.config["ENV_NAME"] = "testing"
    assert result.exit_code == 1
    assert "off in production" in result.output
    assert count(db, Practice) == 0


def test_instruments_check_names_a_sent_version_that_is_no_longer_installed(
    app, db, make_practice, make_couple, make_assessment, tmp_path
):
    from clinic import catalog
    from instruments import load_registry
    from instruments.loader import definition_files

    couple = make_couple(make_practice())
    make_assessment(couple, instruments=["checkin", "safety"])
    make_assessment(couple, instruments=["checkin"], occasion="Week 2")
    result = app.test_cli_runner().invoke(args=["instruments", "check"])
    assert result.exit_code == 0, result.output
    assert "the 2 used by stored assessments are all installed" in result.output

    # A practice's folder without the check-in's file: the couple's answers could not be read.
    folder = tmp_path / "instruments"
    folder.mkdir()
    for path in definition_files():
        if not path.name.startswith("checkin-"):
            (folder / path.name).write_text(path.read_text())
    saved = app.extensions[catalog.EXTENSION_KEY]
    app.extensions[catalog.EXTENSION_KEY] = load_registry(str(folder))
    try:
        result = app.test_cli_runner().invoke(args=["instruments", "check"])
    finally:
        app.extensions[catalog.EXTENSION_KEY] = saved
    assert result.exit_code == 1
    assert "not installed: checkin v1 (2 assessments)." in result.output
    assert "safety" not in result.output.split("installed:")[1]
