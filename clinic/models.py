"""Typed SQLAlchemy models. Behaviour lives in clinic.services, not here."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.crypto import EncryptedBytes, EncryptedText
from clinic.db_types import UTCDateTime, utcnow
from clinic.extensions import db


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


DEFAULT_CRISIS_TEXT = (
    "If you are in danger right now, call your local emergency number (911 in the US and Canada, "
    "112 in Europe, 999 in the UK). If you are thinking about harming yourself, you can call or text "
    "988 in the US, or contact a local crisis line. You can also tell your therapist at any time."
)

# Where a partner's "Leave this page" goes: an everyday site that says nothing about therapy.
DEFAULT_LEAVE_URL = "https://www.bbc.com/weather"


class Practice(TimestampMixin, db.Model):
    """A therapy practice: one owner and any number of clinicians."""

    __tablename__ = "practice"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # IANA zone name; times are stored in UTC and shown in this zone.
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # How long a partner's questionnaire link works, unless an assessment says otherwise.
    invite_expiry_days: Mapped[int] = mapped_column(default=14, server_default="14")
    # Reminders: the first after this many days without submission, at most this many.
    reminder_after_days: Mapped[int] = mapped_column(default=3, server_default="3")
    reminder_max: Mapped[int] = mapped_column(default=2, server_default="2")
    # Shown to clients on the safety check page; the practice words it for its region.
    crisis_text: Mapped[str] = mapped_column(sa.Text, default=DEFAULT_CRISIS_TEXT, server_default=DEFAULT_CRISIS_TEXT)
    # The neutral site a partner's "Leave this page" button replaces the page with.
    leave_url: Mapped[str] = mapped_column(sa.String(500), default=DEFAULT_LEAVE_URL, server_default=DEFAULT_LEAVE_URL)
    # Paper size of session-prep reports: "A4" or "Letter".
    report_page_size: Mapped[str] = mapped_column(sa.String(8), default="A4", server_default="A4")
    # Every clinician must sign in with a second factor; those without one are sent to set it up.
    require_two_factor: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

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

    # Failed passwords and second-factor codes in the current window, and the lock
    # they lead to (see services.accounts): kept here so every worker sees them.
    failed_signins: Mapped[int] = mapped_column(default=0, server_default="0")
    failed_signins_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Two-factor sign-in (see services.twofactor). The base32 TOTP secret is set
    # when enrolment starts and only counts once totp_enabled_at is set; encrypted
    # at rest, since it mints valid codes (unlike a hash, it must be read back).
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The time step of the last accepted code: a code is good once, never again.
    totp_last_counter: Mapped[int | None]
    # Space-separated SHA-256 digests of the unused recovery codes.
    recovery_code_hashes: Mapped[str] = mapped_column(sa.Text, default="", server_default=sa.text("''"))

    practice: Mapped[Practice] = relationship(back_populates="clinicians", lazy="joined", innerjoin=True)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret is not None

    @property
    def recovery_codes_left(self) -> int:
        return len(self.recovery_code_hashes.split())

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive clinicians cannot sign in
        return self.active and self.password_hash is not None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<Clinician {self.id} {self.role.value}>"


class TokenPurpose(enum.StrEnum):
    INVITE = "invite"
    RESET = "reset"


class AccountToken(db.Model):
    """A one-time link for a clinician account (invitation or password reset).

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


class CoupleStatus(enum.StrEnum):
    """Where a couple's latest assessment stands (see services.status)."""

    NOTHING_SENT = "nothing_sent"
    WAITING = "waiting"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    EXPIRED = "expired"


