"""The fictional demo couples that seed-demo adds, answered through the real services.

Every answer goes through save_answers and submit, so scores, flags and statuses
are exactly what a real couple's would be. Answers come from a per-partner
Profile (where the partner stands on each subscale, plus the few items that tell
the story), so a change to an instrument's items does not need new answer lists.
All names, emails and notes are invented; the emails use reserved example domains.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import (
    Answer,
    Assessment,
    CheckinCadence,
    CheckinSchedule,
    CheckinSending,
    Clinician,
    Couple,
    Invitation,
    Score,
)
from clinic.services import checkins, responses
from clinic.services.couples import PartnerDetails, create_couple
from clinic.services.invitations import INTAKE, refresh_status, start_assessment
from instruments import Instrument
from instruments.scoring import key


@dataclass(frozen=True)
class Profile:
    """How one partner answers the intake set, described by where they stand."""

    connection: dict[str, float]  # subscale id -> mean keyed answer to aim for
    differentiation: dict[str, float]
    raw: dict[str, int] = field(default_factory=dict)  # items answered exactly (they tell the story)
    context: dict[str, int | str] = field(default_factory=dict)  # life_context; unlisted: "Not happening"
    safety: dict[str, int] = field(default_factory=dict)  # unlisted: "Never"
    shift: int = 0  # which items carry the rounding, so partners at one level still differ a little


def level_answers(
    instrument: Instrument, levels: dict[str, float], raw: dict[str, int], shift: int = 0
) -> dict[str, int]:
    """Raw answers to every choice item whose keyed mean per subscale is exactly the level (to 1/n)."""
    answers: dict[str, int] = {}
    for subscale in instrument.subscales:
        items = instrument.items_of(subscale.id)
        scale = instrument.scale_of(items[0])
        fixed = [item for item in items if item.id in raw]
        free = [item for item in items if item.id not in raw]
        remaining = round(levels[subscale.id] * len(items)) - sum(key(i, scale, raw[i.id]) for i in fixed)
        base, extra = divmod(remaining, len(free))
        start = shift % len(free)
        for n, item in enumerate(free[start:] + free[:start]):
            keyed = base + (1 if n < extra else 0)
            if not scale.low <= keyed <= scale.high:
                raise ValueError(f"{instrument.id}.{subscale.id}: level {levels[subscale.id]} cannot be reached")
            answers[item.id] = key(item, scale, keyed)  # keying is its own inverse
        answers.update({item.id: raw[item.id] for item in fixed})
    return answers


def profile_answers(invitation: Invitation, profile: Profile) -> dict[str, dict[str, int | str]]:
    """Answers to every item of the invitation's instruments, from the profile."""
    out: dict[str, dict[str, int | str]] = {}
    for instrument in responses.instruments_of(invitation):
        if instrument.id in ("connection", "differentiation"):
            levels = getattr(profile, instrument.id)
            out[instrument.id] = level_answers(instrument, levels, profile.raw, profile.shift)
        elif instrument.id in ("life_context", "safety"):
            given = profile.context if instrument.id == "life_context" else profile.safety
            # Both scales start at "Not happening" / "Never": what the partner did not mention.
            answers: dict[str, int | str] = {
                item.id: instrument.scale_of(item).low for item in instrument.items if item.type == "choice"
            }
            out[instrument.id] = {**answers, **given}
        else:
            raise ValueError(f"The demo profiles do not cover {instrument.id!r}.")
    return out


def _couple(owner: Clinician, label: str, *partners: tuple[str, str, str | None]) -> Couple:
    return create_couple(
        owner.practice,
        owner,
        label=label,
        partners=[PartnerDetails(display_name=n, email=e, pronouns=p) for n, e, p in partners],
    )


