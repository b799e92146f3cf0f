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

T = TypeVar("T")


def scoped_select(model: type[T]) -> sa.Select:
    """select(model) limited to the current practice, and for non-owners to their own records."""
    if not current_user.is_authenticated:
        abort(404)
    stmt = sa.select(model).where(model.practice_id == current_user.practice_id)
    owner_column = getattr(model, "clinician_id", None)
    if owner_column is not None and not current_user.is_owner:
        stmt = stmt.where(owner_column == current_user.id)
    return stmt


def get_or_404(model: type[T], ident: int) -> T:
    """The record with this id if the current clinician may see it; otherwise 404."""
    obj = db.session.scalar(scoped_select(model).where(model.id == ident))
    if obj is None:
        abort(404)
    return obj
