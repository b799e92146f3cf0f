"""Check-ins on a schedule: a short check-in goes to both partners a set time before each session.

A couple has at most one schedule: weekly, fortnightly, or a list of dates. Session times are
entered in the practice's time zone and stored in UTC; weekly and fortnightly sessions keep the
first session's wall-clock time in that zone, across daylight-saving changes (each one is
computed in the zone, then converted). `send_due` starts the check-in assessment for every
session whose moment has come and emails each partner their link, which closes when the
session starts. A CheckinSending row, unique per session and inserted before anything else in
the same transaction, makes each session's check-in go out once, even from concurrent runs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from clinic import audit
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import (
    CheckinCadence,
    CheckinSchedule,
    CheckinSending,
    Clinician,
    Couple,
    Invitation,
    Partner,
    Practice,
    Score,
)
from clinic.services import invitations

INSTRUMENT = "checkin"
MIN_LEAD_HOURS, MAX_LEAD_HOURS = 1, 168
MAX_DATES = 52
STEP_DAYS = {CheckinCadence.WEEKLY: 7, CheckinCadence.FORTNIGHTLY: 14}

log = logging.getLogger(__name__)


class CheckinError(ValueError):
    """A schedule that cannot be saved or changed as asked; the message is safe to show."""


def practice_zone(name: str | None) -> ZoneInfo:
    """The practice's zone (UTC if its name is unknown, as the pages do)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _in_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time in the zone, as UTC."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _exists(day: date, at: time, zone: ZoneInfo) -> bool:
    """False for a time the clocks skip (the hour lost when summer time starts)."""
    local = datetime.combine(day, at, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)


def _shown(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M}"


_LINE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2}))?$")


