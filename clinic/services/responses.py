"""A partner's answers: read, save (autosave and page posts), progress, and the one submission.

Answers are stored one row per item, so two tabs saving different items never
overwrite each other, and the same item saved twice keeps the later answer.
Every save and the submission lock the invitation's own row with a condition on
its state (a page save and the submission by updating it, autosave by selecting
the answer from it FOR NO KEY UPDATE): that row is the lock that keeps a save
from landing after the submission, and a second submission from scoring twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value

from clinic import catalog
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.memo import memo
from clinic.models import Answer, Assessment, Couple, Invitation, Score
from clinic.services import safety
from clinic.services.invitations import link_is_live, refresh_status
from instruments import AnswerError, Instrument, Result, ScoreResult, item_order, paginate, score
from instruments.numbers import shown
from instruments.scoring import check_answers

AnswerValue = int | str | None

# The dashboard's "last activity" of a couple follows a partner's saves to within this
# step: most saves find it fresh and leave the couple's row alone.
ACTIVITY_STEP = timedelta(minutes=5)


class ResponsesClosed(Exception):
    """The invitation no longer takes answers: submitted, revoked or expired."""

    def __init__(self, *, submitted: bool) -> None:
        self.submitted = submitted
        super().__init__("These answers have already been sent." if submitted else "This link no longer takes answers.")


class LinkNotOpen(Exception):
    """The partner session's link does not take answers now (or was never this session's)."""


class UnknownInstrument(AnswerError):
    """An instrument id that is not part of this invitation's assessment."""


@dataclass(frozen=True)
class Step:
    """One questionnaire of the assessment as a partner moves through it."""

    number: int  # 1-based position in the assessment
    instrument: Instrument
    answered: int  # choice items answered
    total: int  # choice items (text items are optional notes and never count)
    unanswered: tuple[str, ...]  # choice item ids not yet answered, in the partner's order
    pages: tuple[tuple[str, ...], ...]  # every item id of each page of the form, in the partner's order

    @property
    def complete(self) -> bool:
        return not self.unanswered

    @property
    def untouched(self) -> bool:
        """Nothing of this questionnaire is answered yet."""
        return self.answered == 0

    @property
    def mostly_unanswered(self) -> bool:
        """More than a third of its questions are unanswered: the partner is asked to confirm
        before sending (a score needs most of an area answered, so such a questionnaire may
        tell the therapist little)."""
        return len(self.unanswered) * 3 > self.total

    def page_of(self, item_id: str) -> int:
        """The 1-based page an item is on."""
        return next(number for number, page in enumerate(self.pages, start=1) if item_id in page)

    def number_of(self, item_id: str) -> int:
        """The item's 1-based number in the questionnaire, as its page shows it."""
        return [item for page in self.pages for item in page].index(item_id) + 1

    @property
    def resume_page(self) -> int:
        """The first page with a question still unanswered (the first page when none is)."""
        return self.page_of(self.unanswered[0]) if self.unanswered else 1

    @property
    def minutes_left(self) -> float:
        """The instrument's estimated minutes, in proportion to the questions still unanswered."""
        return self.instrument.minutes * len(self.unanswered) / self.total if self.total else 0.0


def minutes_left(steps: Sequence[Step]) -> int:
    """Whole minutes the unanswered questions of every questionnaire are estimated to take."""
    return math.ceil(round(sum(step.minutes_left for step in steps), 6))


def instrument_of(invitation: Invitation, instrument_id: str) -> Instrument:
    """The instrument as this invitation's assessment asked it (its stored version)."""
    for key, version in invitation.assessment.instrument_keys:
        if key == instrument_id:
            return catalog.instrument(key, version)
    raise UnknownInstrument(f"{instrument_id!r} is not one of these questionnaires")


def instruments_of(invitation: Invitation) -> list[Instrument]:
    """Every instrument of the invitation's assessment, in the order partners fill them."""
    return [catalog.instrument(key, version) for key, version in invitation.assessment.instrument_keys]


def answers_for(invitation: Invitation) -> dict[str, dict[str, int | str]]:
    """Everything this partner has saved, by instrument id then item id (one query)."""
    rows = db.session.execute(
        sa.select(Answer.instrument_id, Answer.item_id, Answer.value, Answer.text).where(
            Answer.invitation_id == invitation.id
        )
    )
    answers: dict[str, dict[str, int | str]] = {}
    for instrument_id, item_id, value, text in rows:
        answers.setdefault(instrument_id, {})[item_id] = value if value is not None else text
    return answers