def _send(couple: Couple, owner: Clinician, occasion: str) -> tuple[Assessment, list[Invitation]]:
    """Start an intake-set assessment; its invitations in partner order (A, B)."""
    assessment, _ = start_assessment(
        couple, occasion=occasion, instrument_ids=INTAKE, expiry_days=owner.practice.invite_expiry_days, by=owner
    )
    by_partner = {invitation.partner_id: invitation for invitation in assessment.invitations}
    return assessment, [by_partner[partner.id] for partner in couple.partners]


def _answer(invitation: Invitation, profile: Profile) -> None:
    for instrument_id, answers in profile_answers(invitation, profile).items():
        responses.save_answers(invitation, instrument_id, answers)
    responses.submit(invitation)


def _backdate(
    couple: Couple,
    assessment: Assessment,
    invitations: list[Invitation],
    sent: datetime,
    done: list[datetime | None],
    *,
    expires_at: datetime | None = None,
) -> None:
    """Move an answered assessment into the past, so the dashboard and the trend read like a
    history (None in `done`: that partner never opened the link, which ran out at `expires_at`,
    else after the practice's link lifetime)."""
    # Call only once the partners have submitted: the services take answers on open
    # links only, and a backdated link has long expired.
    assessment.created_at = sent
    lifetime = timedelta(days=couple.practice.invite_expiry_days)
    for invitation, submitted in zip(invitations, done, strict=True):
        invitation.created_at = sent
        invitation.expires_at = expires_at or sent + lifetime
        if submitted is None:
            continue
        # A partner takes about twenty minutes, after opening the link a moment earlier.
        invitation.opened_at = submitted - timedelta(minutes=21)
        invitation.started_at = submitted - timedelta(minutes=20)
        invitation.submitted_at = invitation.last_activity_at = submitted
        db.session.execute(
            sa.update(Answer)
            .where(Answer.invitation_id == invitation.id)
            .values(updated_at=submitted - timedelta(minutes=2))
        )
        db.session.execute(sa.update(Score).where(Score.invitation_id == invitation.id).values(created_at=submitted))
    couple.created_at = min(couple.created_at, sent - timedelta(days=1))
    couple.last_activity_at = max(when for when in done if when is not None)
    db.session.flush()


def checkin_answers(mean: float) -> dict[str, int]:
    """Answers to the four check-in items whose mean is `mean` (a multiple of 0.25 from 1 to 5)."""
    total = round(mean * 4)
    low, extra = divmod(total, 4)
    return {item: low + (1 if n < extra else 0) for n, item in enumerate(("satisfied", "close", "hopeful", "together"))}


def _weekly_checkins(couple: Couple, owner: Clinician, now: datetime) -> None:
    """L & R's weekly check-in schedule and the sessions already held (LR_CHECKINS), each one's
    check-in sent the schedule's lead time before and answered as the cron command would have it."""
    first = _ago(now, LR_FIRST_SESSION_DAYS_AGO).replace(minute=0, second=0, microsecond=0)
    schedule = CheckinSchedule(couple_id=couple.id, cadence=CheckinCadence.WEEKLY, first_session_at=first)
    db.session.add(schedule)
    db.session.flush()
    zone = checkins.practice_zone(owner.practice.timezone)
    session_at = first
    for luis, rafael in LR_CHECKINS:
        local = session_at.astimezone(zone)
        assessment, _ = start_assessment(
            couple,
            occasion=f"Check-in before {local.day} {local:%b} session",
            instrument_ids=[checkins.INSTRUMENT],
            expiry_days=1,
            by=owner,
        )
        db.session.add(CheckinSending(schedule_id=schedule.id, session_at=session_at, assessment_id=assessment.id))
        by_partner = {invitation.partner_id: invitation for invitation in assessment.invitations}
        invitations = [by_partner[partner.id] for partner in couple.partners]
        sent = checkins.send_at(schedule, session_at)
        done = []
        for invitation, mean, hours in zip(invitations, (luis, rafael), (3, 9), strict=True):
            if mean is not None:
                responses.save_answers(invitation, checkins.INSTRUMENT, checkin_answers(mean))
                responses.submit(invitation)
                done.append(sent + timedelta(hours=hours))
            else:
                done.append(None)
        _backdate(couple, assessment, invitations, sent, done, expires_at=session_at)
        session_at = checkins.next_session(schedule, zone, session_at)
    # The latest assessment decides the dashboard's status: a check-in both partners sent.
    refresh_status(couple, touch=False)


