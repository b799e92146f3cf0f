"""A partner's session: scoped to exactly one invitation, never to a person or couple.

Opening a link clears whatever the browser's session held (a therapist signed in
on the same tablet is signed out) and keeps only the invitation id and the hash
of the token that opened it. The session lasts as long as that link: a reminder's
further link leaves it alone; reissuing or revoking the link ends it.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, make_response, render_template, session
from sqlalchemy.orm import contains_eager

from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Assessment, Clinician, Couple, Invitation, Practice
from clinic.services import invitations
from clinic.tokens import hash_token

SESSION_KEY = "partner"


def start(invitation: Invitation, raw_token: str) -> None:
    """Make this browser's session the partner session of the invitation a link opened."""
    session.clear()
    session[SESSION_KEY] = {"invitation": invitation.id, "token": hash_token(raw_token)}
    session.permanent = False


def link_not_valid():
    """The one page for an unknown, expired, revoked or replaced link: it reveals nothing."""
    return make_response(render_template("client/link_not_valid.html"), 404)


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
                Practice.name, Practice.timezone, Practice.crisis_text, raiseload=True
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
    if invitation is None:  # no such invitation, or the link that opened this session has ended
        session.pop(SESSION_KEY, None)
        abort(link_not_valid())
    if invitation.submitted_at is not None:
        if allow_submitted:
            return invitation
        abort(link_not_valid())
    if not invitation.usable(utcnow()):
        session.pop(SESSION_KEY, None)
        abort(link_not_valid())
    return invitation


def open_token(raw: str) -> Invitation | None:
    """The invitation a link opens if it may still be opened (or was submitted), else None."""
    invitation = invitations.find_by_token(raw)
    if invitation is None:
        return None
    if invitation.submitted_at is None and not invitation.usable(utcnow()):
        return None
    return invitation