def progress(invitation: Invitation, answers: Mapping[str, Mapping[str, int | str]]) -> list[Step]:
    """Answered and unanswered choice items of each instrument, in assessment order."""
    steps = []
    for number, instrument in enumerate(instruments_of(invitation), start=1):
        given = answers.get(instrument.id, {})
        pages = paginate(instrument, item_order(instrument, seed=str(invitation.id)))
        choice_ids = [item_id for page in pages for item_id in page if instrument.item(item_id).type == "choice"]
        unanswered = tuple(item_id for item_id in choice_ids if item_id not in given)
        steps.append(
            Step(
                number=number,
                instrument=instrument,
                answered=len(choice_ids) - len(unanswered),
                total=len(choice_ids),
                unanswered=unanswered,
                pages=pages,
            )
        )
    return steps


def _normalise(instrument: Instrument, answers: Mapping[str, AnswerValue]) -> dict[str, AnswerValue]:
    """Answers checked against the instrument; "" and blank text become None (clear the answer)."""
    cleaned: dict[str, AnswerValue] = {}
    for item_id, value in answers.items():
        if not isinstance(item_id, str):
            raise AnswerError("item ids are text")
        if isinstance(value, str):
            # A NUL or a lone surrogate cannot be stored (PostgreSQL refuses NUL; UTF-8 refuses
            # surrogates): refuse them here so the partner gets a 400, never a 500.
            if "\x00" in value:
                raise AnswerError(f"{item_id}: text contains a character that cannot be saved")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise AnswerError(f"{item_id}: text contains a character that cannot be saved") from None
            if not value.strip():
                value = None
        cleaned[item_id] = value
    check_answers(instrument, cleaned)
    return cleaned


_ANSWER_COLUMNS = ("invitation_id", "instrument_id", "item_id", "value", "text", "updated_at")


def _on_conflict(insert):
    """… ON CONFLICT (invitation, instrument, item) DO UPDATE: the same item saved again keeps the later answer."""
    return insert.on_conflict_do_update(
        index_elements=["invitation_id", "instrument_id", "item_id"],
        set_={"value": insert.excluded.value, "text": insert.excluded.text, "updated_at": insert.excluded.updated_at},
    )


def _compiled_once(statement, dialect: sa.Dialect, **result_types) -> sa.TextClause:
    """The statement as text in this dialect, with the same typed parameters (and typed result columns).

    SQLAlchemy does not cache the dialects' INSERT … ON CONFLICT (their Insert classes set
    inherit_cache = False), so an upsert built once was still compiled afresh on every
    execution: 0.3 ms of each autosave. Compiled here once per dialect; a text statement is
    cached like any other, and its bound values go through the same types (encryption of
    free text, UTC times)."""
    # The dialect's own SQL without a driver's extras (psycopg would add "::TYPE" casts to the
    # parameters, which text() cannot read), with :name parameters.
    plain = postgresql.base.PGDialect if dialect.name == "postgresql" else sqlite.base.SQLiteDialect
    compiled = statement.compile(dialect=plain(paramstyle="named"))
    text = sa.text(str(compiled)).bindparams(
        *(sa.bindparam(bind.key, type_=bind.type) for bind in compiled.binds.values())
    )
    return text.columns(**result_types) if result_types else text


_COMPILED: dict[tuple[str, str], sa.TextClause] = {}


def _statement(name: str) -> sa.TextClause:
    """One of the answer writes (see _BUILDERS), compiled once for the session's dialect."""
    dialect = db.session.get_bind().dialect
    key = (name, dialect.name)
    statement = _COMPILED.get(key)
    if statement is None:
        build, result_types = _BUILDERS[name]
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        statement = _COMPILED[key] = _compiled_once(build(insert), dialect, **result_types)
    return statement


def _upsert() -> sa.TextClause:
    """INSERT … ON CONFLICT (invitation, instrument, item) DO UPDATE of answer rows (the
    columns of _ANSWER_COLUMNS), in the session's dialect."""
    return _statement("upsert")


def _build_upsert(insert):
    columns = Answer.__table__.c
    row = {name: sa.bindparam(name, type_=columns[name].type) for name in _ANSWER_COLUMNS}
    return _on_conflict(insert(Answer.__table__).values(row))


def _closed_reason(invitation_id: int) -> ResponsesClosed:
    submitted_at = db.session.scalar(sa.select(Invitation.submitted_at).where(Invitation.id == invitation_id))
    return ResponsesClosed(submitted=submitted_at is not None)


_invitation = Invitation.__table__
_assessment = Assessment.__table__
_couple = Couple.__table__


