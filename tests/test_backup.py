"""Backups: `flask backup` and `flask restore` on the suite's database kind (SQLite, or PostgreSQL
with TANDEM_TEST_DB), each test on databases of its own (make_empty_database, tests/conftest.py)."""

from __future__ import annotations

import gzip
import io
import json
import re
import secrets
import subprocess
import tarfile
import time
import tomllib
from pathlib import Path

import pyrage
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from clinic import create_app
from clinic.backup import AGE_HEADER, DUMPS, MANIFEST, file_digest
from clinic.cli import DEMO_EMAIL, DEMO_PASSWORD
from clinic.config import TestConfig
from clinic.extensions import db
from clinic.models import Couple
from tests.conftest import TEST_DB_URL, Client, is_postgres

# Real-looking keys, so the test can look for each of them in the archive's bytes.
KEYS = {
    "SECRET_KEY": "backup-test-secret-Zq8wN3vR1xT6yL0pK4mH7sJ2",
    "AUDIT_KEY": "backup-test-audit-Hd5cV9bG2nM8kF4jR7tW1qZ6",
    "DATA_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
}
PASSPHRASE = "four calm harbour lights"
DIALECT = "postgresql" if is_postgres() else "sqlite"
REPO = Path(__file__).resolve().parents[1]


def app_on(url: str, tmp_path: Path, **overrides) -> Flask:
    """An app on this database with the test's keys (one app per database, as on two servers)."""
    config = {"SQLALCHEMY_DATABASE_URI": url, "MAIL_OUTBOX": str(tmp_path / "outbox"), **KEYS, **overrides}
    app = create_app(type("BackupConfig", (TestConfig,), config))
    app.test_client_class = Client
    return app


def cli(app: Flask, *args: str, input: str | None = None):
    """Run one flask command against this app."""
    return app.test_cli_runner().invoke(args=list(args), input=input)


@pytest.fixture
def demo(make_empty_database, tmp_path) -> Flask:
    """The demo practice, seeded into a fresh, migrated database."""
    app = app_on(make_empty_database(), tmp_path)
    with app.app_context():
        upgrade()
    assert cli(app, "seed-demo").exit_code == 0
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def fresh(make_empty_database, tmp_path):
    """Factory: an app on a database nobody has touched (where a restore goes)."""
    made: list[Flask] = []

    def make(**overrides) -> Flask:
        made.append(app_on(make_empty_database(), tmp_path, **overrides))
        return made[-1]

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


def back_up(app: Flask, path: Path, *options: str, input: str | None = None) -> Path:
    result = cli(app, "backup", "--output", str(path), *options, input=input)
    assert result.exit_code == 0, result.output
    return path


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        names = sorted(sa.inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            return {name: conn.scalar(sa.text(f'SELECT count(*) FROM "{name}"')) for name in names}


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def repack(archive: Path, out: Path, replaced: dict[str, bytes]) -> Path:
    """The archive again, with some members' contents replaced."""
    with tarfile.open(out, "w:gz") as tar:
        for name, data in {**members(archive), **replaced}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


# What differs between two requests for the same data: CSRF tokens (per session) on the couple
# view, and an export's own time stamp. (The couple view shows no time of its own viewing.)
CSRF = re.compile(r'(<meta name="csrf-token" content="|<input type="hidden" name="csrf_token" value=")[^"]+"')


def couple_pages(app: Flask) -> dict[int, tuple[str, dict]]:
    """Every demo couple's view (CSRF tokens blanked) and JSON export (less its time stamp), as the demo owner sees them."""
    browser = app.test_client()
    signed_in = browser.post_form("/signin", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert signed_in.status_code == 302
    with app.app_context():
        ids = db.session.scalars(sa.select(Couple.id).order_by(Couple.id)).all()
    pages = {}
    for couple_id in ids:
        view = browser.get(f"/couples/{couple_id}")
        export = browser.get(f"/couples/{couple_id}/export")
        assert view.status_code == 200 and export.status_code == 200
        html, blanked = CSRF.subn(r'\1"', view.get_data(as_text=True))
        assert blanked >= 2
        data = json.loads(export.get_data(as_text=True))
        del data["exported_at"]
        pages[couple_id] = (html, data)
    return pages


def test_a_restored_backup_shows_every_couple_exactly_as_before(demo, fresh, tmp_path):
    """Seed, back up (plain and to a passphrase), restore each into a fresh database: the same rows,
    a verified audit trail, and every couple's view and export unchanged."""
    before_pages = couple_pages(demo)
    assert len(before_pages) >= 4
    counts = row_counts(demo)

    started = time.perf_counter()
    plain = back_up(demo, tmp_path / "plain.tar.gz")
    seconds = time.perf_counter() - started
    assert seconds < 10, f"a backup of the demo practice took {seconds:.1f} s"
    sealed = back_up(demo, tmp_path / "sealed.age", "--passphrase-stdin", input=PASSPHRASE + "\n")
    assert sealed.read_bytes().startswith(AGE_HEADER) and not plain.read_bytes().startswith(AGE_HEADER)

    for archive, options, given in ((plain, [], None), (sealed, ["--passphrase-stdin"], PASSPHRASE + "\n")):
        target = fresh()
        result = cli(target, "restore", str(archive), *options, input=given)
        assert result.exit_code == 0, result.output
        assert result.stdout.count("\n") == 1
        rows = sum(counts.values())
        assert result.stdout == (
            f"Restored {rows:,} rows in {len(counts)} tables at revision {counts_revision(demo)}; "
            f"audit trail verified (head {audit_head(demo)}).\n"
        )
        assert row_counts(target) == counts
        verified = cli(target, "audit", "verify")
        assert verified.exit_code == 0 and "intact" in verified.output
        assert couple_pages(target) == before_pages


def counts_revision(app: Flask) -> str:
    with app.app_context():
        return db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))


