"""WhatsApp numbers (gateway instances), their raw webhook events and normalized messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin, TimestampMixin
from mirage.policy.ramp import Health
from mirage.providers.models import ConnectionState

CONNECTION_STATES = tuple(s.value for s in ConnectionState)
HEALTH_VERDICTS = tuple(h.value for h in Health)


class Instance(IdMixin, TimestampMixin, Base):
    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("gateway_name", name="uq_instances_gateway_name"),
        UniqueConstraint("tenant_id", "display_name", name="uq_instances_tenant_display_name"),
        CheckConstraint(f"state in {CONNECTION_STATES!r}", name="state_valid"),
        CheckConstraint(f"health in {HEALTH_VERDICTS!r}", name="health_valid"),
        Index("ix_instances_tenant", "tenant_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    display_name: Mapped[str] = mapped_column(String(80), nullable=False)
    # The name on the gateway: globally unique, derived from our id, never user-chosen.
    gateway_name: Mapped[str] = mapped_column(String(64), nullable=False)
    # Secrets, encrypted at rest (kit.crypto): the gateway's per-instance key and the
    # HS256 key the gateway signs webhook JWTs with.
    token_enc: Mapped[str] = mapped_column(Text, nullable=False)
    webhook_secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    provisioned: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")

    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="close")
    state_reason: Mapped[int | None] = mapped_column(Integer)
    state_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    needs_pairing: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    owner_jid: Mapped[str | None] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(32))
    profile_name: Mapped[str | None] = mapped_column(String(120))
    qr_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    first_connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The gateway's own timestamp of the last connection update applied: webhooks arrive
    # unordered, so an older update never overwrites a newer one. (Gateway clock only.)
    state_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    health: Mapped[str] = mapped_column(String(16), nullable=False, server_default="healthy")
    health_reason: Mapped[str | None] = mapped_column(String(200))
    health_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consecutive_send_failures: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="0"
    )
    last_send_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An operator's pause: the policy refuses every send from the number while it is set.
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    # The risk score and band last computed (mirage.safety): what a new signal is compared
    # with (a sudden jump, a band change). Pages compute the live, decayed score.
    risk_score: Mapped[int | None] = mapped_column(Integer)
    risk_band: Mapped[str | None] = mapped_column(String(10))
    # The recovery ladder (mirage.safety.recovery): attempts made since it last worked, and
    # when the number is looked at again (None: no ladder running).
    recovery_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    recovery_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def connected(self) -> bool:
        """The one meaning of "connected" everywhere (rounds, policy, API, dashboard): the
        socket is open *and* we know which WhatsApp account it is. ``open`` alone is not
        enough: a state learned from polling (or from the connect call) arrives before the
        webhook that names the account, and a number without ``owner_jid`` cannot be
        addressed or recognised as a round's sender."""
        return self.state == ConnectionState.OPEN and bool(self.owner_jid)

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class WebhookEvent(Base):
    """The raw event as received (bounded retention, pruned by a periodic job)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_tenant", "tenant_id", "received_at"),
        Index("ix_webhook_events_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    instance_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
    )
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class Message(IdMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "instance_id", "provider_message_id", name="uq_messages_provider_id"
        ),
        CheckConstraint("direction in ('inbound', 'outbound')", name="direction_valid"),
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        Index("ix_messages_instance_created", "tenant_id", "instance_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    instance_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
    )
    provider_message_id: Mapped[str] = mapped_column(String(128), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    from_me: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # Who the chat is with: the JID as sent (may be @lid), its phone alternative, and the
    # participant for groups.
    remote_jid: Mapped[str] = mapped_column(String(120), nullable=False)
    remote_jid_alt: Mapped[str | None] = mapped_column(String(120))
    participant: Mapped[str | None] = mapped_column(String(120))
    push_name: Mapped[str | None] = mapped_column(String(120))
    message_type: Mapped[str] = mapped_column(String(40), nullable=False)
    text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    status_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # [{"status": "SERVER_ACK", "at": "..."}], in arrival order, duplicates dropped.
    status_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    provider_timestamp: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when an edit (MESSAGE_EDIT) replaced ``text``: the sender's time of the latest edit
    # applied (an older edit arriving late never overwrites a newer one).
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # Which activity the message belongs to (filled by the domains that send).
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    round_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
