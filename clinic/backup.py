"""Backups: one archive of the database and a manifest, and a restore that proves it.

`flask --app wsgi backup` writes a gzipped tar holding

- the database, dumped from one consistent snapshot: PostgreSQL as plain SQL by `pg_dump`
  (run with `--snapshot`, so the dump and the manifest see the same data), SQLite as a
  database file made with SQLite's online backup API inside one read transaction;
- manifest.json: the Alembic revision, the row count of every table, the audit trail's
  head, the dump's SHA-256, the UTC time and the Tandem version.

It holds no key: SECRET_KEY, AUDIT_KEY and DATA_KEYS stay in the environment, and a restore
needs them as well as the archive (DATA_KEYS to read free text and PDFs, AUDIT_KEY to verify
the trail). The archive can be encrypted with age (pyrage) to a passphrase or to an X25519
public key.

`flask --app wsgi restore` loads an archive only into an *empty* database: one with no
tables at all (a new PostgreSQL database from `createdb`, or a SQLite file that is missing
or holds no table; never one that `db upgrade` has run on). It checks the dump against its
digest before loading anything, then the loaded database against the manifest (revision,
row counts, audit head), and runs the audit trail's own verification (clinic.audit.check).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import sqlalchemy as sa
from flask import current_app

from clinic import audit
from clinic.db_types import utcnow
from clinic.extensions import db

FORMAT = 1
MANIFEST = "manifest.json"
DUMPS = {"postgresql": "database.sql", "sqlite": "database.sqlite3"}
AGE_HEADER = b"age-encryption.org/v1\n"
# libpq reads these from the environment; a DATABASE_URL query option becomes one of them.
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


class BackupError(Exception):
    """A backup or restore that could not be done or did not check out (one line, for the operator)."""


@dataclass(frozen=True)
class Backup:
    """What `backup` wrote."""

    path: Path
    manifest: dict
    encrypted: bool
    seconds: float

    def summary(self) -> str:
        counts = self.manifest["tables"]
        head = self.manifest["audit"]
        trail = f"audit head {head['last_id']}" if head["intact"] else "the audit trail does NOT verify"
        return (
            f"Backed up {sum(counts.values()):,} rows in {len(counts)} tables at revision "
            f"{self.manifest['revision']} ({trail}) to {self.path} in {self.seconds:.1f} s."
        )


@dataclass(frozen=True)
class Restore:
    """What `restore` loaded, and whether it matched its manifest."""

    rows: int
    tables: int
    revision: str
    audit_head: int
    problems: tuple[str, ...]

    def summary(self) -> str:
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return (
                f"Restore did not check out: {self.problems[0]}{more}. "
                "Do not use this database: drop it and restore again from a sound archive."
            )
        return (
            f"Restored {self.rows:,} rows in {self.tables} tables at revision {self.revision}; "
            f"audit trail verified (head {self.audit_head})."
        )


# --- backup -----------------------------------------------------------------------------


def create_backup(output: Path | None = None, *, passphrase: str | None = None, recipient: str | None = None) -> Backup:
    """Write one archive of the configured database to `output` (a new file), encrypted if asked."""
    started = time.perf_counter()
    dialect = _dialect()
    age_recipient = _recipient(recipient) if recipient else None
    if passphrase is not None and not passphrase:
        raise BackupError("The passphrase is empty.")
    encrypted = bool(passphrase or age_recipient)
    if output is None:
        output = Path(f"tandem-backup-{utcnow():%Y%m%dT%H%M%SZ}.tar.gz{'.age' if encrypted else ''}")
    if output.exists():
        raise BackupError(f"{output} already exists; name another file with --output.")
    if not output.parent.is_dir():
        raise BackupError(f"The folder {output.parent} does not exist.")

    with tempfile.TemporaryDirectory(prefix="tandem-backup-", dir=output.parent) as work:
        dump = Path(work) / DUMPS[dialect]
        with _snapshot(dialect) as snapshot:
            facts = _facts()
            if dialect == "postgresql":
                _pg_dump(snapshot, dump)
            else:
                target = sqlite3.connect(dump)
                try:
                    snapshot.backup(target)
                finally:
                    target.close()
        manifest = {
            "format": FORMAT,
            "tandem_version": tandem_version(),
            "created_at": utcnow().isoformat(timespec="seconds"),
            "database": dialect,
            "dump": {"file": dump.name, "sha256": file_digest(dump), "bytes": dump.stat().st_size},
            **facts,
        }
        packed = Path(work) / "archive.tar.gz"
        _pack(packed, manifest, dump)
        if encrypted:
            sealed = Path(work) / "archive.age"
            if age_recipient is not None:
                pyrage.encrypt_file(str(packed), str(sealed), [age_recipient])
            else:
                sealed.write_bytes(pyrage.passphrase.encrypt(packed.read_bytes(), passphrase))
            packed = sealed
        os.chmod(packed, 0o600)
        # Renamed into place whole: a backup that failed half-way leaves no file that looks like one.
        os.replace(packed, output)
    return Backup(path=output, manifest=manifest, encrypted=encrypted, seconds=time.perf_counter() - started)


def _facts() -> dict:
    """The manifest's view of the database, read in the caller's snapshot."""
    revision = _revision()
    if revision is None:
        raise BackupError("The database has no Tandem schema yet (run flask --app wsgi db upgrade first).")
    problems, head = audit.check()
    return {
        "revision": revision,
        "tables": _row_counts(),
        "audit": {"last_id": head.last_id, "last_hash": head.last_hash, "rows": head.rows, "intact": not problems},
    }


@contextlib.contextmanager
def _snapshot(dialect: str) -> Iterator:
    """One read transaction on db.session that the manifest and the dump both read from.

    PostgreSQL: REPEATABLE READ, READ ONLY, and its snapshot exported for pg_dump --snapshot
    (yields the snapshot's name). SQLite: an explicit BEGIN on the session's own connection,
    whose first read takes the lock that keeps writers out until the end (yields the sqlite3
    connection, for its online backup)."""
    db.session.remove()
    try:
        if dialect == "postgresql":
            db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            db.session.execute(sa.text("SET TRANSACTION READ ONLY"))
            yield db.session.scalar(sa.text("SELECT pg_export_snapshot()"))
        else:
            raw = db.session.connection().connection.driver_connection
            raw.execute("BEGIN")
            yield raw
    except sa.exc.OperationalError as exc:
        raise BackupError("The database could not be reached; nothing was written.") from exc
    finally:
        db.session.rollback()
        db.session.remove()


def _pg_dump(snapshot: str, dump: Path) -> None:
    args, env = _libpq(db.engine.url)
    _run(
        [
            "pg_dump",
            "--format=plain",
            "--no-owner",
            "--no-privileges",
            f"--snapshot={snapshot}",
            f"--file={dump}",
            *args,
        ],
        env,
        "pg_dump",
    )


def _pack(path: Path, manifest: dict, dump: Path) -> None:
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
        tar.addfile(info, io.BytesIO(data))
        tar.add(dump, arcname=dump.name, filter=_private)


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member readable by its owner only, naming no local user."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


# --- restore ----------------------------------------------------------------------------


def restore_backup(archive: Path, *, passphrase: str | None = None, identity_file: Path | None = None) -> Restore:
    """Load `archive` into the configured database, which must be empty, and check it against its manifest."""
    dialect = _dialect()
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file.")
    _refuse_unless_empty(dialect)
    with tempfile.TemporaryDirectory(prefix="tandem-restore-") as work:
        packed = _unseal(archive, Path(work), passphrase=passphrase, identity_file=identity_file)
        manifest, dump = _unpack(packed, Path(work))
        if manifest["database"] != dialect:
            raise BackupError(
                f"This archive holds a {_NAMES[manifest['database']]} database and the configured database is "
                f"{_NAMES[dialect]}; restore it into a {_NAMES[manifest['database']]} database."
            )
        if file_digest(dump) != manifest["dump"]["sha256"]:
            raise BackupError(
                "The archive's database dump does not match the digest in its manifest: it was changed or damaged. "
                "Nothing was restored."
            )
        db.session.remove()
        db.engine.dispose()
        if dialect == "postgresql":
            _psql_load(dump)
        else:
            _sqlite_place(dump)
    db.session.remove()
    db.engine.dispose()
    return check_restored(manifest)


def check_restored(manifest: dict) -> Restore:
    """Compare the configured database with a manifest and verify its audit trail."""
    problems: list[str] = []
    revision = _revision()
    if revision != manifest["revision"]:
        problems.append(f"the schema is at revision {revision}, the backup at {manifest['revision']}")
    counts = _row_counts()
    expected = manifest["tables"]
    for table in sorted(set(expected) | set(counts)):
        if table not in counts:
            problems.append(f"table {table} is missing")
        elif table not in expected:
            problems.append(f"table {table} is not in the backup")
        elif counts[table] != expected[table]:
            problems.append(f"table {table} holds {counts[table]:,} rows, the backup {expected[table]:,}")
    try:
        breaks, head = audit.check()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        breaks, head = [], None
        problems.append("the audit trail could not be read")
    if head is not None:
        if breaks:
            first = breaks[0]
            problems.append(
                f"the audit trail does not verify: row {first.event_id} {first.reason} "
                "(is AUDIT_KEY the one this backup was made under?)"
            )
        elif (head.last_id, head.last_hash) != (manifest["audit"]["last_id"], manifest["audit"]["last_hash"]):
            problems.append(
                f"the audit trail ends at row {head.last_id}, the backup's at {manifest['audit']['last_id']}"
            )
    db.session.rollback()
    return Restore(
        rows=sum(counts.values()),
        tables=len(counts),
        revision=revision or "none",
        audit_head=head.last_id if head else 0,
        problems=tuple(problems),
    )


_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def _refuse_unless_empty(dialect: str) -> None:
    if dialect == "sqlite":
        path = _sqlite_path()
        if not path.exists():
            return
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            try:
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"{path} is not a SQLite database; nothing was restored.") from exc
    else:
        try:
            with db.engine.connect() as conn:
                tables = conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') "
                        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
                    )
                )
        except sa.exc.OperationalError as exc:
            raise BackupError("The configured database could not be reached (create it first with createdb).") from exc
        finally:
            db.engine.dispose()
    if tables:
        raise BackupError(
            "The configured database is not empty; restore only into a new, empty database (nothing was changed)."
        )


def _unseal(archive: Path, work: Path, *, passphrase: str | None, identity_file: Path | None) -> Path:
    """The archive's tar, decrypted if it was encrypted."""
    with archive.open("rb") as f:
        encrypted = f.read(len(AGE_HEADER)) == AGE_HEADER
    if not encrypted:
        return archive
    if passphrase is None and identity_file is None:
        raise BackupError("This archive is encrypted: give --passphrase-stdin or --identity FILE.")
    packed = work / "archive.tar.gz"
    try:
        if identity_file is not None:
            pyrage.decrypt_file(str(archive), str(packed), [_identity(identity_file)])
        else:
            packed.write_bytes(pyrage.passphrase.decrypt(archive.read_bytes(), passphrase))
    except pyrage.DecryptError as exc:
        what = "identity" if identity_file is not None else "passphrase"
        raise BackupError(f"The {what} does not open this archive (or the archive is damaged).") from exc
    return packed


def _unpack(packed: Path, work: Path) -> tuple[dict, Path]:
    """The manifest and the dump file, read member by member (never extractall: no paths from the archive)."""
    try:
        with tarfile.open(packed, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            if MANIFEST not in members:
                raise BackupError("The archive holds no manifest.json; it is not a Tandem backup.")
            manifest = json.load(tar.extractfile(members[MANIFEST]))
            if manifest.get("format") != FORMAT or manifest.get("database") not in DUMPS:
                raise BackupError("The archive's manifest is of an unknown format; it is not a Tandem backup.")
            name = manifest["dump"]["file"]
            if name != DUMPS[manifest["database"]] or name not in members:
                raise BackupError("The archive holds no database dump.")
            dump = work / name
            with tar.extractfile(members[name]) as source, dump.open("wb") as target:
                shutil.copyfileobj(source, target)
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise BackupError("The archive cannot be read: it is damaged or not a Tandem backup.") from exc
    return manifest, dump


def _psql_load(dump: Path) -> None:
    args, env = _libpq(db.engine.url)
    # One transaction: a dump that fails part-way leaves the database as empty as it was.
    _run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(dump), *args], env, "psql")


