"""metrics rollups: messages, policy decisions and rounds counted per tenant and UTC hour
(forced RLS), the refresh watermark, and the indexes the incremental refresh reads by

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), primary_key=True)


def _tenant() -> sa.Column[object]:
    return sa.Column(
        "tenant_id",
        sa.UUID(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
    )


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "metrics_message_hours",
        _id(),
        _tenant(),
        sa.Column("instance_id", sa.UUID(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        _count("messages"),
        _count("delivered"),
        _count("read"),
        _count("replied"),
        _count("failed"),
        _count("opted_out"),
        sa.UniqueConstraint(
            "tenant_id",
            "hour",
            "instance_id",
            "direction",
            "kind",
            name="uq_metrics_message_hours_key",
        ),
    )
    op.create_index(
        "ix_metrics_message_hours_instance",
        "metrics_message_hours",
        ["tenant_id", "instance_id", "hour"],
    )
    # /metrics sums the last 24 hours across tenants (ops.repository.FLEET_QUERIES).
    op.create_index("ix_metrics_message_hours_hour", "metrics_message_hours", ["hour"])
    enable_tenant_rls("metrics_message_hours")

    # The same counts summed over the numbers: what the page reads when no number is chosen
    # (one row per hour, direction and kind instead of one per number as well).
    op.create_table(
        "metrics_tenant_hours",
        _id(),
        _tenant(),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        _count("messages"),
        _count("delivered"),
        _count("read"),
        _count("replied"),
        _count("failed"),
        _count("opted_out"),
        sa.UniqueConstraint(
            "tenant_id", "hour", "direction", "kind", name="uq_metrics_tenant_hours_key"
        ),
    )
    enable_tenant_rls("metrics_tenant_hours")

    # Per number and day in the tenant's zone (at fold time): the per-number table reads one
    # row per number and day instead of one per number, hour, direction and kind.
    op.create_table(
        "metrics_number_days",
        _id(),
        _tenant(),
        sa.Column("instance_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _count("sent"),
        _count("received"),
        _count("delivered"),
        _count("read"),
        _count("replied"),
        _count("failed"),
        _count("opted_out"),
        sa.UniqueConstraint("tenant_id", "day", "instance_id", name="uq_metrics_number_days_key"),
    )
    enable_tenant_rls("metrics_number_days")

    op.create_table(
        "metrics_decision_hours",
        _id(),
        _tenant(),
        # The nil UUID when the decision named no number (a key column cannot be null).
        sa.Column("instance_id", sa.UUID(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        _count("decisions"),
        sa.UniqueConstraint(
            "tenant_id",
            "hour",
            "instance_id",
            "action",
            "reason",
            name="uq_metrics_decision_hours_key",
        ),
    )
    enable_tenant_rls("metrics_decision_hours")

    op.create_table(
        "metrics_round_hours",
        _id(),
        _tenant(),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _count("rounds"),
        sa.UniqueConstraint("tenant_id", "hour", "state", name="uq_metrics_round_hours_key"),
    )
    enable_tenant_rls("metrics_round_hours")

    # Global (no tenant): how far the incremental refresh has folded. One row.
    op.create_table(
        "metrics_refresh_state",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ms", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_metrics_refresh_state_single_row")),
    )
    op.execute(
        "insert into metrics_refresh_state (id, watermark, refreshed_at) "
        "values (1, 'epoch', 'epoch')"
    )
    op.execute("GRANT SELECT ON metrics_refresh_state TO mirage_app")
    op.execute("GRANT SELECT, INSERT, UPDATE ON metrics_refresh_state TO mirage_admin")

    # What the refresh finds changed facts by (each read range-scans one of these).
    op.create_index("ix_messages_updated", "messages", ["updated_at"])
    op.create_index(
        "ix_messages_outbound_remote",
        "messages",
        ["tenant_id", "instance_id", "remote_jid", "created_at"],
        postgresql_where=sa.text("direction = 'outbound'"),
    )
    op.create_index(
        "ix_outgoing_provider_id",
        "outgoing_messages",
        ["tenant_id", "instance_id", "provider_message_id"],
        postgresql_where=sa.text("provider_message_id is not null"),
    )
    op.create_index(
        "ix_outgoing_sent_at",
        "outgoing_messages",
        ["sent_at"],
        postgresql_where=sa.text("provider_message_id is not null"),
    )
    op.create_index("ix_policy_decisions_created", "policy_decisions", ["created_at"])
    op.create_index(
        "ix_rounds_ended", "rounds", ["ended_at"], postgresql_where=sa.text("ended_at is not null")
    )
    op.create_index(
        "ix_consent_events_opt_out_message",
        "consent_events",
        ["message_id"],
        postgresql_where=sa.text("kind = 'opt_out' and message_id is not null"),
    )
    op.create_index(
        "ix_consent_events_opt_out_created",
        "consent_events",
        ["created_at"],
        postgresql_where=sa.text("kind = 'opt_out' and message_id is not null"),
    )


def downgrade() -> None:
    op.drop_index("ix_consent_events_opt_out_created", table_name="consent_events")
    op.drop_index("ix_consent_events_opt_out_message", table_name="consent_events")
    op.drop_index("ix_rounds_ended", table_name="rounds")
    op.drop_index("ix_policy_decisions_created", table_name="policy_decisions")
    op.drop_index("ix_outgoing_sent_at", table_name="outgoing_messages")
    op.drop_index("ix_outgoing_provider_id", table_name="outgoing_messages")
    op.drop_index("ix_messages_outbound_remote", table_name="messages")
    op.drop_index("ix_messages_updated", table_name="messages")
    op.drop_table("metrics_refresh_state")
    op.drop_table("metrics_round_hours")
    op.drop_table("metrics_decision_hours")
    op.drop_table("metrics_tenant_hours")
    op.drop_table("metrics_number_days")
    op.drop_table("metrics_message_hours")
