"""campaign execution: a campaign's sender pool and schedule, and one delivery record per
recipient (campaign_recipients), whose status only ever moves forward (a trigger refuses a
backward update)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The ranks of mirage.models.outreach.RECIPIENT_RANK, for the database's own check.
RANK_FUNCTION = """
create or replace function campaign_recipient_rank(status varchar) returns smallint
language sql immutable parallel safe as $$
  select case status
    when 'planned' then 0 when 'deferred' then 1 when 'sent' then 3
    when 'delivered' then 4 when 'read' then 5 when 'replied' then 6
    else 9 end::smallint
$$
"""
# A status may stay (its reason or timestamps change) or move to a higher rank; the final
# failures (rank 9 other than a stay) only from a recipient not sent yet (rank < 3).
FORWARD_TRIGGER = """
create or replace function campaign_recipient_forward() returns trigger
language plpgsql as $$
begin
  if new.status is distinct from old.status and (
       campaign_recipient_rank(new.status) <= campaign_recipient_rank(old.status)
       or (new.status in ('failed', 'expired', 'skipped')
           and campaign_recipient_rank(old.status) >= 3)) then
    raise exception 'campaign recipient status cannot move from % to %', old.status, new.status
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger campaign_recipients_forward before update of status on campaign_recipients
  for each row execute function campaign_recipient_forward();
"""


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column(
            "sender_ids",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column("campaigns", sa.Column("start_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("end_by", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "campaigns",
        sa.Column("frozen_count", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("phone_e164", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="planned", nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("sender_id", sa.UUID(), nullable=True),
        sa.Column("reassigned_from", sa.UUID(), nullable=True),
        sa.Column("reassigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outgoing_id", sa.UUID(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("variant", sa.Integer(), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status in ('planned', 'deferred', 'sent', 'delivered', 'read', 'replied', "
            "'failed', 'expired', 'skipped')",
            name=op.f("ck_campaign_recipients_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaign_recipients_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint("campaign_id", "contact_id", name="uq_campaign_recipients_contact"),
    )
    op.create_index(
        "ix_campaign_recipients_status",
        "campaign_recipients",
        ["tenant_id", "campaign_id", "status", "id"],
    )
    op.create_index(
        "ix_campaign_recipients_sender_open",
        "campaign_recipients",
        ["tenant_id", "campaign_id", "sender_id"],
        postgresql_where=sa.text("status in ('planned', 'deferred')"),
    )
    op.create_index(
        "ix_campaign_recipients_outgoing", "campaign_recipients", ["tenant_id", "outgoing_id"]
    )
    op.create_index(
        "ix_campaign_recipients_contact", "campaign_recipients", ["tenant_id", "contact_id"]
    )
    op.create_index(
        "ix_campaign_recipients_claimed",
        "campaign_recipients",
        ["tenant_id", "campaign_id", "claimed_at"],
        postgresql_where=sa.text("claimed_at is not null"),
    )
    op.execute(RANK_FUNCTION)
    op.execute(FORWARD_TRIGGER)
    enable_tenant_rls("campaign_recipients")


def downgrade() -> None:
    op.drop_table("campaign_recipients")
    op.execute("drop function if exists campaign_recipient_forward()")
    op.execute("drop function if exists campaign_recipient_rank(varchar)")
    for column in ("frozen_count", "finished_at", "started_at", "end_by", "start_at", "sender_ids"):
        op.drop_column("campaigns", column)