def _ago(now: datetime, days: int, hours: int = 0) -> datetime:
    return now - timedelta(days=days, hours=hours)


# 1. Pursue-withdraw. Mariana presses for closeness and feels lonely and unheard;
# Daniel goes quiet and feels judged. Both agree they still care a lot.
MARIANA = Profile(
    connection={
        "heard": 2.0,
        "affection": 2.6,
        "sharing": 3.4,
        "withdrawal": 2.8,
        "kindness": 3.0,
        "rituals": 2.4,
        "pursuing": 4.5,
        "withdrawing": 1.75,
    },
    differentiation={"reactivity": 3.0, "i_position": 3.5, "cutoff": 4.5, "fusion": 2.5},
    raw={"withdrawal_2": 5, "withdrawal_4": 5, "pursuing_3": 5},
    context={"work": 2, "mental_health": 2, "family_change": 2},
)
DANIEL = Profile(
    connection={
        "heard": 2.8,
        "affection": 2.8,
        "sharing": 2.2,
        "withdrawal": 2.6,
        "kindness": 2.6,
        "rituals": 2.4,
        "pursuing": 1.5,
        "withdrawing": 4.5,
    },
    differentiation={"reactivity": 4.0, "i_position": 3.0, "cutoff": 2.5, "fusion": 4.5},
    raw={"withdrawal_4": 4, "withdrawing_3": 5},
    context={"work": 3, "past": 2, "anything_else": "Work has been intense since my team was reorganised."},
    shift=2,
)

# 2. Roommates. Little affection or shared time, little conflict, a new baby and long
# work hours; they answer almost alike, so most items are shared concerns.
SAM = Profile(
    connection={
        "heard": 2.0,
        "affection": 1.8,
        "sharing": 2.0,
        "withdrawal": 3.8,
        "kindness": 4.0,
        "rituals": 1.6,
        "pursuing": 1.75,
        "withdrawing": 2.0,
    },
    differentiation={"reactivity": 4.0, "i_position": 3.5, "cutoff": 3.5, "fusion": 4.0},
    raw={"withdrawal_4": 4},
    context={"work": 3, "new_child": 3, "money": 2, "mental_health": 2},
)
KEIKO = Profile(
    connection={
        "heard": 2.0,
        "affection": 1.8,
        "sharing": 2.0,
        "withdrawal": 4.0,
        "kindness": 4.0,
        "rituals": 1.6,
        "pursuing": 1.75,
        "withdrawing": 2.0,
    },
    differentiation={"reactivity": 3.5, "i_position": 4.0, "cutoff": 4.0, "fusion": 3.5},
    raw={"withdrawal_4": 3},
    context={
        "work": 3,
        "new_child": 3,
        "family_change": 2,
        "anything_else": "Since the baby came, most of what we say to each other is about sleep and schedules.",
    },
    shift=1,
)

