"""outreach policies (a tenant's named limits, hours and texts for campaigns) and campaigns
(drafts: message variants, audience tags, policy)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outreach_policies",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("number_hourly_cap", sa.Integer(), nullable=True),
        sa.Column("number_daily_cap", sa.Integer(), nullable=True),
        sa.Column("campaign_hourly_cap", sa.Integer(), nullable=True),
        sa.Column("campaign_daily_cap", sa.Integer(), nullable=True),
        sa.Column("min_gap_seconds", sa.Integer(), nullable=True),
        sa.Column("weekdays", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("dayparts", postgresql.ARRAY(sa.String(length=10)), nullable=False),
        sa.Column("contact_start", sa.Time(), nullable=False),
        sa.Column("contact_end", sa.Time(), nullable=False),
        sa.Column("skip_holidays", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("optout_keywords", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("confirmation_text", sa.Text(), nullable=False),
        sa.Column("validity_minutes", sa.Integer(), nullable=False),
        sa.Column("duplicate_limit", sa.Integer(), nullable=False),
        sa.Column("duplicate_window_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "coalesce(number_hourly_cap, 1) >= 1 and coalesce(number_daily_cap, 1) >= 1 "
            "and coalesce(campaign_hourly_cap, 1) >= 1 and coalesce(campaign_daily_cap, 1) >= 1",
            name=op.f("ck_outreach_policies_caps_positive"),
        ),
        sa.CheckConstraint(
            "min_gap_seconds between 0 and 86400", name=op.f("ck_outreach_policies_min_gap")
        ),
        sa.CheckConstraint(
            "cardinality(weekdays) between 1 and 7 and weekdays <@ array[0,1,2,3,4,5,6]",
            name=op.f("ck_outreach_policies_weekdays_valid"),
        ),
        sa.CheckConstraint(
            "cardinality(dayparts) between 1 and 4 and dayparts <@ "
            "array['night','morning','afternoon','evening']::varchar[]",
            name=op.f("ck_outreach_policies_dayparts_valid"),
        ),
        sa.CheckConstraint(
            "contact_start < contact_end or contact_end = '00:00'",
            name=op.f("ck_outreach_policies_contact_hours"),
        ),
        sa.CheckConstraint(
            "validity_minutes between 5 and 10080", name=op.f("ck_outreach_policies_validity")
        ),
        sa.CheckConstraint(
            "duplicate_limit >= 1 and duplicate_window_minutes between 1 and 1440",
            name=op.f("ck_outreach_policies_duplicate_guard"),
        ),
        sa.CheckConstraint(
            "cardinality(optout_keywords) <= 50",
            name=op.f("ck_outreach_policies_optout_keywords"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_outreach_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_policies")),
        sa.UniqueConstraint("id", "tenant_id", name="uq_outreach_policies_id_tenant"),
    )
    op.create_index(
        "uq_outreach_policies_tenant_name",
        "outreach_policies",
        ["tenant_id", sa.text("lower(name)")],
        unique=True,
    )
    enable_tenant_rls("outreach_policies")

    op.create_table(
        "campaigns",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("policy_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.String(length=12), server_default="draft", nullable=False),
        sa.Column("variants", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "include_tag_ids",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "exclude_tag_ids",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state in ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')",
            name=op.f("ck_campaigns_state_valid"),
        ),
        sa.CheckConstraint(
            "cardinality(variants) between 1 and 10", name=op.f("ck_campaigns_variants_count")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaigns_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id", "tenant_id"],
            ["outreach_policies.id", "outreach_policies.tenant_id"],
            name="fk_campaigns_policy_tenant",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(
        "uq_campaigns_tenant_name",
        "campaigns",
        ["tenant_id", sa.text("lower(name)")],
        unique=True,
    )
    op.create_index("ix_campaigns_tenant_created", "campaigns", ["tenant_id", "created_at"])
    op.create_index("ix_campaigns_tenant_policy", "campaigns", ["tenant_id", "policy_id"])
    enable_tenant_rls("campaigns")


def downgrade() -> None:
    op.drop_table("campaigns")
    op.drop_table("outreach_policies")