def _sqlite_place(dump: Path) -> None:
    path = _sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(path.name + ".restoring")
    shutil.copyfile(dump, staged)
    os.replace(staged, path)


# --- shared -----------------------------------------------------------------------------


def _dialect() -> str:
    name = db.engine.dialect.name
    if name not in DUMPS:
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {name}.")
    return name


def _sqlite_path() -> Path:
    database = db.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("The configured SQLite database is not a file; set DATABASE_URL to sqlite:////path/file.db.")
    return Path(database)


def _revision() -> str | None:
    if not sa.inspect(db.session.connection()).has_table("alembic_version"):
        return None
    return db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))


def _row_counts() -> dict[str, int]:
    """Rows per table, every table of the database (alembic_version too), by name."""
    conn = db.session.connection()
    quote = conn.dialect.identifier_preparer.quote
    return {
        table: conn.scalar(sa.text(f"SELECT count(*) FROM {quote(table)}"))  # noqa: S608  # nosec B608 -- the database's own table names, quoted
        for table in sorted(sa.inspect(conn).get_table_names())
    }


def _libpq(url: sa.URL) -> tuple[list[str], dict[str, str]]:
    """Command-line connection options for pg_dump/psql, and their environment (the password goes there)."""
    args = []
    if url.host:
        args += ["-h", url.host]
    if url.port:
        args += ["-p", str(url.port)]
    if url.username:
        args += ["-U", url.username]
    args += ["-d", url.database or ""]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    for option, value in url.query.items():
        if option in LIBPQ_OPTIONS:
            env[LIBPQ_OPTIONS[option]] = value if isinstance(value, str) else value[-1]
    return args, env