def audit_head(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.text("SELECT last_id FROM audit_head"))


def test_the_manifest_describes_the_dump(demo, tmp_path):
    archive = back_up(demo, tmp_path / "demo.tar.gz")
    held = members(archive)
    assert set(held) == {MANIFEST, DUMPS[DIALECT]}
    manifest = json.loads(held[MANIFEST])
    assert manifest["database"] == DIALECT and manifest["format"] == 1
    assert manifest["revision"] == counts_revision(demo)
    assert manifest["tables"] == row_counts(demo)
    assert manifest["audit"]["last_id"] == audit_head(demo) and manifest["audit"]["intact"] is True
    assert manifest["tandem_version"] == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert manifest["created_at"].endswith("+00:00")
    dump = tmp_path / "dump"
    dump.write_bytes(held[DUMPS[DIALECT]])
    assert manifest["dump"]["sha256"] == file_digest(dump)


def test_an_unencrypted_backup_says_so_and_an_encrypted_one_does_not(demo, tmp_path):
    plain = cli(demo, "backup", "--output", str(tmp_path / "plain.tar.gz"))
    assert plain.exit_code == 0
    assert plain.stderr.count("\n") == 1 and "unencrypted" in plain.stderr
    assert plain.stdout.startswith("Backed up ") and plain.stdout.count("\n") == 1
    sealed = cli(demo, "backup", "--output", str(tmp_path / "s.age"), "--passphrase-stdin", input=PASSPHRASE)
    assert sealed.exit_code == 0 and sealed.stderr == ""


def test_the_archive_holds_no_key(demo, tmp_path):
    """Neither the archive's bytes, nor its unpacked members, nor the decrypted archive name a key."""
    plain = back_up(demo, tmp_path / "plain.tar.gz")
    sealed = back_up(demo, tmp_path / "sealed.age", "--passphrase-stdin", input=PASSPHRASE)
    opened = pyrage.passphrase.decrypt(sealed.read_bytes(), PASSPHRASE)
    looked_at = [plain.read_bytes(), gzip.decompress(plain.read_bytes()), sealed.read_bytes(), gzip.decompress(opened)]
    looked_at += members(plain).values()
    keys = [KEYS["SECRET_KEY"], KEYS["AUDIT_KEY"], KEYS["DATA_KEYS"], *KEYS["DATA_KEYS"].split(",")]
    for blob in looked_at:
        for secret in keys:
            assert secret.encode() not in blob


def test_restore_refuses_a_database_that_is_not_empty(demo, fresh, tmp_path):
    """A database with data, or with only the schema, is refused and left as it was."""
    archive = back_up(demo, tmp_path / "demo.tar.gz")
    counts = row_counts(demo)
    result = cli(demo, "restore", str(archive))
    assert result.exit_code == 1
    assert result.output == (
        "Error: The configured database is not empty; restore only into a new, empty database (nothing was changed).\n"
    )
    assert row_counts(demo) == counts
    assert cli(demo, "audit", "verify").exit_code == 0

    migrated = fresh()
    with migrated.app_context():
        upgrade()
    schema_only = row_counts(migrated)
    refused = cli(migrated, "restore", str(archive))
    assert refused.exit_code == 1 and "not empty" in refused.output
    assert row_counts(migrated) == schema_only


