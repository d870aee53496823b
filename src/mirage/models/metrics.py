"""Metrics rollups (migration 0016): counts per tenant and UTC hour, kept current by the
metrics refresh job from the raw tables (messages, policy_decisions, rounds). Display converts
the hours to the tenant's zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def _count() -> Mapped[int]:
    return mapped_column(Integer, nullable=False, server_default="0")


NIL_SQL = "'00000000-0000-0000-0000-000000000000'::uuid"


def _conversation() -> Mapped[uuid.UUID]:
    """The warm-up conversation the counted facts belong to (migration 0026); the nil UUID
    for none (a key column cannot be null)."""
    return mapped_column(UUID(as_uuid=True), nullable=False, server_default=text(NIL_SQL))


def _by_conversation(table: str) -> Index:
    return Index(
        f"ix_{table}_conversation",
        "tenant_id",
        "conversation_id",
        "hour",
        postgresql_where=text(f"conversation_id <> {NIL_SQL}"),
    )


class MessageHour(Base):
    """Messages of one number in one UTC hour (by ``messages.created_at``), one direction and
    kind (warmup, campaign, manual); the outcomes are counts of those messages."""

    __tablename__ = "metrics_message_hours"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "hour",
            "instance_id",
            "direction",
            "kind",
            "conversation_id",
            name="uq_metrics_message_hours_key",
        ),
        Index("ix_metrics_message_hours_instance", "tenant_id", "instance_id", "hour"),
        Index("ix_metrics_message_hours_hour", "hour"),
        _by_conversation("metrics_message_hours"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    conversation_id: Mapped[uuid.UUID] = _conversation()
    messages: Mapped[int] = _count()
    delivered: Mapped[int] = _count()
    read: Mapped[int] = _count()
    replied: Mapped[int] = _count()
    failed: Mapped[int] = _count()
    opted_out: Mapped[int] = _count()


class TenantHour(Base):
    """``MessageHour`` summed over the tenant's numbers (the page without a number filter)."""

    __tablename__ = "metrics_tenant_hours"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "hour", "direction", "kind", name="uq_metrics_tenant_hours_key"
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    messages: Mapped[int] = _count()
    delivered: Mapped[int] = _count()
    read: Mapped[int] = _count()
    replied: Mapped[int] = _count()
    failed: Mapped[int] = _count()
    opted_out: Mapped[int] = _count()


class NumberDay(Base):
    """A number's messages of one day in the tenant's zone (as it was when folded: a change
    of zone needs ``mirage metrics rebuild``), summed from its hours."""

    __tablename__ = "metrics_number_days"
    __table_args__ = (
        UniqueConstraint("tenant_id", "day", "instance_id", name="uq_metrics_number_days_key"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    sent: Mapped[int] = _count()
    received: Mapped[int] = _count()
    delivered: Mapped[int] = _count()
    read: Mapped[int] = _count()
    replied: Mapped[int] = _count()
    failed: Mapped[int] = _count()
    opted_out: Mapped[int] = _count()


class DecisionHour(Base):
    """Policy decisions (defer, deny) by reason; ``instance_id`` is the nil UUID when none."""

    __tablename__ = "metrics_decision_hours"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "hour",
            "instance_id",
            "action",
            "reason",
            "conversation_id",
            name="uq_metrics_decision_hours_key",
        ),
        _by_conversation("metrics_decision_hours"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    conversation_id: Mapped[uuid.UUID] = _conversation()
    decisions: Mapped[int] = _count()


class RoundHour(Base):
    """Warm-up rounds that ended in an hour (``rounds.ended_at``), by final state."""

    __tablename__ = "metrics_round_hours"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "hour", "state", "conversation_id", name="uq_metrics_round_hours_key"
        ),
        _by_conversation("metrics_round_hours"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    conversation_id: Mapped[uuid.UUID] = _conversation()
    rounds: Mapped[int] = _count()


class CampaignRecipientCount(Base):
    """A campaign's recipients by delivery status and reason (migration 0020): the funnels of
    the Métricas page, recomputed per campaign when any of its recipients changed."""

    __tablename__ = "metrics_campaign_recipients"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "campaign_id", "status", "reason", name="uq_metrics_campaign_key"
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)  # '' for none
    recipients: Mapped[int] = _count()


class RefreshState(Base):
    """Global, one row: how far the incremental refresh has folded (``watermark``)."""

    __tablename__ = "metrics_refresh_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_ms: Mapped[int] = _count()