def _enum(enum_cls, name: str) -> sa.Enum:
    """An enum stored as its string value, with a CHECK constraint on both databases."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        values_callable=lambda members: [m.value for m in members],
        length=16,
    )


class Couple(TimestampMixin, db.Model):
    """A client couple: a label the therapist chooses and exactly two partners.

    Relationships never lazy-load: hot paths say what they load (many-to-ones may
    still come from the identity map without SQL).
    """

    __tablename__ = "couple"
    __table_args__ = (
        # The dashboard: a practice's (or a clinician's) couples, most recent activity first.
        sa.Index("ix_couple_practice_activity", "practice_id", "archived", "last_activity_at", "id"),
        sa.Index("ix_couple_clinician_activity", "clinician_id", "archived", "last_activity_at", "id"),
        # The same, filtered by status (a rare status is found without scanning the practice).
        sa.Index("ix_couple_practice_status_activity", "practice_id", "archived", "status", "last_activity_at", "id"),
        sa.Index("ix_couple_clinician_status_activity", "clinician_id", "archived", "status", "last_activity_at", "id"),
        # Search by label (ILIKE '%…%'): a trigram index on PostgreSQL (pg_trgm, created by the
        # migration); on SQLite a plain index, which that search cannot use.
        sa.Index("ix_couple_label_trgm", "label", postgresql_using="gin", postgresql_ops={"label": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practice.id", ondelete="CASCADE"))
    # The couple's therapist; the owner sees every couple of the practice.
    clinician_id: Mapped[int] = mapped_column(sa.ForeignKey("clinician.id"))
    label: Mapped[str] = mapped_column(sa.String(60))
    archived: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Kept by services.status whenever an assessment or invitation changes, so the
    # dashboard can filter and sort without touching invitations.
    status: Mapped[CoupleStatus] = mapped_column(
        _enum(CoupleStatus, "couple_status"), default=CoupleStatus.NOTHING_SENT
    )
    # When WAITING or IN_PROGRESS turns into EXPIRED by itself (the last open link's expiry).
    status_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Safety flags raised by submitted answers that no clinician has reviewed yet, kept by
    # services.safety at each submission and review, so the dashboard can show and filter them.
    unreviewed_flags: Mapped[int] = mapped_column(default=0, server_default="0")
    # The therapist's own preparation notes for the next session (never shown to clients).
    # Deferred: only the couple view, the report and an export read (and decrypt) them;
    # a partner's page or a status change never loads the therapist's notes.
    prep_notes: Mapped[str] = mapped_column(EncryptedText, default="", server_default=sa.text("''"), deferred=True)

    practice: Mapped[Practice] = relationship(lazy="raise_on_sql")
    clinician: Mapped[Clinician] = relationship(lazy="raise_on_sql")
    partners: Mapped[list[Partner]] = relationship(
        back_populates="couple", order_by="Partner.position", lazy="raise", cascade="all, delete-orphan"
    )
    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="couple", order_by="Assessment.id", lazy="raise", cascade="all, delete-orphan"
    )

    def current_status(self, now: datetime) -> CoupleStatus:
        """The status as of now: open links that have run out make it EXPIRED."""
        if self.status in (CoupleStatus.WAITING, CoupleStatus.IN_PROGRESS) and (
            self.status_until is None or self.status_until <= now
        ):
            return CoupleStatus.EXPIRED
        return self.status

    def __repr__(self) -> str:
        return f"<Couple {self.id}>"


def label_key(label: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """A label as the second search index keeps it: lower case, spaces dropped, "&" as "q".

    pg_trgm splits text into words at anything but letters and digits, so initials written
    "M & D" are two one-letter words whose trigrams most labels share, and the label index
    finds thousands of candidates for them. Keyed, "M & D 04217" is "mqd04217" and "m & d" is
    "mqd": one trigram that only such labels have ("&" becomes a letter seldom found next to
    other letters, so the key adds no common trigram as "and" would). Each character maps on
    its own, so a label that contains the search contains it keyed too: searching the key as
    well never loses a match. The constants are SQL literals, not parameters, so a prepared
    statement's generic plan still matches the index's expression.
    """
    return sa.func.replace(
        sa.func.replace(sa.func.lower(label), sa.text("' '"), sa.text("''")),
        sa.text("'&'"),
        sa.text("'q'"),
    )


# Search by label, keyed (see label_key); PostgreSQL only, like the trigram index it helps.
sa.Index(
    "ix_couple_label_key_trgm",
    label_key(Couple.__table__.c.label).label("label_key"),
    postgresql_using="gin",
    postgresql_ops={"label_key": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class Partner(db.Model):
    """One partner of a couple (position 1 is "A", 2 is "B")."""

    __tablename__ = "partner"
    __table_args__ = (
        sa.UniqueConstraint("couple_id", "position", name="uq_partner_couple_position"),
        sa.CheckConstraint("position IN (1, 2)", name="position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(sa.ForeignKey("couple.id", ondelete="CASCADE"))
    position: Mapped[int]
    display_name: Mapped[str] = mapped_column(sa.String(80))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    pronouns: Mapped[str | None] = mapped_column(sa.String(40))

    couple: Mapped[Couple] = relationship(back_populates="partners", lazy="raise_on_sql")

    @property
    def letter(self) -> str:
        return "A" if self.position == 1 else "B"

    def __repr__(self) -> str:
        return f"<Partner {self.id} {self.letter}>"


class Assessment(db.Model):
    """One round of questionnaires for a couple ("Intake", "Week 6")."""

    __tablename__ = "assessment"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(sa.ForeignKey("couple.id", ondelete="CASCADE"), index=True)
    occasion: Mapped[str] = mapped_column(sa.String(80))
    # [[instrument id, version], ...] in the order partners fill them: a past
    # assessment keeps the versions it was answered on.
    instruments: Mapped[list] = mapped_column(sa.JSON)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clinician.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    couple: Mapped[Couple] = relationship(back_populates="assessments", lazy="raise_on_sql")
    invitations: Mapped[list[Invitation]] = relationship(
        back_populates="assessment", lazy="raise", cascade="all, delete-orphan", order_by="Invitation.partner_id"
    )

    @property
    def instrument_keys(self) -> list[tuple[str, int]]:
        return [(str(i), int(v)) for i, v in self.instruments]

    def __repr__(self) -> str:
        return f"<Assessment {self.id}>"


class Invitation(db.Model):
    """One partner's private link to one assessment. Only the token's SHA-256 is kept."""

    __tablename__ = "invitation"
    __table_args__ = (
        sa.UniqueConstraint("assessment_id", "partner_id", name="uq_invitation_assessment_partner"),
        # send-reminders scans open invitations only.
        sa.Index("ix_invitation_open", "submitted_at", "revoked_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    # The link the assessment (or the last reissue) made; reminders' links are InvitationLink rows.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminders_sent: Mapped[int] = mapped_column(default=0, server_default="0")
    # The partner agreed that statements both partners see positively may appear in a couple
    # summary (the default is no; the summary shows them only when both partners agreed).
    shares_agreement: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    assessment: Mapped[Assessment] = relationship(back_populates="invitations", lazy="raise_on_sql")
    partner: Mapped[Partner] = relationship(lazy="raise_on_sql")

    def usable(self, now: datetime) -> bool:
        """The link still opens the questionnaires for answering."""
        return self.revoked_at is None and self.submitted_at is None and self.expires_at > now

    def state(self, now: datetime) -> str:
        """submitted, revoked, expired, in_progress, opened or not_opened."""
        if self.submitted_at is not None:
            return "submitted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.started_at is not None:
            return "in_progress"
        if self.opened_at is not None:
            return "opened"
        return "not_opened"

    def __repr__(self) -> str:
        return f"<Invitation {self.id}>"


class InvitationLink(db.Model):
    """A further link to an invitation, made by a reminder. Only the token's SHA-256 is kept.

    It opens the invitation (and its sessions keep working) like the link the assessment or
    the last reissue made, until the therapist reissues or revokes the link: both delete
    these rows, so every older link and the sessions they opened end together.
    """

    __tablename__ = "invitation_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitation.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<InvitationLink {self.id}>"


class Answer(db.Model):
    """One partner's answer to one item. One row per item, so two tabs never
    overwrite each other's other answers (last write wins per item)."""

    __tablename__ = "answer"
    __table_args__ = (
        sa.UniqueConstraint("invitation_id", "instrument_id", "item_id", name="uq_answer_invitation_item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitation.id", ondelete="CASCADE"))
    instrument_id: Mapped[str] = mapped_column(sa.String(40))
    item_id: Mapped[str] = mapped_column(sa.String(60))
    value: Mapped[int | None]
    # Free text is encrypted at rest (clinic.crypto); choice values are numbers.
    text: Mapped[str | None] = mapped_column(EncryptedText)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Answer {self.id}>"