def _drop_one_answer(dump: bytes, work: Path) -> bytes:
    """The dump less one row of the answer table."""
    if DIALECT == "postgresql":
        lines = dump.decode().split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith("COPY public.answer "))
        assert lines[start + 1] != "\\."
        del lines[start + 1]
        return "\n".join(lines).encode()
    path = work / "edited.sqlite3"
    path.write_bytes(dump)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        assert conn.execute(sa.text("DELETE FROM answer WHERE id = (SELECT min(id) FROM answer)")).rowcount == 1
    engine.dispose()
    return path.read_bytes()


def test_a_tampered_archive_is_refused_or_flagged(demo, fresh, tmp_path):
    archive = back_up(demo, tmp_path / "demo.tar.gz")
    held = members(archive)
    manifest = json.loads(held[MANIFEST])
    edited = _drop_one_answer(held[DUMPS[DIALECT]], tmp_path)

    # The dump changed, the manifest not: refused before anything is loaded.
    target = fresh()
    result = cli(target, "restore", str(repack(archive, tmp_path / "t1.tar.gz", {DUMPS[DIALECT]: edited})))
    assert result.exit_code == 1
    assert "does not match the digest in its manifest" in result.output and "Nothing was restored" in result.output
    assert row_counts(target) == {}

    # The digest made to fit too: loaded, then the missing row is found and reported.
    (tmp_path / "edited").write_bytes(edited)
    forged = {**manifest, "dump": {**manifest["dump"], "sha256": file_digest(tmp_path / "edited")}}
    archive2 = repack(archive, tmp_path / "t2.tar.gz", {DUMPS[DIALECT]: edited, MANIFEST: json.dumps(forged).encode()})
    target = fresh()
    result = cli(target, "restore", str(archive2))
    assert result.exit_code == 1
    expected = manifest["tables"]["answer"]
    assert result.output.count("\n") == 1
    assert f"table answer holds {expected - 1:,} rows, the backup {expected:,}" in result.output
    assert "Do not use this database" in result.output


def test_a_wrong_passphrase_or_key_is_one_clear_line(demo, fresh, tmp_path):
    sealed = back_up(demo, tmp_path / "sealed.age", "--passphrase-stdin", input=PASSPHRASE)
    target = fresh()
    wrong = cli(target, "restore", str(sealed), "--passphrase-stdin", input="four calm harbour light\n")
    assert wrong.exit_code == 1
    assert wrong.output == "Error: The passphrase does not open this archive (or the archive is damaged).\n"
    assert row_counts(target) == {}

    none = cli(target, "restore", str(sealed))
    assert none.exit_code == 1
    assert none.output == "Error: This archive is encrypted: give --passphrase-stdin or --identity FILE.\n"

    identity = pyrage.x25519.Identity.generate()
    keyed = back_up(demo, tmp_path / "keyed.age", "--recipient", str(identity.to_public()))
    other = tmp_path / "other.key"
    other.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    wrong_key = cli(target, "restore", str(keyed), "--identity", str(other))
    assert wrong_key.exit_code == 1
    assert wrong_key.output == "Error: The identity does not open this archive (or the archive is damaged).\n"
    assert row_counts(target) == {}

    mine = tmp_path / "mine.key"
    mine.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    assert cli(target, "restore", str(keyed), "--identity", str(mine)).exit_code == 0


def test_restore_under_another_audit_key_says_the_trail_does_not_verify(demo, fresh, tmp_path):
    """The archive alone is not enough: without the AUDIT_KEY it was made under, the trail fails."""
    archive = back_up(demo, tmp_path / "demo.tar.gz")
    target = fresh(AUDIT_KEY="another-audit-key-Wm4pQ8xR2vB6nT1kY9cL3hJ7")
    result = cli(target, "restore", str(archive))
    assert result.exit_code == 1
    assert "the audit trail does not verify" in result.output and "AUDIT_KEY" in result.output


