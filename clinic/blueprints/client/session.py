"""A partner's session: scoped to exactly one invitation, never to a person or couple.

Opening a link clears whatever the browser's session held (a therapist signed in
on the same tablet is signed out) and keeps only the invitation id and the hash
of the token that opened it. The session lasts as long as that link: a reminder's
further link leaves it alone; reissuing or revoking the link, or its running out,
ends it, and from then on the session's pages say plainly which of these happened
(nothing more: no name, no answer). "Leave this page" ends the session at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, make_response, render_template, session
from sqlalchemy.orm import contains_eager

from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import DEFAULT_LEAVE_URL, Assessment, Clinician, Couple, Invitation, Practice
from clinic.services import invitations
from clinic.tokens import hash_token

SESSION_KEY = "partner"


def start(invitation: Invitation, raw_token: str) -> None:
    """Make this browser's session the partner session of the invitation a link opened."""
    session.clear()
    session[SESSION_KEY] = {"invitation": invitation.id, "token": hash_token(raw_token)}
    session.permanent = False


def end() -> None:
    """Forget this browser's partner session ("Leave this page")."""
    session.pop(SESSION_KEY, None)


def link_not_valid():
    """The one page for a link nobody in this browser opened: unknown, expired, revoked or
    replaced, it looks the same and reveals nothing."""
    return make_response(render_template("client/link_not_valid.html"), 404)


# Why a link this browser's session opened no longer takes answers, and how the page says so.
CLOSED, EXPIRED, REPLACED = "closed", "expired", "replaced"


@dataclass(frozen=True)
class Ending:
    heading: str
    what: str  # what happened, in one sentence
    next: str  # what the partner can do
    autosave: str  # the autosave script's one line


_KEPT = "Your answers have not been sent to your therapist."
ENDINGS = {
    CLOSED: Ending(
        "This link has been closed",
        "Your therapist's practice closed this link, so it no longer takes answers. " + _KEPT,
        "If you think this is a mistake, please contact your therapist's practice.",
        "This link has been closed by your therapist's practice, so this answer was not saved.",
    ),
    EXPIRED: Ending(
        "This link has run out",
        "Links to questionnaires work for a limited time, and this one's time is up. " + _KEPT,
        "To finish, please ask your therapist's practice for a new link.",
        "This link has run out, so this answer was not saved.",
    ),
    REPLACED: Ending(
        "This link has been replaced",
        "Your therapist's practice sent you a newer link, so this one no longer works. " + _KEPT,
        "Please open the newest link you were sent: the answers you saved are there.",
        "A newer link has replaced this one, so this answer was not saved. Please open the newest link.",
    ),
}


def ending(invitation_id: int, token_hash: str) -> str | None:
    """CLOSED, EXPIRED or REPLACED for the session's link when it has ended, else None (it is
    live, was sent, or no such invitation exists)."""
    row = db.session.execute(
        sa.select(
            Invitation.submitted_at, Invitation.revoked_at, Invitation.expires_at, invitations.link_is_live(token_hash)
        ).where(Invitation.id == invitation_id)
    ).first()
    if row is None or row.submitted_at is not None:
        return None
    if row.revoked_at is not None:
        return CLOSED
    if row.expires_at <= utcnow():
        return EXPIRED
    return None if row[3] else REPLACED


def link_ended(reason: str, status: int = 410):
    """The page for a link that ended while this browser held it: it says how, in plain words."""
    return make_response(render_template("client/link_ended.html", ending=ENDINGS[reason]), status)


def leave_url() -> str:
    """The neutral site of the session's practice ("Leave this page"), or the default."""
    link = held()
    if link is None:
        return DEFAULT_LEAVE_URL
    url = db.session.scalar(
        sa.select(Practice.leave_url)
        .join(Couple, Couple.practice_id == Practice.id)
        .join(Assessment, Assessment.couple_id == Couple.id)
        .join(Invitation, Invitation.assessment_id == Assessment.id)
        .where(Invitation.id == link[0])
    )
    return url or DEFAULT_LEAVE_URL


# Built once: the statement every partner page starts with. Only the columns partner pages
# show are read from the practice and the therapist (never a password hash or 2FA secret).
_SESSION_INVITATION = (
    sa.select(Invitation)
    .join(Invitation.assessment)
    .join(Assessment.couple)
    .join(Invitation.partner)
    .join(Couple.practice)
    .join(Couple.clinician)
    .where(Invitation.id == sa.bindparam("invitation_id"), invitations.link_is_live(sa.bindparam("token_hash")))
    .options(
        contains_eager(Invitation.assessment)
        .contains_eager(Assessment.couple)
        .options(
            contains_eager(Couple.practice).load_only(
                Practice.name, Practice.timezone, Practice.crisis_text, Practice.leave_url, raiseload=True
            ),
            contains_eager(Couple.clinician).load_only(Clinician.name, Clinician.credential, raiseload=True),
        ),
        contains_eager(Invitation.partner),
    )
)


def held() -> tuple[int, str] | None:
    """(invitation id, token hash) of this browser's partner session, or None."""
    held = session.get(SESSION_KEY)
    if not isinstance(held, dict) or not isinstance(held.get("invitation"), int):
        return None
    return held["invitation"], str(held.get("token", ""))


def token_hash() -> str | None:
    """The hash of the link that opened this browser's partner session (writes check it is live)."""
    link = held()
    return link[1] if link else None


def current_invitation(*, allow_submitted: bool = True) -> Invitation:
    """The invitation this browser's partner session opens, loaded with its couple and partner.

    Aborts with the "link not valid" page when there is no partner session, or the
    link was reissued, revoked or has expired since it opened the session.
    """
    link = held()
    if link is None:
        abort(link_not_valid())
    invitation_id, token_hash = link
    invitation = db.session.scalar(_SESSION_INVITATION, {"invitation_id": invitation_id, "token_hash": token_hash})
    if invitation is not None and invitation.submitted_at is not None:
        if allow_submitted:
            return invitation
        abort(link_not_valid())
    if invitation is None or not invitation.usable(utcnow()):
        # Replaced, revoked or run out: the session opens nothing more, and each of its pages
        # says which (the session is kept for that alone); no such invitation: the plain page.
        reason = ending(invitation_id, token_hash)
        if reason is None:
            end()
            abort(link_not_valid())
        abort(link_ended(reason))
    return invitation


def open_token(raw: str) -> Invitation | None:
    """The invitation a link opens if it may still be opened (or was submitted), else None."""
    invitation = invitations.find_by_token(raw)
    if invitation is None:
        return None
    if invitation.submitted_at is None and not invitation.usable(utcnow()):
        return None
    return invitation