# 3. Mostly connected, with one split: Rafael feels less wanted than Luis does. By
# week 8 Rafael's affection score has risen by 1.8 and the gap has narrowed from 2.2 to
# 0.2 (shown raw: the check-in has no psychometrics, so reliability is not judged).
LUIS = Profile(
    connection={
        "heard": 4.4,
        "affection": 4.6,
        "sharing": 4.2,
        "withdrawal": 1.6,
        "kindness": 4.6,
        "rituals": 4.2,
        "pursuing": 2.0,
        "withdrawing": 1.75,
    },
    differentiation={"reactivity": 4.5, "i_position": 5.0, "cutoff": 4.5, "fusion": 4.5},
    context={"work": 2, "move": 2},
)
RAFAEL = Profile(
    connection={
        "heard": 4.2,
        "affection": 2.4,
        "sharing": 4.0,
        "withdrawal": 1.8,
        "kindness": 4.4,
        "rituals": 4.0,
        "pursuing": 1.75,
        "withdrawing": 2.0,
    },
    differentiation={"reactivity": 4.5, "i_position": 4.0, "cutoff": 5.0, "fusion": 4.0},
    # Still at ease asking for a hug: the one affection item on the healthy side.
    raw={"affection_4": 4},
    context={"work": 2, "move": 2, "illness": 2},
    shift=3,
)
LUIS_WEEK_8 = replace(LUIS, connection={**LUIS.connection, "affection": 4.4, "rituals": 4.4}, shift=1)
RAFAEL_WEEK_8 = replace(
    RAFAEL, connection={**RAFAEL.connection, "affection": 4.2, "heard": 4.4}, raw={}, context={"work": 2}, shift=4
)

# L & R also check in before every weekly session (a schedule set after the intake): Rafael's
# check-in climbs as his affection score did, Luis's holds steady, and one week Rafael did not
# answer. (Luis, Rafael) check-in means, oldest session first; None: not answered.
LR_CHECKINS = ((4.25, 2.75), (4.0, 3.0), (4.25, 3.0), (4.5, None), (4.25, 3.5), (4.5, 3.75), (4.25, 3.75), (4.5, 4.0))
LR_FIRST_SESSION_DAYS_AGO = 53  # sessions then every week; the next one is three days ahead


# 4. Safety flag. Tomás has felt afraid of his partner once or twice (a review-level
# flag for the therapist only); Nadia's answers look like an ordinary intake.
NADIA = Profile(
    connection={
        "heard": 3.4,
        "affection": 3.2,
        "sharing": 3.4,
        "withdrawal": 2.4,
        "kindness": 3.6,
        "rituals": 3.0,
        "pursuing": 2.75,
        "withdrawing": 2.25,
    },
    differentiation={"reactivity": 3.5, "i_position": 4.0, "cutoff": 4.0, "fusion": 3.5},
    context={"work": 2, "money": 2},
)
TOMAS = Profile(
    connection={
        "heard": 2.6,
        "affection": 3.0,
        "sharing": 2.4,
        "withdrawal": 2.6,
        "kindness": 2.8,
        "rituals": 3.0,
        "pursuing": 2.0,
        "withdrawing": 3.25,
    },
    differentiation={"reactivity": 3.5, "i_position": 2.5, "cutoff": 3.5, "fusion": 3.0},
    raw={"kindness_3": 4},
    context={"work": 2, "money": 3, "mental_health": 2},
    safety={"afraid": 2},
    shift=2,
)

# The in-progress couple: Hana has submitted; Wren has saved part of the first questionnaire.
HANA = Profile(
    connection={
        "heard": 3.2,
        "affection": 3.4,
        "sharing": 2.8,
        "withdrawal": 2.2,
        "kindness": 3.8,
        "rituals": 2.8,
        "pursuing": 3.0,
        "withdrawing": 2.0,
    },
    differentiation={"reactivity": 3.5, "i_position": 3.5, "cutoff": 4.0, "fusion": 3.0},
    context={"caregiving": 3, "work": 2, "grief": 2},
)
WREN = replace(HANA, connection={**HANA.connection, "pursuing": 2.0, "withdrawing": 3.0}, shift=2)
WREN_SAVED = 15  # connection items saved so far, in the order the form shows them


