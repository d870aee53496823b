"""Warm-up conversations: personas, conversations between own numbers, rounds, tenant
settings and global flags. (Outgoing messages and policy decisions: ``models.messaging``.)"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin, TimestampMixin
from mirage.db.types import str_enum


class RoundState(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    COMPLETED = "completed"
    TIMED_OUT = "timed_out"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNSENT = "unsent"  # a turn could not be sent (the gateway refused it, its number could not)
    UNKNOWN = "unknown"  # a turn was handed to the gateway and never confirmed (not re-sent)


OPEN_ROUND_STATES = (RoundState.PLANNED, RoundState.RUNNING)
ROUND_STATES = tuple(s.value for s in RoundState)


class ConversationState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


class Persona(IdMixin, TimestampMixin, Base):
    __tablename__ = "personas"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_personas_tenant_name"),
        CheckConstraint("style in ('formal', 'casual', 'playful')", name="style_valid"),
        CheckConstraint("emoji_rate between 0 and 1 and typo_rate between 0 and 1", name="rates"),
        CheckConstraint("min_length >= 1 and max_length >= min_length", name="lengths"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    style: Mapped[str] = mapped_column(String(16), nullable=False)
    vocabulary: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False)
    emoji_rate: Mapped[float] = mapped_column(Float, nullable=False)
    typo_rate: Mapped[float] = mapped_column(Float, nullable=False)
    min_length: Mapped[int] = mapped_column(Integer, nullable=False)
    max_length: Mapped[int] = mapped_column(Integer, nullable=False)
    # {"morning": [...], "afternoon": [...], "night": [...]}
    greetings: Mapped[dict[str, list[str]]] = mapped_column(JSONB, nullable=False)
    language: Mapped[str] = mapped_column(String(10), nullable=False, server_default="pt-BR")


class Conversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_conversations_tenant_name"),
        CheckConstraint("state in ('active', 'paused')", name="state_valid"),
        CheckConstraint(
            "delay_min_s is null or (delay_min_s >= 1 and delay_max_s >= delay_min_s)",
            name="delays",
        ),
        CheckConstraint("rounds_per_window between 1 and 50", name="rounds_per_window"),
        CheckConstraint("schedule_source in ('own', 'default')", name="schedule_source"),
        CheckConstraint(
            "pause_min_s >= 60 and pause_max_s >= pause_min_s and pause_max_s <= 86400",
            name="pauses",
        ),
        Index("ix_conversations_tenant_state", "tenant_id", "state"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(80)), nullable=False)
    # Per-conversation override of the tenant's delays (seconds); null = tenant settings.
    delay_min_s: Mapped[int | None] = mapped_column(Integer)
    delay_max_s: Mapped[int | None] = mapped_column(Integer)
    rounds_per_window: Mapped[int] = mapped_column(Integer, nullable=False, server_default="3")
    # {"0": [["08:00", "12:00"], ...], ...} weekday (0 = Monday) → local time ranges.
    windows: Mapped[dict[str, list[list[str]]]] = mapped_column(JSONB, nullable=False)
    state: Mapped[ConversationState] = mapped_column(
        str_enum(ConversationState, 10), nullable=False, server_default="active"
    )
    next_round_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_round_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set while fewer than two of its numbers can send: no rounds are planned (none would
    # start) until two can again; the planner clears it. Shown on the conversation's page.
    waiting_reason: Mapped[str | None] = mapped_column(String(200))
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "default": windows, rounds per window and pauses are the tenant's default schedule, read
    # fresh (a change of the default applies to it); "own": the columns here.
    schedule_source: Mapped[str] = mapped_column(String(8), nullable=False, server_default="own")
    # The pause between two rounds of a window, in seconds (bounds of the planner's draw).
    pause_min_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    pause_max_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="7200")
    # Set when the system (not an operator) paused it, e.g. one of its numbers was deleted.
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    # Its round slots are planned up to here (the engine's plan; null: plan from now).
    slots_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RoundSlot(IdMixin, Base):
    """One round the scheduler plans: when it starts, until when it holds its numbers. The
    week's plan, written by the engine and read by the calendar; a number's slots never
    overlap (the planner's rule, checked under a per-tenant lock)."""

    __tablename__ = "round_slots"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="span"),
        Index("ix_round_slots_tenant_start", "tenant_id", "starts_at"),
        Index("ix_round_slots_conversation_start", "conversation_id", "starts_at"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The numbers it holds: every number of its conversation (whichever pair the round picks).
    instance_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False)
    # The round made from it (set when the engine plans that round).
    round_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("rounds.id", ondelete="SET NULL")
    )


