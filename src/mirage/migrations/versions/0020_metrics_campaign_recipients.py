"""metrics: campaign recipients counted by campaign, status and reason (forced RLS), and what
the refresh finds changed recipients by (updated_at, kept by a trigger on every update)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every update of a recipient moves its updated_at, whichever code path made it: the refresh
# finds changed recipients by it, and a path that forgot to set it would leave a funnel stale.
_TOUCH = """
create function campaign_recipient_touch() returns trigger language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end
$$;
create trigger campaign_recipients_touch before update on campaign_recipients
  for each row execute function campaign_recipient_touch();
"""


def upgrade() -> None:
    op.create_table(
        "metrics_campaign_recipients",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.UUID(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "campaign_id",
            sa.UUID(),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        # '' when the status has no reason (a key column cannot be null).
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("recipients", sa.Integer(), server_default="0", nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "campaign_id", "status", "reason", name="uq_metrics_campaign_key"
        ),
    )
    enable_tenant_rls("metrics_campaign_recipients")
    op.create_index("ix_campaign_recipients_updated", "campaign_recipients", ["updated_at"])
    op.execute(_TOUCH)


def downgrade() -> None:
    op.execute("drop trigger campaign_recipients_touch on campaign_recipients")
    op.execute("drop function campaign_recipient_touch()")
    op.drop_index("ix_campaign_recipients_updated", table_name="campaign_recipients")
    op.drop_table("metrics_campaign_recipients")
