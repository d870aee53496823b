"""The send pipeline's rows: every outgoing message, whoever owns it (a warm-up round today, a
campaign tomorrow), and every policy decision (defer or deny) taken on one."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin, TimestampMixin
from mirage.db.types import str_enum


class OutgoingStatus(StrEnum):
    PLANNED = "planned"
    SENDING = "sending"  # claimed: committed before the gateway is called
    SENT = "sent"
    UNKNOWN = "unknown"  # claimed, and the gateway has no record of it: never re-sent
    FAILED = "failed"
    CANCELLED = "cancelled"


# Nothing more will happen to a message in these states.
FINAL_STATUSES = (
    OutgoingStatus.SENT,
    OutgoingStatus.FAILED,
    OutgoingStatus.CANCELLED,
    OutgoingStatus.UNKNOWN,
)
# A message in these states may have reached the network: it counts against the caps.
COUNTED_STATUSES = (OutgoingStatus.SENT, OutgoingStatus.SENDING, OutgoingStatus.UNKNOWN)


class Purpose(StrEnum):
    """Who a message is for; its owner registers with the pipeline under this name."""

    WARMUP = "warmup"
    CAMPAIGN = "campaign"
    # The one message that confirms an inbound opt-out (at most one per number, ever).
    OPTOUT_CONFIRMATION = "optout_confirm"


class DecisionAction(StrEnum):
    DEFER = "defer"
    DENY = "deny"


OUTGOING_STATES = tuple(s.value for s in OutgoingStatus)
PURPOSES = tuple(p.value for p in Purpose)


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


class OutgoingMessage(IdMixin, TimestampMixin, Base):
    """A message Mirage plans to send: generated, timed, policy-checked, sent at most once."""

    __tablename__ = "outgoing_messages"
    __table_args__ = (
        CheckConstraint(f"status in {OUTGOING_STATES!r}", name="status_valid"),
        CheckConstraint(f"purpose in {PURPOSES!r}", name="purpose_valid"),
        Index("ix_outgoing_tenant_round", "tenant_id", "round_id", "created_at"),
        Index("ix_outgoing_tenant_status", "tenant_id", "status", "planned_at"),
        Index("ix_outgoing_instance_sent", "tenant_id", "instance_id", "sent_at"),
        # The reaper's question, "which open messages are overdue?" (migration 0011).
        Index(
            "ix_outgoing_open_planned_at",
            "planned_at",
            postgresql_where=text("status in ('planned', 'sending')"),
        ),
        # One opt-out confirmation per number, ever (migration 0022).
        Index(
            "uq_outgoing_optout_confirm",
            "tenant_id",
            "to_number",
            unique=True,
            postgresql_where=text("purpose = 'optout_confirm'"),
        ),
        # A number's next parked message (migration 0029).
        Index(
            "ix_outgoing_parked",
            "instance_id",
            "planned_at",
            postgresql_where=text("status = 'planned' and parked_at is not null"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    # Whose message it is: the owner registered under this purpose supplies the policy
    # context and reacts to the send's outcome (messaging.service.register_owner).
    purpose: Mapped[Purpose] = mapped_column(
        str_enum(Purpose, 16), nullable=False, server_default="warmup"
    )
    instance_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
    )
    round_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("rounds.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    persona_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    to_number: Mapped[str] = mapped_column(String(32), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    turn: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[OutgoingStatus] = mapped_column(
        str_enum(OutgoingStatus, 10), nullable=False, server_default="planned"
    )
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    read_ms: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    think_ms: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    typing_ms: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    generation_source: Mapped[str | None] = mapped_column(String(10))
    fallback_reason: Mapped[str | None] = mapped_column(String(200))
    repetition_score: Mapped[float | None] = mapped_column(Float)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(300))
    # Set while the message waits, with no job of its own, for its number's send now being
    # typed: that send, once finished, claims the number's next parked message
    # (messaging.service). Null: a job (or the claim) will act on it.
    parked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PolicyDecision(IdMixin, TimestampMixin, Base):
    """Every defer or deny, with its reason (visible in the dashboard)."""

    __tablename__ = "policy_decisions"
    __table_args__ = (
        CheckConstraint("action in ('defer', 'deny')", name="action_valid"),
        Index("ix_policy_decisions_tenant", "tenant_id", "created_at"),
        Index("ix_policy_decisions_round", "tenant_id", "round_id"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    instance_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    round_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    outgoing_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(8), nullable=False)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    detail: Mapped[str | None] = mapped_column(String(300))
