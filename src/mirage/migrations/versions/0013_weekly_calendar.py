"""weekly calendar: round slots (the engine's plan, per number without overlap), each
conversation's schedule (its own or the tenant default's; pauses between rounds), the tenant's
default schedule, and why the system paused a conversation

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 08:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing conversations keep the windows they have ("own"); new ones follow the default.
    op.add_column(
        "conversations",
        sa.Column("schedule_source", sa.String(8), server_default="own", nullable=False),
    )
    op.add_column(
        "conversations",
        sa.Column("pause_min_s", sa.Integer(), server_default="600", nullable=False),
    )
    op.add_column(
        "conversations",
        sa.Column("pause_max_s", sa.Integer(), server_default="7200", nullable=False),
    )
    op.add_column("conversations", sa.Column("paused_reason", sa.String(200)))
    op.add_column("conversations", sa.Column("slots_until", sa.DateTime(timezone=True)))
    op.execute(
        "ALTER TABLE conversations ADD CONSTRAINT ck_conversations_schedule_source "
        "CHECK (schedule_source in ('own', 'default'))"
    )
    op.execute(
        "ALTER TABLE conversations ADD CONSTRAINT ck_conversations_pauses CHECK "
        "(pause_min_s >= 60 and pause_max_s >= pause_min_s and pause_max_s <= 86400)"
    )
    # The tenant's default schedule (null windows: the built-in default).
    op.add_column("tenant_settings", sa.Column("default_windows", postgresql.JSONB()))
    op.add_column(
        "tenant_settings",
        sa.Column("default_rounds_per_window", sa.Integer(), server_default="3", nullable=False),
    )
    op.add_column(
        "tenant_settings",
        sa.Column("default_pause_min_s", sa.Integer(), server_default="600", nullable=False),
    )
    op.add_column(
        "tenant_settings",
        sa.Column("default_pause_max_s", sa.Integer(), server_default="7200", nullable=False),
    )
    op.create_table(
        "round_slots",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instance_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("round_id", sa.UUID()),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_round_slots_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_round_slots_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_round_slots_round_id_rounds"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_slots")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_round_slots_span")),
    )
    op.create_index("ix_round_slots_tenant_start", "round_slots", ["tenant_id", "starts_at"])
    op.create_index(
        "ix_round_slots_conversation_start", "round_slots", ["conversation_id", "starts_at"]
    )
    enable_tenant_rls("round_slots")


def downgrade() -> None:
    op.drop_table("round_slots")
    for column in (
        "default_windows",
        "default_rounds_per_window",
        "default_pause_min_s",
        "default_pause_max_s",
    ):
        op.drop_column("tenant_settings", column)
    op.execute("ALTER TABLE conversations DROP CONSTRAINT ck_conversations_pauses")
    op.execute("ALTER TABLE conversations DROP CONSTRAINT ck_conversations_schedule_source")
    for column in ("slots_until", "paused_reason", "pause_max_s", "pause_min_s", "schedule_source"):
        op.drop_column("conversations", column)