class ConversationParticipant(IdMixin, Base):
    __tablename__ = "conversation_participants"
    __table_args__ = (
        UniqueConstraint("conversation_id", "instance_id", name="uq_participants_instance"),
        Index("ix_participants_tenant_conversation", "tenant_id", "conversation_id"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    instance_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
    )
    persona_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("personas.id", ondelete="RESTRICT"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)


class Round(IdMixin, TimestampMixin, Base):
    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint(f"state in {ROUND_STATES!r}", name="state_valid"),
        CheckConstraint("exchanges between 2 and 4", name="exchanges"),
        Index("ix_rounds_tenant_conversation", "tenant_id", "conversation_id", "created_at"),
        Index(
            "ix_rounds_awaiting",
            "tenant_id",
            "awaiting_instance_id",
            postgresql_where=text("state = 'running'"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    state: Mapped[RoundState] = mapped_column(
        str_enum(RoundState, 12), nullable=False, server_default="planned"
    )
    topic: Mapped[str] = mapped_column(String(80), nullable=False)
    exchanges: Mapped[int] = mapped_column(Integer, nullable=False)  # messages in the round
    turns_sent: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The next reply is expected on this number, from this JID (the other participant).
    awaiting_instance_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    awaiting_from_jid: Mapped[str | None] = mapped_column(String(120))
    reply_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(200))


class RoundMember(IdMixin, Base):
    """Which numbers a round holds. The partial unique index is the rule "a number is never
    in two active rounds at once", enforced by the database."""

    __tablename__ = "round_members"
    __table_args__ = (
        Index(
            "uq_round_members_active_instance",
            "instance_id",
            unique=True,
            postgresql_where=text("active"),
        ),
        Index("ix_round_members_tenant_round", "tenant_id", "round_id"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    round_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("rounds.id", ondelete="CASCADE"), nullable=False
    )
    instance_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
    )
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")


class TenantSettings(IdMixin, Base):
    """Tenant-wide cadence and limits; read at every decision, so changes apply at once."""

    __tablename__ = "tenant_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id", name="uq_tenant_settings_tenant"),
        CheckConstraint("delay_min_s >= 1 and delay_max_s >= delay_min_s", name="delays"),
        CheckConstraint(
            "hourly_cap_per_number >= 0 and daily_cap_per_number >= 0 and burst_per_hour >= 0 "
            "and min_gap_seconds >= 0",
            name="caps",
        ),
        CheckConstraint("step_up_minutes between 1 and 240", name="step_up_minutes"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    delay_min_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="20")
    delay_max_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="90")
    quiet_start: Mapped[time | None] = mapped_column(Time, server_default=text("'22:00'"))
    quiet_end: Mapped[time | None] = mapped_column(Time, server_default=text("'08:00'"))
    hourly_cap_per_number: Mapped[int] = mapped_column(Integer, nullable=False, server_default="20")
    daily_cap_per_number: Mapped[int] = mapped_column(Integer, nullable=False, server_default="120")
    burst_per_hour: Mapped[int] = mapped_column(Integer, nullable=False, server_default="200")
    min_gap_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="15")
    kill_switch: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    reply_timeout_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    ai_base_url: Mapped[str | None] = mapped_column(String(300))
    ai_model: Mapped[str | None] = mapped_column(String(100))
    ai_key_enc: Mapped[str | None] = mapped_column(Text)
    # The default schedule of the tenant's conversations (null windows: the built-in one).
    default_windows: Mapped[dict[str, list[list[str]]] | None] = mapped_column(JSONB)
    default_rounds_per_window: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="3"
    )
    default_pause_min_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    default_pause_max_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="7200")
    # Security (auth.stepup): MFA mandatory for owners and admins, and how long a step-up lasts.
    mfa_required: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    step_up_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="10")
    # Number safety (mirage.safety; defaults and sources in docs/number-safety.md): the lowest
    # risk score of each band, how fast signals fade, the yellow band's new contacts per day,
    # and when a number is paused by itself.
    risk_yellow_from: Mapped[int] = mapped_column(Integer, nullable=False, server_default="20")
    risk_orange_from: Mapped[int] = mapped_column(Integer, nullable=False, server_default="40")
    risk_red_from: Mapped[int] = mapped_column(Integer, nullable=False, server_default="60")
    risk_critical_from: Mapped[int] = mapped_column(Integer, nullable=False, server_default="80")
    risk_half_life_minutes: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="120"
    )
    band_new_contacts_per_day: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="5"
    )
    auto_pause_error_pct: Mapped[int] = mapped_column(Integer, nullable=False, server_default="50")
    auto_pause_min_sends: Mapped[int] = mapped_column(Integer, nullable=False, server_default="5")
    auto_pause_score_jump: Mapped[int] = mapped_column(Integer, nullable=False, server_default="20")
    # Where the number-safety alerts go (mirage.safety.alerts; none: the dashboard only). The
    # webhook's signing secret and the SMTP password are stored encrypted (kit.crypto).
    alert_webhook_url: Mapped[str | None] = mapped_column(String(300))
    alert_webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    alert_email_to: Mapped[list[str] | None] = mapped_column(JSONB)
    alert_email_from: Mapped[str | None] = mapped_column(String(254))
    alert_smtp_host: Mapped[str | None] = mapped_column(String(253))
    alert_smtp_port: Mapped[int | None] = mapped_column(Integer)
    # starttls (submission, 587), tls (implicit TLS, 465) or none (no TLS: no password sent).
    alert_smtp_security: Mapped[str] = mapped_column(
        String(10), nullable=False, server_default="starttls"
    )
    alert_smtp_username: Mapped[str | None] = mapped_column(String(254))
    # The language of the alert e-mails (a catalog locale: pt_BR or en; migration 0028).
    alert_email_locale: Mapped[str] = mapped_column(
        String(8), nullable=False, server_default="pt_BR"
    )
    alert_smtp_password_enc: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class SystemFlag(Base):
    """Global operator switches (e.g. the global kill switch). Not tenant data."""

    __tablename__ = "system_flags"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