def test_bad_requests_get_one_clear_line(demo, fresh, tmp_path):
    archive = back_up(demo, tmp_path / "demo.tar.gz")
    again = cli(demo, "backup", "--output", str(archive))
    assert again.exit_code == 1 and "already exists" in again.output
    bad_key = cli(demo, "backup", "--output", str(tmp_path / "x.age"), "--recipient", "age1nope")
    assert bad_key.exit_code == 1 and "must be an age public key" in bad_key.output
    assert not (tmp_path / "x.age").exists()
    empty = cli(demo, "backup", "--output", str(tmp_path / "y.age"), "--passphrase-stdin", input="\n")
    assert empty.exit_code == 1 and "No passphrase" in empty.output

    untouched = fresh()
    nothing = cli(untouched, "backup", "--output", str(tmp_path / "z.tar.gz"))
    assert nothing.exit_code == 1 and "no Tandem schema yet" in nothing.output
    not_an_archive = tmp_path / "notes.txt"
    not_an_archive.write_text("hello")
    unreadable = cli(untouched, "restore", str(not_an_archive))
    assert unreadable.exit_code == 1 and "cannot be read" in unreadable.output
    missing = cli(untouched, "restore", str(tmp_path / "missing.tar.gz"))
    assert missing.exit_code == 1 and "is not a file" in missing.output
    for result in (again, bad_key, empty, nothing, unreadable, missing):
        assert "Traceback" not in result.output and result.output.count("\n") == 1


# --- the README's "Backups" section, run as written ----------------------------------------

# The site-specific names in the README's commands, and what this test puts in their place.
PLACES = (
    "/srv/tandem",
    "/etc/tandem.env",
    "/root/tandem-backup.key",
    "/etc/tandem-backup.pub",
    "/var/backups/tandem",
    "tandem_drill",
)


def readme_blocks() -> list[str]:
    """The code blocks of the README's "Backups" section, in order."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Backups\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```[a-z]*\n(.*?)^```$", section, flags=re.M | re.S)


@pytest.mark.skipif(not is_postgres(), reason="the drill creates and drops a PostgreSQL database (the PostgreSQL run)")
def test_the_readme_backup_drill_works_as_written(demo, tmp_path):
    """Key pair, the nightly cron line and the monthly drill, word for word but for the site's paths,
    against the demo practice in production mode; the scratch database is gone afterwards."""
    keypair, cron, drill = readme_blocks()
    section = keypair + cron + drill
    assert all(place in section for place in PLACES), "the README's drill names other places than this test knows"
    url = make_url(demo.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    scratch = f"tandem_drill_{secrets.token_hex(4)}"
    here = {
        "/srv/tandem": str(REPO),
        "/etc/tandem.env": str(tmp_path / "tandem.env"),
        "/root/tandem-backup.key": str(tmp_path / "tandem-backup.key"),
        "/etc/tandem-backup.pub": str(tmp_path / "tandem-backup.pub"),
        "/var/backups/tandem": str(tmp_path / "backups"),
        "tandem_drill": scratch,
    }
    (tmp_path / "backups").mkdir()
    environment = {
        "TANDEM_ENV": "production",
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "BASE_URL": "https://tandem.example.org",
        **KEYS,
    }
    (tmp_path / "tandem.env").write_text("".join(f"{k}='{v}'\n" for k, v in environment.items()))

    def run(block: str, shell: str) -> str:
        for place in PLACES:
            block = block.replace(place, here[place])
        done = subprocess.run([shell, "-ec", block], capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run(keypair, "bash")
    assert (tmp_path / "tandem-backup.pub").read_text().startswith("age1")

    # cron runs the line's command with /bin/sh, where "\%" stands for "%".
    (line,) = cron.strip().splitlines()
    run(line.split(None, 5)[5].replace("\\%", "%"), "sh")
    (nightly,) = (tmp_path / "backups").iterdir()
    assert re.fullmatch(r"tandem-\d{8}\.tar\.gz\.age", nightly.name)
    assert nightly.read_bytes().startswith(AGE_HEADER)

    output = run(drill, "bash")
    counts = row_counts(demo)
    assert output.splitlines()[-1] == (
        f"Restored {sum(counts.values()):,} rows in {len(counts)} tables at revision {counts_revision(demo)}; "
        f"audit trail verified (head {audit_head(demo)})."
    )
    assert list((tmp_path / "backups").iterdir()) == [nightly]  # the drill's archive is removed
    admin = sa.create_engine(TEST_DB_URL)
    with admin.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": scratch}) == 0
    admin.dispose()