def _activity_is_stale(last_activity_at: datetime | None, now: datetime) -> bool:
    return last_activity_at is None or last_activity_at < now - ACTIVITY_STEP


def _touch_couple(couple_id: int, now: datetime) -> None:
    """Move the couple's last activity to now (never backwards)."""
    db.session.execute(
        sa.update(_couple)
        .where(
            _couple.c.id == couple_id, sa.or_(_couple.c.last_activity_at.is_(None), _couple.c.last_activity_at < now)
        )
        .values(last_activity_at=now)
    )


def _open_condition(now):
    row = _invitation.c
    return sa.and_(row.submitted_at.is_(None), row.revoked_at.is_(None), row.expires_at > now)


def _stored(value: int | str) -> dict[str, int | str | None]:
    """The answer's value and text columns: a choice is stored as a number, free text as text."""
    return {"value": value if isinstance(value, int) else None, "text": value if isinstance(value, str) else None}


def _write(invitation_id: int, instrument: Instrument, cleaned: Mapping[str, AnswerValue], now) -> None:
    """Store checked answers (upsert the given, delete the cleared), in a lock order every writer shares."""
    rows = [
        {"invitation_id": invitation_id, "instrument_id": instrument.id, "item_id": item_id, "updated_at": now}
        | _stored(value)
        for item_id, value in sorted(cleaned.items())
        if value is not None
    ]
    cleared = sorted(item_id for item_id, value in cleaned.items() if value is None)
    if rows:
        db.session.execute(_upsert(), rows)
    if cleared:
        db.session.execute(
            sa.delete(Answer)
            .where(
                Answer.invitation_id == invitation_id,
                Answer.instrument_id == instrument.id,
                Answer.item_id.in_(cleared),
            )
            .execution_options(synchronize_session=False)
        )


