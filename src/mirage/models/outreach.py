"""Outreach: a tenant's named, reusable outreach policies (the limits, hours and texts a
campaign sends under) and its campaigns (drafts so far: message variants, audience, policy;
execution and per-recipient deliveries come next)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin, TimestampMixin
from mirage.db.types import str_enum

DAYPARTS = ("night", "morning", "afternoon", "evening")  # mirage.policy.Daypart's values
MAX_VARIANTS = 10


class CampaignState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


CAMPAIGN_STATES = tuple(s.value for s in CampaignState)


class OutreachPolicy(IdMixin, TimestampMixin, Base):
    """Limits and texts a campaign sends under. Caps of null leave the number's own (per
    number) or set none (per campaign); a gap of null leaves the number's own. The service
    refuses per-number caps above the tenant's and a gap below it: a policy only tightens."""

    __tablename__ = "outreach_policies"
    __table_args__ = (
        Index("uq_outreach_policies_tenant_name", "tenant_id", text("lower(name)"), unique=True),
        # The target of campaigns' tenant-scoped foreign key (a campaign's policy is its
        # tenant's, by construction).
        UniqueConstraint("id", "tenant_id", name="uq_outreach_policies_id_tenant"),
        CheckConstraint(
            "coalesce(number_hourly_cap, 1) >= 1 and coalesce(number_daily_cap, 1) >= 1 "
            "and coalesce(campaign_hourly_cap, 1) >= 1 and coalesce(campaign_daily_cap, 1) >= 1",
            name="caps_positive",
        ),
        CheckConstraint("min_gap_seconds between 0 and 86400", name="min_gap"),
        CheckConstraint(
            "cardinality(weekdays) between 1 and 7 and weekdays <@ array[0,1,2,3,4,5,6]",
            name="weekdays_valid",
        ),
        CheckConstraint(
            "cardinality(dayparts) between 1 and 4 and dayparts <@ "
            "array['night','morning','afternoon','evening']::varchar[]",
            name="dayparts_valid",
        ),
        CheckConstraint(
            "contact_start < contact_end or contact_end = '00:00'", name="contact_hours"
        ),
        CheckConstraint("validity_minutes between 5 and 10080", name="validity"),
        CheckConstraint(
            "duplicate_limit >= 1 and duplicate_window_minutes between 1 and 1440",
            name="duplicate_guard",
        ),
        CheckConstraint("cardinality(optout_keywords) <= 50", name="optout_keywords"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    number_hourly_cap: Mapped[int | None] = mapped_column(Integer)
    number_daily_cap: Mapped[int | None] = mapped_column(Integer)
    campaign_hourly_cap: Mapped[int | None] = mapped_column(Integer)
    campaign_daily_cap: Mapped[int | None] = mapped_column(Integer)
    min_gap_seconds: Mapped[int | None] = mapped_column(Integer)
    # 0 = Monday … 6 = Sunday, in the recipient's local time.
    weekdays: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)
    dayparts: Mapped[list[str]] = mapped_column(ARRAY(String(10)), nullable=False)
    # Contact hours in the recipient's local time, [start, end); an end of 00:00 is midnight.
    contact_start: Mapped[time] = mapped_column(Time, nullable=False)
    contact_end: Mapped[time] = mapped_column(Time, nullable=False)
    skip_holidays: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    # Extra opt-out keywords, on top of the built-in ones (as typed; matched case- and
    # accent-insensitively).
    optout_keywords: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False)
    confirmation_text: Mapped[str] = mapped_column(Text, nullable=False)
    validity_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    duplicate_limit: Mapped[int] = mapped_column(Integer, nullable=False)
    duplicate_window_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class Campaign(IdMixin, TimestampMixin, Base):
    """A campaign: its message (one or more variants, with variables and spintax), its
    audience (contacts with any of the included tags and none of the excluded ones; every
    contact when none is included) and the policy it sends under."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("uq_campaigns_tenant_name", "tenant_id", text("lower(name)"), unique=True),
        Index("ix_campaigns_tenant_created", "tenant_id", "created_at"),
        Index("ix_campaigns_tenant_policy", "tenant_id", "policy_id"),
        ForeignKeyConstraint(
            ["policy_id", "tenant_id"],
            ["outreach_policies.id", "outreach_policies.tenant_id"],
            name="fk_campaigns_policy_tenant",
            ondelete="RESTRICT",
        ),
        CheckConstraint(f"state in {CAMPAIGN_STATES!r}", name="state_valid"),
        CheckConstraint(
            f"cardinality(variants) between 1 and {MAX_VARIANTS}", name="variants_count"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    policy_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    state: Mapped[CampaignState] = mapped_column(
        str_enum(CampaignState, 12), nullable=False, server_default="draft"
    )
    variants: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    include_tag_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")
    )
    exclude_tag_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
