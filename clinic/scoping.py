"""The one way views load practice data: scoped to the signed-in clinician.

A record outside the clinician's reach answers 404, exactly like one that does
not exist, so an id never hints at what another practice holds.
"""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from clinic.extensions import db
from clinic.models import Assessment, Couple, Invitation, Partner, Report

T = TypeVar("T")

# How to reach the couple from a record that belongs to one.
_COUPLE_JOINS = {
    Couple: (),
    Partner: (Partner.couple,),
    Assessment: (Assessment.couple,),
    Invitation: (Invitation.assessment, Assessment.couple),
    Report: (Report.couple,),
}


def scoped_select(model: type[T]) -> sa.Select:
    """select(model) limited to the current practice, and for non-owners to their own couples."""
    if not current_user.is_authenticated:
        abort(404)
    stmt = sa.select(model)
    if model in _COUPLE_JOINS:
        for relation in _COUPLE_JOINS[model]:
            stmt = stmt.join(relation)
        stmt = stmt.where(Couple.practice_id == current_user.practice_id)
        if not current_user.is_owner:
            stmt = stmt.where(Couple.clinician_id == current_user.id)
        return stmt
    return stmt.where(model.practice_id == current_user.practice_id)


def couples_in_scope(*, owner: bool) -> sa.Select:
    """select(Couple) limited as scoped_select(Couple) limits it, with the practice and (for a
    clinician who is not the owner) the clinician as bound parameters, so a statement built on
    it can be built once and run for anyone: run it with scope_params(the current user)."""
    stmt = sa.select(Couple).where(Couple.practice_id == sa.bindparam("scope_practice_id"))
    if not owner:
        stmt = stmt.where(Couple.clinician_id == sa.bindparam("scope_clinician_id"))
    return stmt


def practice_rows(model: type[T]) -> sa.Select:
    """select(model) of one practice's rows (a model with a practice_id), the practice a bound
    parameter as in couples_in_scope(): for work done for one practice with nobody signed in
    (commands, report jobs), or for a couple already loaded in scope. Run it with
    {"scope_practice_id": the practice's id}."""
    return sa.select(model).where(model.practice_id == sa.bindparam("scope_practice_id"))


def scope_params(clinician) -> dict[str, int]:
    """The values of couples_in_scope()'s parameters for a signed-in clinician (404 for anyone else)."""
    if not clinician.is_authenticated:
        abort(404)
    return {"scope_practice_id": clinician.practice_id, "scope_clinician_id": clinician.id}


def get_or_404(model: type[T], ident: int, *options) -> T:
    """The record with this id if the current clinician may see it; otherwise 404."""
    obj = db.session.scalar(scoped_select(model).where(model.id == ident).options(*options))
    if obj is None:
        abort(404)
    return obj
