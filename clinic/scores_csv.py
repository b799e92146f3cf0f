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
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

from clinic.extensions import db
from clinic.models import Couple
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
