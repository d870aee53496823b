"""outgoing messages: a small index of the open ones (planned, sending) for the reaper

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 04:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # messaging.reap_all asks every minute which tenants have overdue open messages. Open
    # messages are few whatever the history (sent ones are most of the table), so a partial
    # index keeps that question cheap at ten million messages.
    op.create_index(
        "ix_outgoing_open_planned_at",
        "outgoing_messages",
        ["planned_at"],
        postgresql_where="status in ('planned', 'sending')",
    )


def downgrade() -> None:
    op.drop_index("ix_outgoing_open_planned_at", table_name="outgoing_messages")
