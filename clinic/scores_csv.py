"""Scores as CSV, for therapists who keep their own spreadsheets: one row per partner x assessment x
subscale or total, for one couple or a whole practice.

Each row holds the score as the couple view writes it (half-up, two decimals), its band, whether
it is valid (enough items answered), the instrument version and the dates (in the practice's time
zone, named in a column). Only submitted answers count, as on the couple view, and only scored
questionnaires (a checklist or a screen is read answer by answer, not scored). No answer, free
text, note or email is written. A cell that a spreadsheet would run as a formula (starting with
=, +, -, @, a tab or a carriage return) is written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext

from clinic import audit
from clinic.extensions import db
from clinic.models import Couple, Practice
from clinic.results import CoupleResults, load_couple_results, load_many
from clinic.scoping import couples_in_scope
from clinic.services.checkins import practice_zone
from instruments.numbers import fmt

COLUMNS = (
    "couple_id",
    "couple",
    "partner",
    "partner_name",
    "assessment_id",
    "occasion",
    "sent_on",
    "submitted_at",
    "time_zone",
    "instrument",
    "instrument_version",
    "instrument_title",
    "measure",
    "measure_label",
    "kind",
    "score",
    "band",
    "valid",
    "items_answered",
    "items",
)
# Couples read at a time for a practice-wide file (bounds memory whatever the practice's size).
BATCH = 200
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe(text: str) -> str:
    """Text a spreadsheet shows as text: a cell starting like a formula gets a leading apostrophe."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def rows(results: CoupleResults, zone: ZoneInfo) -> Iterator[list[str]]:
    """One couple's rows: each submitted scored questionnaire, each partner, each subscale then total."""
    couple = results.couple
    for assessment in results.assessments:
        for row in results.by_assessment.get(assessment.id, ()):
            if row.instrument.kind != "scored":
                continue
            for pos in (1, 2):
                result = row.results.get(pos)
                if result is None:
                    continue  # not sent by this partner
                partner = results.partners[pos]
                submitted = results.submitted[assessment.id][pos]
                for kind, scores in (("subscale", result.scores), ("total", result.totals)):
                    for measure_id, found in scores.items():
                        yield [
                            str(couple.id),
                            safe(couple.label),
                            partner.letter,
                            safe(partner.display_name),
                            str(assessment.id),
                            safe(assessment.occasion),
                            assessment.created_at.astimezone(zone).date().isoformat(),
                            submitted.astimezone(zone).strftime("%Y-%m-%d %H:%M") if submitted else "",
                            zone.key,
                            row.instrument.id,
                            str(row.instrument.version),
                            safe(row.instrument.title),
                            measure_id,
                            safe(found.label),
                            kind,
                            fmt(found.value, missing=""),
                            safe(found.band.label) if found.band and found.valid else "",
                            "yes" if found.valid else "no",
                            str(found.answered),
                            str(found.total_items),
                        ]


def _lines(all_rows: Iterable[list[str]]) -> Iterator[str]:
    """The CSV text, a line at a time (the header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for row in all_rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue()


def couple_csv(couple: Couple, zone_name: str) -> str:
    """One couple's scores (a couple already loaded in scope)."""
    return "".join(_lines(rows(load_couple_results(couple), practice_zone(zone_name))))


def practice_lines(ids: list[int], practice_id: int, zone_name: str) -> Iterator[str]:
    """These couples' scores (ids of one practice's couples, chosen in scope), read BATCH couples at
    a time, as CSV lines: for a download streamed as it is made, or a file."""
    zone = practice_zone(zone_name)

    def every_row() -> Iterator[list[str]]:
        for start in range(0, len(ids), BATCH):
            for results in load_many(ids[start : start + BATCH], practice_id):
                yield from rows(results, zone)  # nothing keeps a batch once written (the session's map is weak)

    return _lines(every_row())


def practice_couple_ids(practice_id: int) -> list[int]:
    """Every couple of the practice, oldest first (archived ones too: their scores are theirs)."""
    stmt = couples_in_scope(owner=True).with_only_columns(Couple.id).order_by(Couple.id)
    return list(db.session.scalars(stmt, {"scope_practice_id": practice_id}))


@click.command("export-csv")
@click.option("--practice", "practice_id", type=int, required=True, help="The practice (its id).")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV file to write (never replaced: it must not exist yet).",
)
@with_appcontext
def export_csv_command(practice_id: int, output: Path):
    """Write every couple's scores of one practice as CSV (the settings page's file, for a practice of
    any size); only its owner can read the file; recorded in the audit trail; prints counts only."""
    practice = db.session.get(Practice, practice_id)
    if practice is None:
        raise click.ClickException(f"No practice with id {practice_id}.")
    ids = practice_couple_ids(practice.id)
    try:
        # O_EXCL: an existing file (or a link planted in its place) is never written through.
        handle = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{output} already exists: choose a new file name.") from None
    except OSError as exc:
        raise click.ClickException(f"Nothing was written to {output}: {exc.strerror or exc}.") from None
    lines = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            for line in practice_lines(ids, practice.id, practice.timezone):
                file.write(line)
                lines += 1
        audit.record(
            "practice.exported_csv",
            practice_id=practice.id,
            actor="system",
            target=f"practice:{practice.id}",
            detail={"couples": len(ids)},
        )
        db.session.commit()
    except BaseException:
        output.unlink(missing_ok=True)  # half a file is no export
        raise
    couples = f"{len(ids):,} couple{'s' if len(ids) != 1 else ''}"
    click.echo(f"Wrote {lines - 1:,} row{'s' if lines != 2 else ''} for {couples} to {output}.")