def parse_dates(text: str, default_time: time | None) -> list[tuple[date, time]]:
    """Session dates typed one per line as 2026-12-12 or 2026-12-12 18:00 (the time of day if none is given)."""
    sessions = []
    lines = [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        match = _LINE.match(line)
        try:
            if not match:
                raise ValueError
            year, month, day, hour, minute = match.groups()
            when = date(int(year), int(month), int(day))
            at = time(int(hour), int(minute)) if hour is not None else default_time
        except ValueError:
            raise CheckinError(
                f"Line {number} is not a date we can read: write it as 2026-12-12, or 2026-12-12 18:00."
            ) from None
        if at is None:
            raise CheckinError(f"Line {number} has no time: add one (2026-12-12 18:00) or fill in the time of day.")
        sessions.append((when, at))
    return sessions


def set_schedule(
    couple: Couple,
    *,
    cadence: str,
    lead_hours: int | None,
    session_time: time | None,
    first_date: date | None = None,
    dates_text: str = "",
    now: datetime | None = None,
) -> CheckinSchedule:
    """Set (or replace) the couple's schedule, active from now; nothing is written if anything is wrong."""
    now = now or utcnow()
    if couple.archived:
        raise CheckinError("This couple is archived. Bring them back before scheduling check-ins.")
    try:
        cadence = CheckinCadence(cadence)
    except ValueError:
        raise CheckinError("Choose how often the couple meets: weekly, every two weeks, or on set dates.") from None
    if lead_hours is None or not MIN_LEAD_HOURS <= lead_hours <= MAX_LEAD_HOURS:
        raise CheckinError(
            f"The check-in can go out from {MIN_LEAD_HOURS} to {MAX_LEAD_HOURS} hours (one week) before the session."
        )
    zone = practice_zone(db.session.scalar(sa.select(Practice.timezone).where(Practice.id == couple.practice_id)))
    if cadence == CheckinCadence.DATES:
        sessions = parse_dates(dates_text, session_time)
        if not sessions:
            raise CheckinError("Enter at least one session date, one per line, such as 2026-12-12 18:00.")
        if len(sessions) > MAX_DATES:
            raise CheckinError(f"Enter at most {MAX_DATES} dates at a time.")
    else:
        if first_date is None:
            raise CheckinError("Enter the date of the next session.")
        if session_time is None:
            raise CheckinError("Enter the time the session starts, such as 18:00.")
        sessions = [(first_date, session_time)]
    moments = []
    for day, at in sessions:
        if not _exists(day, at, zone):
            raise CheckinError(f"{day:%Y-%m-%d} {at:%H:%M} does not exist in {zone.key}: the clocks skip that hour.")
        moment = _in_utc(day, at, zone)
        if moment <= now:
            raise CheckinError(f"{_shown(moment, zone)} is in the past: enter only sessions still to come.")
        moments.append(moment)
    moments = sorted(set(moments))

    schedule = schedule_for(couple)
    if schedule is None:
        schedule = CheckinSchedule(couple_id=couple.id)
        db.session.add(schedule)
    schedule.cadence = cadence
    schedule.lead_hours = lead_hours
    schedule.first_session_at = None if cadence == CheckinCadence.DATES else moments[0]
    schedule.session_dates = [m.isoformat() for m in moments] if cadence == CheckinCadence.DATES else []
    schedule.paused = False
    schedule.ended_at = None
    db.session.flush()
    _audit(couple, schedule, "checkins.scheduled")
    return schedule


def schedule_for(couple: Couple) -> CheckinSchedule | None:
    """The couple's schedule (ended ones included), if any."""
    return db.session.scalar(sa.select(CheckinSchedule).where(CheckinSchedule.couple_id == couple.id))


def _audit(couple: Couple, schedule: CheckinSchedule, action: str) -> None:
    audit.record(action, couple_id=couple.id, practice_id=couple.practice_id, target=f"checkin_schedule:{schedule.id}")


def _running(couple: Couple) -> CheckinSchedule:
    schedule = schedule_for(couple)
    if schedule is None or schedule.ended_at is not None:
        raise CheckinError("There is no check-in schedule to change. Set one first.")
    return schedule


def pause(couple: Couple) -> CheckinSchedule:
    """Stop sending check-ins until resumed; the schedule itself is kept."""
    schedule = _running(couple)
    if schedule.paused:
        raise CheckinError("Check-ins are already paused.")
    schedule.paused = True
    db.session.flush()
    _audit(couple, schedule, "checkins.paused")
    return schedule


def resume(couple: Couple) -> CheckinSchedule:
    """Send check-ins again, from the next session on."""
    schedule = _running(couple)
    if not schedule.paused:
        raise CheckinError("Check-ins are not paused.")
    schedule.paused = False
    db.session.flush()
    _audit(couple, schedule, "checkins.resumed")
    return schedule


def end(couple: Couple, *, now: datetime | None = None) -> CheckinSchedule:
    """End the schedule: no further check-ins. Check-ins already sent and answered stay."""
    schedule = _running(couple)
    schedule.ended_at = now or utcnow()
    db.session.flush()
    _audit(couple, schedule, "checkins.ended")
    return schedule


def next_session(schedule: CheckinSchedule, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The first session that has not started by `now` (UTC), or None when none is left."""
    if schedule.cadence == CheckinCadence.DATES:
        upcoming = [m for m in (datetime.fromisoformat(s) for s in schedule.session_dates) if m > now]
        return min(upcoming, default=None)
    first = schedule.first_session_at.astimezone(zone)
    step = STEP_DAYS[schedule.cadence]
    # Whole steps from the first session's local date, then the same wall-clock time in the zone.
    elapsed = max(0, (now.astimezone(zone).date() - first.date()).days // step)
    for k in range(elapsed, elapsed + 3):
        moment = _in_utc(first.date() + timedelta(days=step * k), first.time(), zone)
        if moment > now:
            return moment
    return None  # not reached: three steps always pass `now`


def send_at(schedule: CheckinSchedule, session_at: datetime) -> datetime:
    """When the check-in for this session goes out."""
    return session_at - timedelta(hours=schedule.lead_hours)


@dataclass(frozen=True)
class CheckinRun:
    """What one send-checkins run did, in counts only."""

    sessions: int = 0
    partners: int = 0  # partners emailed their link
    skipped: int = 0  # already sent by another run, or changed while this one went
    failed: int = 0  # emails the mail server refused or could not take


def _active() -> sa.Select:
    return (
        sa.select(CheckinSchedule, Couple, Practice.timezone)
        .join(Couple, Couple.id == CheckinSchedule.couple_id)
        .join(Practice, Practice.id == Couple.practice_id)
        .where(
            CheckinSchedule.paused.is_(False),
            CheckinSchedule.ended_at.is_(None),
            Couple.archived.is_(False),
        )
    )


def send_due(now: datetime | None = None) -> CheckinRun:
    """Send every check-in that is due: one per partner per session, each session in its own transaction.

    Commits. Logs counts and error kinds only, never a name, address or link.
    """
    now = now or utcnow()
    due = []
    for schedule, _couple, zone_name in db.session.execute(_active().order_by(CheckinSchedule.id)).all():
        session_at = next_session(schedule, practice_zone(zone_name), now)
        if session_at is not None and send_at(schedule, session_at) <= now:
            due.append((schedule.id, session_at))
    db.session.commit()  # end the read: each session below is its own transaction
    if due:
        invitations.link_for("check")  # LinkError now, before anything is written, if links cannot be built
    sessions = partners = skipped = failed = 0
    for schedule_id, session_at in due:
        made = _start_checkin(schedule_id, session_at, now)
        if made is None:
            skipped += 1
            continue
        sessions += 1
        assessment, tokens, _loaded = made  # _loaded keeps the couple and partners in the identity map
        for invitation in assessment.invitations:
            if not invitation.partner.email:
                continue
            try:
                invitations.send_link(invitation, tokens[invitation.partner_id])
            except invitations.MAIL_ERRORS as exc:
                db.session.rollback()
                failed += 1
                # The class only: an SMTP error's text can name the recipient.
                log.warning("a check-in email could not be sent (%s)", type(exc).__name__)
            else:
                db.session.commit()
                partners += 1
    return CheckinRun(sessions=sessions, partners=partners, skipped=skipped, failed=failed)


def _start_checkin(schedule_id: int, session_at: datetime, now: datetime):
    """Record the session's sending, then start its check-in, in one committed transaction.

    None (with nothing written) if another run recorded it first, or the schedule changed
    meanwhile (paused, ended, replaced, the couple archived).
    """
    # The row first: a concurrent run inserting the same session waits on the unique index, then fails.
    sending = CheckinSending(schedule_id=schedule_id, session_at=session_at, created_at=now)
    db.session.add(sending)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    row = db.session.execute(_active().where(CheckinSchedule.id == schedule_id)).first()
    if row is None:
        db.session.rollback()
        return None
    schedule, couple, zone_name = row
    db.session.refresh(schedule)
    zone = practice_zone(zone_name)
    if next_session(schedule, zone, now) != session_at:  # replaced since it was read
        db.session.rollback()
        return None
    clinician = db.session.get(Clinician, couple.clinician_id)
    local = session_at.astimezone(zone)
    try:
        assessment, tokens = invitations.start_assessment(
            couple,
            occasion=f"Check-in before {local.day} {local:%b} session",
            instrument_ids=[INSTRUMENT],
            expires_at=session_at,
            by=clinician,
        )
    except invitations.InvitationError:
        db.session.rollback()
        return None
    sending.assessment_id = assessment.id
    db.session.flush()
    db.session.commit()
    # The emails read invitation.partner and the assessment's couple, which never lazy-load: held
    # here, they stay in the session's (weak) identity map.
    partners = db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id)).all()
    return assessment, tokens, [couple, *partners]


@dataclass(frozen=True)
class TrendRow:
    """One session's check-in scores, by partner position (1 and 2); None where there is no valid score."""

    session_at: datetime
    totals: dict[int, float | None]


@dataclass(frozen=True)
class CoupleCheckins:
    """What the couple page shows about check-ins: the schedule, its next session and the trend (UTC times)."""

    schedule: CheckinSchedule | None
    session_at: datetime | None = None
    send_at: datetime | None = None
    sent: bool = False
    trend: tuple[TrendRow, ...] = ()


def for_couple(couple: Couple, zone_name: str | None, now: datetime) -> CoupleCheckins:
    """The couple's schedule, next session and both partners' check-in scores per session, in one query."""
    rows = db.session.execute(
        sa.select(CheckinSchedule, CheckinSending.session_at, Partner.position, Score.result)
        .select_from(CheckinSchedule)
        .outerjoin(CheckinSending, CheckinSending.schedule_id == CheckinSchedule.id)
        .outerjoin(Invitation, Invitation.assessment_id == CheckinSending.assessment_id)
        .outerjoin(Partner, Partner.id == Invitation.partner_id)
        .outerjoin(Score, sa.and_(Score.invitation_id == Invitation.id, Score.instrument_id == INSTRUMENT))
        .where(CheckinSchedule.couple_id == couple.id)
        .order_by(CheckinSending.session_at, Partner.position)
    ).all()
    if not rows:
        return CoupleCheckins(None)
    schedule = rows[0][0]
    sent: set[datetime] = set()
    by_session: dict[datetime, dict[int, float | None]] = {}
    for _, session_at, position, result in rows:
        if session_at is None:
            continue
        sent.add(session_at)
        if position is not None:  # None: the check-in's assessment was deleted
            by_session.setdefault(session_at, {1: None, 2: None})[position] = checkin_total(result)
    trend = tuple(TrendRow(session_at, totals) for session_at, totals in by_session.items())
    session_at = next_session(schedule, practice_zone(zone_name), now)
    if session_at is None:
        return CoupleCheckins(schedule, trend=trend)
    return CoupleCheckins(schedule, session_at, send_at(schedule, session_at), session_at in sent, trend)


def checkin_total(result: dict | None) -> float | None:
    """The check-in's overall score from a stored score row, if it is valid.

    The check-in has one measure (a total if its definition declares one, else its one subscale).
    """
    if not result:
        return None
    for group in ("totals", "scores"):
        for score in (result.get(group) or {}).values():
            return score["value"] if score.get("valid") else None
    return None
