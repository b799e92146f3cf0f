"""Typed SQLAlchemy models. Behaviour lives in clinic.services, not here."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.db_types import UTCDateTime, utcnow
from clinic.extensions import db


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Practice(TimestampMixin, db.Model):
    """A therapy practice: one owner and any number of clinicians."""

    __tablename__ = "practice"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # IANA zone name; times are stored in UTC and shown in this zone.
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")

    clinicians: Mapped[list[Clinician]] = relationship(
        back_populates="practice", lazy="raise", order_by="Clinician.name"
    )

    def __repr__(self) -> str:
        return f"<Practice {self.id}>"


class Role(enum.StrEnum):
    OWNER = "owner"
    CLINICIAN = "clinician"


class Clinician(UserMixin, TimestampMixin, db.Model):
    """A therapist who signs in. The owner also manages the practice's clinicians."""

    __tablename__ = "clinician"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practice.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(
        sa.Enum(
            Role,
            name="clinician_role",
            native_enum=False,
            create_constraint=True,
            values_callable=lambda roles: [r.value for r in roles],
            length=16,
        ),
        default=Role.CLINICIAN,
    )
    name: Mapped[str] = mapped_column(sa.String(120))
    # Stored lower-cased (see services.accounts.normalise_email) so uniqueness is case-blind.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    credential: Mapped[str | None] = mapped_column(sa.String(40))
    # None until an invited clinician sets their password.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the session cookie's user id: bumping it ends every open session.
    session_version: Mapped[int] = mapped_column(default=1)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    practice: Mapped[Practice] = relationship(back_populates="clinicians", lazy="joined", innerjoin=True)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive clinicians cannot sign in
        return self.active and self.password_hash is not None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<Clinician {self.id} {self.role.value}>"


class TokenPurpose(enum.StrEnum):
    INVITE = "invite"


class AccountToken(db.Model):
    """A one-time link for a clinician account (invitation; later password reset).

    Only the SHA-256 of the token is stored: a leaked database does not open accounts.
    """

    __tablename__ = "account_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(sa.ForeignKey("clinician.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(
        sa.Enum(
            TokenPurpose,
            name="account_token_purpose",
            native_enum=False,
            create_constraint=True,
            values_callable=lambda purposes: [p.value for p in purposes],
            length=16,
        )
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    clinician: Mapped[Clinician] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<AccountToken {self.id} {self.purpose.value}>"
