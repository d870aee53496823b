"""Outreach: a tenant's named, reusable outreach policies (the limits, hours and texts a
campaign sends under) and its campaigns (drafts so far: message variants, audience, policy;
their execution: one delivery record per recipient)."""

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
    # Execution (migration 0016): the pool of sending numbers, the schedule, and when it ran.
    sender_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")
    )
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    frozen_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class RecipientStatus(StrEnum):
    """Where one recipient's delivery is. Statuses only move forward (``RECIPIENT_RANK``; the
    database refuses a backward update): planned → deferred → sent → delivered → read →
    replied; failed, expired and skipped are final and only reachable before a send."""

    PLANNED = "planned"
    DEFERRED = "deferred"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    REPLIED = "replied"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    SUPPRESSED = "suppressed"
    NO_BASIS = "no_basis"
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    INVALID = "invalid"


#: The order statuses move in. The final failures share the top rank, but only a recipient
#: not yet sent (rank < SENT's) may reach them: a sent message never "fails" afterwards.
RECIPIENT_RANK: dict[RecipientStatus, int] = {
    RecipientStatus.PLANNED: 0,
    RecipientStatus.DEFERRED: 1,
    RecipientStatus.SENT: 3,
    RecipientStatus.DELIVERED: 4,
    RecipientStatus.READ: 5,
    RecipientStatus.REPLIED: 6,
    RecipientStatus.FAILED: 9,
    RecipientStatus.EXPIRED: 9,
    RecipientStatus.SKIPPED: 9,
}
UNSENT_FINAL = (RecipientStatus.FAILED, RecipientStatus.EXPIRED, RecipientStatus.SKIPPED)
RECIPIENT_STATES = tuple(s.value for s in RecipientStatus)


class CampaignRecipient(IdMixin, TimestampMixin, Base):
    """One delivery record per recipient of a started campaign (its audience frozen at start):
    its sender (sticky; a failover records where it came from), its message, its status."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_campaign_recipients_contact"),
        CheckConstraint(f"status in {RECIPIENT_STATES!r}", name="status_valid"),
        # The recipient table, the funnel and the planner (by status within a campaign).
        Index("ix_campaign_recipients_status", "tenant_id", "campaign_id", "status", "id"),
        # The planner and failover: a sender's open recipients.
        Index(
            "ix_campaign_recipients_sender_open",
            "tenant_id",
            "campaign_id",
            "sender_id",
            postgresql_where=text("status in ('planned', 'deferred')"),
        ),
        # The owner's lookup from a message.
        Index("ix_campaign_recipients_outgoing", "tenant_id", "outgoing_id"),
        # The sticky sender across campaigns, and the campaign's own load (caps).
        Index("ix_campaign_recipients_contact", "tenant_id", "contact_id"),
        # An inbound opt-out finds the person's recipients by number (migration 0022).
        Index("ix_campaign_recipients_phone", "tenant_id", "phone_e164"),
        # A sender's engagement (number safety): its campaign messages sent of the last week,
        # and whether they were answered (migration 0028).
        Index(
            "ix_campaign_recipients_sender_sent",
            "tenant_id",
            "sender_id",
            "sent_at",
            postgresql_where=text("sent_at is not null"),
        ),
        Index(
            "ix_campaign_recipients_claimed",
            "tenant_id",
            "campaign_id",
            "claimed_at",
            postgresql_where=text("claimed_at is not null"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    phone_e164: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[RecipientStatus] = mapped_column(
        str_enum(RecipientStatus, 10), nullable=False, server_default="planned"
    )
    reason: Mapped[str | None] = mapped_column(String(40))
    sender_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reassigned_from: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reassigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outgoing_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    variant: Mapped[int | None] = mapped_column(Integer)
    planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The person opted out after this campaign's message reached them (migration 0022).
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
