"""metrics: the message, policy-decision and round rollups split by warm-up conversation (the
Métricas page's and the API's conversation filter); the nil UUID when none

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-30 18:30:00.000000

The rows folded before this migration carry the nil conversation: run
``mirage metrics rebuild`` once after upgrading to split the history too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NIL = "'00000000-0000-0000-0000-000000000000'::uuid"

# table -> (its unique key's name, the key's columns before the conversation)
_KEYS = {
    "metrics_message_hours": (
        "uq_metrics_message_hours_key",
        ["tenant_id", "hour", "instance_id", "direction", "kind"],
    ),
    "metrics_decision_hours": (
        "uq_metrics_decision_hours_key",
        ["tenant_id", "hour", "instance_id", "action", "reason"],
    ),
    "metrics_round_hours": ("uq_metrics_round_hours_key", ["tenant_id", "hour", "state"]),
}


def upgrade() -> None:
    for table, (key, columns) in _KEYS.items():
        op.add_column(
            table,
            sa.Column("conversation_id", sa.UUID(), server_default=sa.text(NIL), nullable=False),
        )
        op.drop_constraint(key, table, type_="unique")
        op.create_unique_constraint(key, table, [*columns, "conversation_id"])
        # The conversation filter reads one conversation's hours of the period.
        op.create_index(
            f"ix_{table}_conversation",
            table,
            ["tenant_id", "conversation_id", "hour"],
            postgresql_where=sa.text(f"conversation_id <> {NIL}"),
        )


def downgrade() -> None:
    for table, (key, columns) in _KEYS.items():
        op.drop_index(f"ix_{table}_conversation", table_name=table)
        op.drop_constraint(key, table, type_="unique")
        # The old key cannot hold a conversation's rows: run `mirage metrics rebuild` after.
        op.execute(f"delete from {table}")
        op.drop_column(table, "conversation_id")
        op.create_unique_constraint(key, table, columns)
