"""outgoing messages: the opt-out confirmation purpose, at most one per person per tenant;
campaign recipients: when the person opted out after the campaign's message

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An existing tenant table: its RLS policy and grants cover the new index as they are.
    op.drop_constraint(op.f("ck_outgoing_messages_purpose_valid"), "outgoing_messages")
    op.create_check_constraint(
        op.f("ck_outgoing_messages_purpose_valid"),
        "outgoing_messages",
        "purpose in ('warmup', 'campaign', 'optout_confirm')",
    )
    # "A single confirmation, never again" is the database's rule, not a check that two
    # concurrent webhooks could both pass: one confirmation row per number, ever.
    op.create_index(
        "uq_outgoing_optout_confirm",
        "outgoing_messages",
        ["tenant_id", "to_number"],
        unique=True,
        postgresql_where="purpose = 'optout_confirm'",
    )
    # An opt-out that answers a campaign's message is the campaign's (its funnel counts it).
    op.add_column(
        "campaign_recipients",
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
    )
    # An opt-out finds the person's recipients by number (the webhook's transaction).
    op.create_index(
        "ix_campaign_recipients_phone", "campaign_recipients", ["tenant_id", "phone_e164"]
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_recipients_phone", table_name="campaign_recipients")
    op.drop_column("campaign_recipients", "opted_out_at")
    op.drop_index("uq_outgoing_optout_confirm", table_name="outgoing_messages")
    op.execute("delete from outgoing_messages where purpose = 'optout_confirm'")
    op.drop_constraint(op.f("ck_outgoing_messages_purpose_valid"), "outgoing_messages")
    op.create_check_constraint(
        op.f("ck_outgoing_messages_purpose_valid"),
        "outgoing_messages",
        "purpose in ('warmup', 'campaign')",
    )