def save_answers(
    invitation: Invitation, instrument_id: str, answers: Mapping[str, AnswerValue], *, token_hash: str | None = None
) -> None:
    """Save some answers to one instrument; None or "" clears an answer. Last write wins per item.

    Raises AnswerError (nothing written) for an unknown instrument or item, a wrong
    type or a value off the scale; ResponsesClosed once the link no longer takes answers
    (with `token_hash`, a partner session's: also once that link was replaced).
    """
    if invitation.submitted_at is not None:
        raise ResponsesClosed(submitted=True)
    now = utcnow()
    if not invitation.usable(now):
        raise ResponsesClosed(submitted=False)
    instrument = instrument_of(invitation, instrument_id)
    cleaned = _normalise(instrument, answers)
    if not cleaned:
        return

    first_start = invitation.started_at is None
    # Conditional on the row's state, and it holds the row's lock until commit, so a
    # submission in another tab either sees these answers or this save sees the submission.
    conditions = [Invitation.id == invitation.id, _open_condition(now)]
    if token_hash is not None:
        conditions.append(link_is_live(token_hash))
    touched = db.session.execute(
        sa.update(Invitation)
        .where(*conditions)
        .values(last_activity_at=now, started_at=sa.func.coalesce(Invitation.started_at, now))
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount != 1:
        raise _closed_reason(invitation.id)
    set_committed_value(invitation, "last_activity_at", now)
    if first_start:
        set_committed_value(invitation, "started_at", now)
    _write(invitation.id, instrument, cleaned, now)
    couple = invitation.assessment.couple
    if first_start:
        refresh_status(couple)  # "in progress", and the couple's last activity is now
    elif _activity_is_stale(couple.last_activity_at, now):
        couple.last_activity_at = now
    db.session.flush()


def _versions_of(invitation_id: int, token_hash: str) -> dict[str, int] | None:
    """{instrument id: version} of the questionnaires the link's assessment asks, or None when the
    link does not open this invitation. An assessment's questionnaires never change once it is
    made, so a process looks them up once per link (memo "versions", keyed by the link's token
    hash too: a reused invitation id never meets an old value)."""
    kept = memo("versions")
    versions = kept.get((invitation_id, token_hash))
    if versions is None:
        instruments = db.session.scalar(
            sa.select(_assessment.c.instruments)
            .join(_invitation, _invitation.c.assessment_id == _assessment.c.id)
            .where(_invitation.c.id == invitation_id, link_is_live(token_hash))
        )
        if instruments is None:
            return None
        versions = kept.put((invitation_id, token_hash), {str(key): int(version) for key, version in instruments})
    return versions


def _from_open_link(*columns) -> sa.Select:
    """SELECT columns FROM the invitation's row while the session's link is live and takes
    answers, locking the row as every save does (FOR NO KEY UPDATE on PostgreSQL, so a sending
    in another tab waits or is waited for; SQLite writes one at a time anyway)."""
    row = _invitation.c
    now = sa.bindparam("now", type_=row.expires_at.type)
    return (
        sa.select(*columns)
        .where(row.id == sa.bindparam("invitation_id"), link_is_live(sa.bindparam("token_hash")), _open_condition(now))
        .with_for_update(key_share=True, of=_invitation)
    )


def _build_conditional_upsert(insert):
    """Autosave's one statement: INSERT … SELECT the answer from the link's row (none when the link
    no longer takes answers), ON CONFLICT … DO UPDATE, RETURNING the row's started and last
    activity times (the rare follow-ups need them)."""
    answer = Answer.__table__.c
    select = _from_open_link(
        _invitation.c.id,
        sa.bindparam("instrument_id", type_=answer.instrument_id.type),
        sa.bindparam("item_id", type_=answer.item_id.type),
        sa.bindparam("value", type_=answer.value.type),
        sa.bindparam("text", type_=answer.text.type),
        sa.bindparam("now", type_=answer.updated_at.type),
    )
    return _on_conflict(insert(Answer.__table__).from_select(_ANSWER_COLUMNS, select)).returning(*_link_state())


def _link_state() -> list:
    """The invitation's started and last activity times and its couple's last activity, as scalar
    subqueries on the invitation id (by id rather than correlated: SQLite's RETURNING drops the
    table names of correlated columns)."""
    invitation_id = sa.bindparam("invitation_id")
    of_link = _invitation.c.id == invitation_id
    assessment_id = sa.select(_invitation.c.assessment_id).where(of_link).scalar_subquery()
    couple_id = sa.select(_assessment.c.couple_id).where(_assessment.c.id == assessment_id).scalar_subquery()
    return [
        sa.select(_invitation.c.started_at).where(of_link).scalar_subquery().label("started_at"),
        sa.select(_invitation.c.last_activity_at).where(of_link).scalar_subquery().label("last_activity_at"),
        sa.select(_couple.c.last_activity_at)
        .where(_couple.c.id == couple_id)
        .scalar_subquery()
        .label("couple_activity"),
    ]


def _build_link_state(_insert):
    """The same lock and state, for a save that only clears answers (nothing to insert)."""
    return _from_open_link(*_link_state())


_LINK_STATE_TYPES = dict.fromkeys(("started_at", "last_activity_at", "couple_activity"), Invitation.started_at.type)
# name: (build(dialect's insert) -> statement, types of its result columns)
_BUILDERS = {
    "upsert": (_build_upsert, {}),
    "conditional upsert": (_build_conditional_upsert, _LINK_STATE_TYPES),
    "link state": (_build_link_state, _LINK_STATE_TYPES),
}


def _touch_link(invitation_id: int, state, now: datetime) -> None:
    """Follow up a save whose link state (started_at, last_activity_at, couple_activity) is out of
    date: move the invitation's and the couple's last activity to now (each only when it is more
    than ACTIVITY_STEP old); the first save also starts the questionnaires, and the dashboard
    then says "in progress"."""
    started_at, last_activity_at, couple_activity = state
    if started_at is not None and not _activity_is_stale(last_activity_at, now):
        if not _activity_is_stale(couple_activity, now):
            return
    else:
        db.session.execute(
            sa.update(_invitation)
            .where(_invitation.c.id == invitation_id)
            .values(last_activity_at=now, started_at=sa.func.coalesce(_invitation.c.started_at, now))
        )
    couple_id = db.session.scalar(
        sa.select(_assessment.c.couple_id)
        .join(_invitation, _invitation.c.assessment_id == _assessment.c.id)
        .where(_invitation.c.id == invitation_id)
    )
    if started_at is None:
        refresh_status(db.session.get(Couple, couple_id))
    elif _activity_is_stale(couple_activity, now):
        _touch_couple(couple_id, now)


def autosave(invitation_id: int, token_hash: str, answers: Sequence[tuple[str, str, AnswerValue]]) -> None:
    """Save answers as they are chosen, for the partner session that holds (invitation id, token
    hash): the hot path of a partner's form. One answer or a batch (what a page held while the
    network was away), all or nothing. Within a batch the last answer to an item wins.

    Every answer is checked first (against the versions the link's assessment asks, see
    _versions_of); then one statement per answer writes it only while the link is live and
    takes answers, locking the invitation's row like every save. So one answer is one
    statement. The invitation's and the couple's last activity follow the saves to within
    ACTIVITY_STEP: one more UPDATE every few minutes, and on the first save, which starts
    the questionnaires.

    Raises LinkNotOpen when the link is not live or no longer takes answers, and AnswerError
    for any answer the questionnaire cannot take; either way the caller rolls back and
    nothing of the batch is kept.
    """
    versions = _versions_of(invitation_id, token_hash)
    if versions is None:
        raise LinkNotOpen
    by_instrument: dict[str, dict[str, AnswerValue]] = {}
    for instrument_id, item_id, value in answers:
        if instrument_id not in versions:
            raise UnknownInstrument(f"{instrument_id!r} is not one of these questionnaires")
        by_instrument.setdefault(instrument_id, {})[item_id] = value
    # Every answer is checked before any is written: a bad one in a batch saves none.
    checked = []
    for instrument_id, given in sorted(by_instrument.items()):
        instrument = catalog.instrument(instrument_id, versions[instrument_id])
        checked.extend(
            (instrument_id, item_id, value) for item_id, value in sorted(_normalise(instrument, given).items())
        )

    now = utcnow()
    link = {"invitation_id": invitation_id, "token_hash": token_hash, "now": now}
    state = None
    for instrument_id, item_id, value in checked:  # in the lock order every writer shares
        if value is None:
            continue
        answer = {"instrument_id": instrument_id, "item_id": item_id} | _stored(value)
        state = db.session.execute(_statement("conditional upsert"), link | answer).first()
        if state is None:
            raise LinkNotOpen
    cleared = [(instrument_id, item_id) for instrument_id, item_id, value in checked if value is None]
    if cleared:
        if state is None:
            state = db.session.execute(_statement("link state"), link).first()
            if state is None:
                raise LinkNotOpen
        db.session.execute(
            sa.delete(Answer)
            .where(
                Answer.invitation_id == invitation_id,
                sa.tuple_(Answer.instrument_id, Answer.item_id).in_(cleared),
            )
            .execution_options(synchronize_session=False)
        )
    _touch_link(invitation_id, state, now)


def _measure_json(measures: Mapping[str, ScoreResult]) -> dict:
    # The value as the therapist is shown it (half-up, two decimals): the row records what was shown.
    return {
        measure_id: {
            "value": shown(s.value) if s.value is not None else None,
            "valid": s.valid,
            "band": s.band.label if s.band else None,
        }
        for measure_id, s in measures.items()
    }


def result_json(result: Result) -> dict:
    """What a Score row keeps: scores, bands and safety flags; never the answers themselves."""
    return {
        "scores": _measure_json(result.scores),
        "totals": _measure_json(result.totals),
        "flags": [{"item_id": flag.item_id, "level": flag.level} for flag in result.flags],
    }


def submit(invitation: Invitation, *, token_hash: str | None = None, shares_agreement: bool | None = None) -> bool:
    """Lock this partner's answers and record their scores; False if the link no longer takes
    them (already submitted, or revoked, expired or replaced meanwhile), with nothing written.

    Only the request whose conditional UPDATE changes the row scores anything, so a
    double click, a second tab or a retry changes nothing. `shares_agreement`, when given, is
    the partner's choice about shared statements in a couple summary, kept with the send.
    With `token_hash` (a partner session's), the send also needs that link to be live still:
    a send that loses the race with a reissue writes nothing.
    """
    now = utcnow()
    values: dict = {"submitted_at": now, "last_activity_at": now}
    if shares_agreement is not None:
        values["shares_agreement"] = shares_agreement
    conditions = [Invitation.id == invitation.id, _open_condition(now)]
    if token_hash is not None:
        conditions.append(link_is_live(token_hash))
    won = db.session.execute(
        sa.update(Invitation).where(*conditions).values(**values).execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:
        return False
    for name, value in values.items():
        set_committed_value(invitation, name, value)
    answers = answers_for(invitation)
    rows = [
        {
            "invitation_id": invitation.id,
            "instrument_id": instrument.id,
            "instrument_version": instrument.version,
            "result": result_json(score(instrument, answers.get(instrument.id, {}))),
            "created_at": now,
        }
        for instrument in instruments_of(invitation)
    ]
    db.session.execute(sa.insert(Score), rows)
    couple = invitation.assessment.couple
    refresh_status(couple)
    if any(row["result"]["flags"] for row in rows):
        safety.count_unreviewed(couple.id)
    return True


def set_sharing(invitation: Invitation, agreed: bool) -> None:
    """The partner's choice about shared statements in a couple summary (before or after sending)."""
    invitation.shares_agreement = agreed
    db.session.flush()