def add_demo_couples(owner: Clinician, *, now: datetime | None = None) -> list[Couple]:
    """Add the fictional demo couples to the owner's practice (nothing if it already has couples)."""
    existing = db.session.scalar(sa.select(Couple.id).where(Couple.practice_id == owner.practice_id).limit(1))
    if existing is not None:
        return []
    now = now or utcnow()
    made = []

    couple = _couple(
        owner,
        "M & D",
        ("Mariana Costa", "mariana.costa@example.org", "she/her"),
        ("Daniel Mensah", "daniel.mensah@example.org", "he/him"),
    )
    assessment, invitations = _send(couple, owner, "Intake")
    _answer(invitations[0], MARIANA)
    _answer(invitations[1], DANIEL)
    _backdate(couple, assessment, invitations, _ago(now, 12), [_ago(now, 11, 3), _ago(now, 9, 5)])
    made.append(couple)

    couple = _couple(
        owner,
        "S & K",
        ("Sam Whitfield", "sam.whitfield@example.com", "they/them"),
        ("Keiko Tanaka", "keiko.tanaka@example.com", "she/her"),
    )
    assessment, invitations = _send(couple, owner, "Intake")
    _answer(invitations[0], SAM)
    _answer(invitations[1], KEIKO)
    _backdate(couple, assessment, invitations, _ago(now, 20), [_ago(now, 18, 2), _ago(now, 16, 6)])
    made.append(couple)

    couple = _couple(
        owner,
        "L & R",
        ("Luis Ortega", "luis.ortega@example.org", "he/him"),
        ("Rafael Nunes", "rafael.nunes@example.org", "he/him"),
    )
    assessment, invitations = _send(couple, owner, "Intake")
    _answer(invitations[0], LUIS)
    _answer(invitations[1], RAFAEL)
    _backdate(couple, assessment, invitations, _ago(now, 63), [_ago(now, 62, 4), _ago(now, 60, 1)])
    assessment, invitations = _send(couple, owner, "Week 8")
    _answer(invitations[0], LUIS_WEEK_8)
    _answer(invitations[1], RAFAEL_WEEK_8)
    _backdate(couple, assessment, invitations, _ago(now, 8), [_ago(now, 7, 2), _ago(now, 6, 4)])
    _weekly_checkins(couple, owner, now)
    made.append(couple)

    couple = _couple(
        owner,
        "N & T",
        ("Nadia Haddad", "nadia.haddad@example.com", "she/her"),
        ("Tomás Rivera", "tomas.rivera@example.com", None),
    )
    assessment, invitations = _send(couple, owner, "Intake")
    _answer(invitations[0], NADIA)
    _answer(invitations[1], TOMAS)
    _backdate(couple, assessment, invitations, _ago(now, 5), [_ago(now, 4, 3), _ago(now, 2, 1)])
    made.append(couple)

    # The remaining dashboard states. Their links stay open from today (times left as the
    # services set them), so they read as waiting and in progress for the links' lifetime.
    couple = _couple(
        owner,
        "E & O",
        ("Elif Yilmaz", "elif.yilmaz@example.org", None),
        ("Oskar Lind", "oskar.lind@example.org", "he/him"),
    )
    _send(couple, owner, "Intake")
    made.append(couple)

    couple = _couple(
        owner,
        "H & W",
        ("Hana Kim", "hana.kim@example.com", "she/her"),
        ("Wren Adeyemi", "wren.adeyemi@example.com", "they/them"),
    )
    _, invitations = _send(couple, owner, "Intake")
    _answer(invitations[0], HANA)
    connection = profile_answers(invitations[1], WREN)["connection"]
    step = next(s for s in responses.progress(invitations[1], {}) if s.instrument.id == "connection")
    saved = {item_id: connection[item_id] for item_id in step.unanswered[:WREN_SAVED]}
    responses.save_answers(invitations[1], "connection", saved)
    made.append(couple)

    made.append(
        _couple(
            owner,
            "G & B",
            ("Grace Otieno", "grace.otieno@example.org", "she/her"),
            ("Bea Lawson", "bea.lawson@example.org", None),
        )
    )
    db.session.flush()
    return made
