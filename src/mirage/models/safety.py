"""Number safety: the append-only timeline of each number's risk signals and the actions
taken on them (mirage.safety)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin

# mirage.safety.score.SignalKind's values (tests/safety checks they agree); spelled out here
# so that the models do not import a domain.
SIGNAL_KINDS = (
    "disconnect",
    "send_failed",
    "not_acked",
    "time_lock",
    "opt_out",
    "blocked",
    "qr_loop",
    "unanswered",
    "low_replies",
    "low_delivery",
    "low_reads",
    "new_contacts",
    "band_changed",
    "auto_paused",
    "quarantined",
    "released",
    "recovery",
)


class NumberSignal(IdMixin, Base):
    """Append-only for the runtime role (SELECT/INSERT only): rows leave only with their
    number or tenant (the foreign keys' cascade, run by the table owner)."""

    __tablename__ = "number_signals"
    __table_args__ = (
        CheckConstraint(f"kind in {SIGNAL_KINDS!r}", name="kind_valid"),
        Index("ix_number_signals_instance", "tenant_id", "instance_id", "at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    instance_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    # A disconnect's code (Baileys' DisconnectReason), an error's status; none for most.
    code: Mapped[int | None] = mapped_column(Integer)
    # Why, in a few words (an error class, a band change "green→yellow", a release reason).
    detail: Mapped[str | None] = mapped_column(String(300))
    # The risk score right after this entry (actions and signals alike): the chart's points.
    score: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Timeline order: several entries of one transaction share ``at`` (now()).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), nullable=False)


# mirage.safety.alerting's kinds, events, channels and outcomes (spelled out here too).
ALERT_KINDS = ("risk_band", "quarantine", "test")
DELIVERY_EVENTS = ("opened", "resolved", "test")
DELIVERY_CHANNELS = ("webhook", "email")
DELIVERY_OUTCOMES = ("sent", "failed", "refused")


class SafetyAlert(IdMixin, Base):
    """A number that entered the orange, red or critical band, or quarantine: open until it
    comes back (``resolved_at``). At most one open alert per number and kind (a unique index
    over the open ones); ``band`` is the worst band seen while it was open."""

    __tablename__ = "safety_alerts"
    __table_args__ = (
        CheckConstraint(f"kind in {ALERT_KINDS!r}", name="kind_valid"),
        CheckConstraint("resolved_at is null or resolved_at >= opened_at", name="resolved_after"),
        Index(
            "uq_safety_alerts_open",
            "tenant_id",
            "instance_id",
            "kind",
            unique=True,
            postgresql_where="resolved_at is null",
        ),
        Index("ix_safety_alerts_opened", "tenant_id", "opened_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    # None only for a test alert (the "send a test alert" action).
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    band: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(300))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_reason: Mapped[str | None] = mapped_column(String(300))


class AlertDelivery(IdMixin, Base):
    """One attempt to tell a tenant's target (webhook or e-mail) that an alert opened or
    resolved, and how it went."""

    __tablename__ = "safety_alert_deliveries"
    __table_args__ = (
        CheckConstraint(f"event in {DELIVERY_EVENTS!r}", name="event_valid"),
        CheckConstraint(f"channel in {DELIVERY_CHANNELS!r}", name="channel_valid"),
        CheckConstraint(f"outcome in {DELIVERY_OUTCOMES!r}", name="outcome_valid"),
        Index("ix_safety_alert_deliveries_alert", "tenant_id", "alert_id", "at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    alert_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("safety_alerts.id", ondelete="CASCADE"), nullable=False
    )
    event: Mapped[str] = mapped_column(String(10), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)
    # The HTTP status or SMTP reply code, when there was one; what went wrong, in a few words.
    status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(300))
    final: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
