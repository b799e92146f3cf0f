"""The FHIR export's reads and files: a couple's Bundle for the download, and `flask export-fhir`,
which writes a practice's (or every practice's) resources as NDJSON files, one per resource type,
as the FHIR Bulk Data format does. The resources themselves are built in clinic.fhir."""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from clinic import audit, fhir
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.links import LinkError
from clinic.models import Couple, Partner, Practice
from clinic.results import CoupleResults, load_couple_results, load_many, submitted_answers
from clinic.scoping import couples_in_scope, practice_rows

# Couples read at a time by the command (bounds memory whatever the practice's size).
BATCH = 200


def base_url() -> str:
    """BASE_URL, which the canonical URLs and code systems are built on."""
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    if not base:
        raise LinkError("BASE_URL is not set: the FHIR export names its questionnaires by Tandem's public address.")
    return base


def _answers(found: list[CoupleResults]):
    """The submitted answers these results were scored from (read along with them: kept by clinic.memo)."""
    return submitted_answers(
        [i for r in found for a in r.assessments for i in a.invitations if i.submitted_at is not None]
    )


def couple_bundle(couple: Couple, *, free_text: bool, emails: bool) -> dict:
    """A couple (already loaded in scope) as a collection Bundle, scored as the couple view scores it."""
    results = load_couple_results(couple)
    ids = fhir.Ids(bundle=True)
    base = base_url()
    made = fhir.couple_resources(results, _answers([results]), ids, base_url=base, free_text=free_text, emails=emails)
    return fhir.bundle(made, ids, base_url=base, now=utcnow())


def practice_resources(practice_id: int, *, base: str, free_text: bool, emails: bool) -> Iterator[fhir.CoupleResources]:
    """Each couple of one practice (archived ones too), BATCH couples read at a time, each with ids of
    its own (its references stay inside it; no run-long table of ids grows with the practice)."""
    params = {"scope_practice_id": practice_id}
    chosen = couples_in_scope(owner=True).with_only_columns(Couple.id).order_by(Couple.id)
    couple_ids = list(db.session.scalars(chosen, params))
    for start in range(0, len(couple_ids), BATCH):
        batch = couple_ids[start : start + BATCH]
        couples = db.session.scalars(
            practice_rows(Couple).where(Couple.id.in_(batch)).order_by(Couple.id), params
        ).all()
        partners: dict[int, dict[int, Partner]] = defaultdict(dict)
        for partner in db.session.scalars(sa.select(Partner).where(Partner.couple_id.in_(batch))):
            partners[partner.couple_id][partner.position] = partner
        scored = {r.couple.id: r for r in load_many(batch, practice_id)}
        answers = _answers(list(scored.values()))
        for couple in couples:
            # A couple nobody sent anything to is still a Group of two Patients.
            results = scored.get(couple.id) or CoupleResults(couple, partners[couple.id], [], {})
            ids = fhir.Ids(bundle=False)
            yield fhir.couple_resources(results, answers, ids, base_url=base, free_text=free_text, emails=emails)


def _line(resource: dict) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass
class Written:
    """NDJSON files written under hidden names (`publish` gives them their own, `discard` removes
    them), with how many resources went into each and how many each practice gave, by type."""

    folder: Path
    files: dict[str, int]
    practices: dict[int, dict[str, int]]

    def partial(self, kind: str) -> Path:
        return self.folder / f".{kind}.ndjson.partial"

    def publish(self) -> None:
        for kind in fhir.TYPES:
            self.partial(kind).rename(self.folder / f"{kind}.ndjson")

    def discard(self) -> None:
        for kind in fhir.TYPES:
            self.partial(kind).unlink(missing_ok=True)


def write_ndjson(folder: Path, practices: list[Practice], *, free_text: bool, emails: bool) -> Written:
    """Write every resource of these practices to hidden <Type> files in `folder` (references as
    Type/id), with the Questionnaires their responses answered; nothing is left behind when writing
    fails. The caller publishes them (or discards them)."""
    base = base_url()
    written = Written(folder, files=dict.fromkeys(fhir.TYPES, 0), practices={})
    instruments: dict = {}
    opened: list[Path] = []
    try:
        with contextlib.ExitStack() as stack:
            files = {}
            for kind in fhir.TYPES:
                # A new file only its owner can read: it holds client data.
                handle = os.open(written.partial(kind), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                opened.append(written.partial(kind))
                files[kind] = stack.enter_context(os.fdopen(handle, "w", encoding="utf-8"))
            for practice in practices:
                tally = written.practices[practice.id] = dict.fromkeys(fhir.TYPES, 0)
                used: set[tuple[str, int]] = set()
                for made in practice_resources(practice.id, base=base, free_text=free_text, emails=emails):
                    for kind, resources in made.by_type():
                        files[kind].writelines(_line(resource) for resource in resources)
                        tally[kind] += len(resources)
                        written.files[kind] += len(resources)
                    used |= made.instruments.keys()
                    instruments.update(made.instruments)
                tally["Questionnaire"] = len(used)
            files["Questionnaire"].writelines(
                _line(q) for q in fhir.questionnaires(instruments, fhir.Ids(bundle=False), base)
            )
            written.files["Questionnaire"] = len(instruments)
    except BaseException:
        for path in opened:  # only this run's files (another run's are not ours to remove)
            path.unlink(missing_ok=True)
        raise
    return written


@click.command("export-fhir")
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write the NDJSON files to (made if missing; files already there are never replaced).",
)
@click.option("--practice", "practice_id", type=int, help="Only this practice (its id); default: every practice.")
@click.option("--free-text", is_flag=True, help="Include what partners wrote in their own words.")
@click.option("--emails", is_flag=True, help="Include the partners' email addresses.")
@with_appcontext
def export_fhir_command(output: Path, practice_id: int | None, free_text: bool, emails: bool):
    """Write FHIR R4 resources as NDJSON files, one per resource type (FHIR Bulk Data); prints counts only."""
    chosen = sa.select(Practice).order_by(Practice.id)
    if practice_id is not None:
        chosen = chosen.where(Practice.id == practice_id)
    practices = list(db.session.scalars(chosen))
    if practice_id is not None and not practices:
        raise click.ClickException(f"No practice with id {practice_id}.")
    taken = [f"{kind}.ndjson" for kind in fhir.TYPES if (output / f"{kind}.ndjson").exists()]
    if taken:
        raise click.ClickException(f"{output} already holds {', '.join(taken)}: choose an empty folder.")
    try:
        output.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = write_ndjson(output, practices, free_text=free_text, emails=emails)
    except LinkError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"Nothing was written to {output}: {exc.strerror or exc}.") from None
    # The files take their names only once the audit trail says they were written.
    try:
        for practice in practices:
            audit.record(
                "practice.exported_fhir",
                practice_id=practice.id,
                actor="system",
                target=f"practice:{practice.id}",
                detail={"free_text": free_text, "emails": emails, "resources": written.practices[practice.id]},
            )
        db.session.commit()
    except BaseException:
        written.discard()
        raise
    written.publish()
    files = ", ".join(f"{kind}.ndjson {written.files[kind]:,}" for kind in FILE_ORDER)
    click.echo(f"Wrote {files} ({len(practices)} practice{'s' if len(practices) != 1 else ''}).")


# The files in the order the command names them.
FILE_ORDER = ("Questionnaire", "Patient", "Group", "QuestionnaireResponse", "Observation")