class Score(db.Model):
    """The engine's result for one submitted instrument, recorded at submission.

    It can always be recomputed from the answers and the version; keeping it makes
    lists and trends cheap and records exactly what the therapist was shown.
    """

    __tablename__ = "score"
    __table_args__ = (sa.UniqueConstraint("invitation_id", "instrument_id", name="uq_score_invitation_instrument"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitation.id", ondelete="CASCADE"))
    instrument_id: Mapped[str] = mapped_column(sa.String(40))
    instrument_version: Mapped[int]
    # {"scores": {id: {"value", "valid", "band"}}, "totals": {...}, "flags": [{"item_id", "level"}]}
    result: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Score {self.id}>"


class ReliabilityEstimate(db.Model):
    """Cronbach's alpha and the SD of one subscale or total of one instrument version, estimated
    from the first answers of this practice's partners (clinic/services/calibration.py).

    One row per practice, instrument version and measure: each run replaces it. Counts and
    statistics only, never an answer. Used for reliable change once `n` reaches
    CALIBRATION_MIN_PARTNERS, unless the definition publishes its own SD and reliability.
    """

    __tablename__ = "reliability_estimate"
    __table_args__ = (
        sa.UniqueConstraint(
            "practice_id", "instrument_id", "instrument_version", "measure_id", name="uq_reliability_estimate_measure"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practice.id", ondelete="CASCADE"))
    instrument_id: Mapped[str] = mapped_column(sa.String(40))
    instrument_version: Mapped[int]
    measure_id: Mapped[str] = mapped_column(sa.String(60))
    # None when the answers give none (fewer than two partners, or every partner the same sum).
    alpha: Mapped[float | None]
    sd: Mapped[float | None]
    # Partners with a valid score on this measure in their first answers to this version.
    n: Mapped[int]
    estimated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<ReliabilityEstimate {self.id} {self.instrument_id} v{self.instrument_version} {self.measure_id}>"


class SafetyReview(db.Model):
    """A therapist's acknowledgement of one safety flag, with a short note."""

    __tablename__ = "safety_review"
    __table_args__ = (sa.UniqueConstraint("invitation_id", "instrument_id", "item_id", name="uq_safety_review_flag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitation.id", ondelete="CASCADE"), index=True)
    instrument_id: Mapped[str] = mapped_column(sa.String(40))
    item_id: Mapped[str] = mapped_column(sa.String(60))
    note: Mapped[str] = mapped_column(EncryptedText, default="")
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clinician.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    reviewed_by: Mapped[Clinician | None] = relationship(lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<SafetyReview {self.id}>"


class ReportKind(enum.StrEnum):
    CLINICIAN = "clinician"
    SUMMARY = "summary"


class ReportStatus(enum.StrEnum):
    QUEUED = "queued"
    RENDERING = "rendering"
    READY = "ready"
    FAILED = "failed"


class Report(db.Model):
    """A session-prep PDF: queued, rendered off the request path, kept by the hash of what it shows."""

    __tablename__ = "report"
    __table_args__ = (sa.Index("ix_report_couple_key", "couple_id", "cache_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(sa.ForeignKey("couple.id", ondelete="CASCADE"))
    kind: Mapped[ReportKind] = mapped_column(_enum(ReportKind, "report_kind"))
    appendix: Mapped[bool] = mapped_column(default=False)
    # sha256 of the data shown and the template version: same key, same PDF.
    cache_key: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[ReportStatus] = mapped_column(_enum(ReportStatus, "report_status"), default=ReportStatus.QUEUED)
    # In the database, not on a disk: any worker on any machine can write it, any app
    # server serve it. Encrypted at rest like the notes it contains.
    pdf: Mapped[bytes | None] = mapped_column(EncryptedBytes)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clinician.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    render_seconds: Mapped[float | None]
    # The therapist's short note to the couple, typed when asking for a couple summary.
    note: Mapped[str] = mapped_column(EncryptedText, default="", server_default=sa.text("''"))

    couple: Mapped[Couple] = relationship(lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Report {self.id} {self.kind.value} {self.status.value}>"


class AuditEvent(db.Model):
    """One line of the audit trail. Append-only; each row carries the hash of the one before.

    The hash is an HMAC keyed with AUDIT_KEY over the row (its id included) and the
    previous hash (clinic/audit.py); database triggers refuse UPDATE and DELETE (the
    migration adds them). No foreign keys: the trail must outlive what it talks about
    (a deleted couple keeps its "deleted" row). Never holds answers, notes, names or tokens.
    """

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_practice_at", "practice_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    practice_id: Mapped[int | None]
    actor_id: Mapped[int | None]  # the clinician, when a clinician acted
    actor: Mapped[str] = mapped_column(sa.String(40))  # "clinician", "partner", "system", "anonymous"
    action: Mapped[str] = mapped_column(sa.String(60))
    couple_id: Mapped[int | None] = mapped_column(index=True)
    target: Mapped[str | None] = mapped_column(sa.String(80))  # e.g. "invitation:12", "report:3"
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action}>"


class AuditHead(db.Model):
    """Where the audit trail ends: the last row's id and hash, with a keyed MAC of both.

    One row (id 1), updated in the same transaction as every append, so removing the
    newest rows shows: the head still names a row that is gone. Its row lock also keeps
    appends in order. Deleting it is refused by a trigger, like changing audit rows.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_id: Mapped[int]
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    mac: Mapped[str] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<AuditHead {self.last_id}>"


class CheckinCadence(enum.StrEnum):
    """How a couple's sessions recur: a list of dates, or every one or two weeks."""

    DATES = "dates"
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"


class CheckinSchedule(TimestampMixin, db.Model):
    """When a couple's check-in goes out: a set lead time before each of their sessions.

    Weekly and fortnightly sessions keep the first session's wall-clock time in the
    practice's zone (services.checkins computes each one there, then in UTC).
    """

    __tablename__ = "checkin_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(sa.ForeignKey("couple.id", ondelete="CASCADE"), unique=True)
    cadence: Mapped[CheckinCadence] = mapped_column(_enum(CheckinCadence, "checkin_cadence"))
    # Weekly and fortnightly: the first session. For a list of dates: None.
    first_session_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A list of dates: the sessions as ISO 8601 UTC strings, earliest first. Otherwise empty.
    session_dates: Mapped[list] = mapped_column(sa.JSON, default=list)
    # How many hours before a session its check-in goes out.
    lead_hours: Mapped[int] = mapped_column(default=24, server_default="24")
    paused: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<CheckinSchedule {self.id} {self.cadence.value}>"


class CheckinSending(db.Model):
    """The check-in sent for one scheduled session. Unique per session, so it goes out once."""

    __tablename__ = "checkin_sending"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "session_at", name="uq_checkin_sending_session"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("checkin_schedule.id", ondelete="CASCADE"))
    session_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assessment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessment.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<CheckinSending {self.id}>"