def _run(command: list[str], env: dict[str, str], name: str) -> None:
    try:
        # pg_dump or psql from the system, with arguments made here; the password only in env.
        finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise BackupError(
            f"{name} was not found; install PostgreSQL's client tools (apt-get install postgresql-client)."
        ) from exc
    if finished.returncode != 0:
        lines = [line for line in finished.stderr.splitlines() if line.strip()]
        # The first line says what went wrong; later ones (CONTEXT) may quote a row, and values are redacted.
        reason = re.sub(r'"[^"]*"', '"…"', lines[0])[:300] if lines else f"exit status {finished.returncode}"
        raise BackupError(f"{name} failed: {reason}")


def _recipient(text: str) -> pyrage.x25519.Recipient:
    try:
        return pyrage.x25519.Recipient.from_str(text.strip())
    except pyrage.RecipientError as exc:
        raise BackupError("--recipient must be an age public key (it starts with age1).") from exc


def _identity(path: Path) -> pyrage.x25519.Identity:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"The identity file {path} cannot be read.") from exc
    for line in lines:
        if line.strip().startswith("AGE-SECRET-KEY-"):
            try:
                return pyrage.x25519.Identity.from_str(line.strip())
            except pyrage.IdentityError as exc:
                raise BackupError(f"The identity file {path} holds a damaged age key.") from exc
    raise BackupError(f"The identity file {path} holds no age key (a line starting with AGE-SECRET-KEY-).")


def file_digest(path: Path) -> str:
    """SHA-256 of a file, in hex."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tandem_version() -> str:
    """Tandem's version, as pyproject.toml gives it."""
    try:
        with (Path(current_app.root_path).parent / "pyproject.toml").open("rb") as f:
            return tomllib.load(f)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"
