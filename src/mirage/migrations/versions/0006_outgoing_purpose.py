"""outgoing messages: the purpose that names their owner (warm-up round, campaign)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An existing tenant table: its RLS policy and grants cover the new column as they are.
    # Every message written so far belongs to a warm-up round.
    op.add_column(
        "outgoing_messages",
        sa.Column("purpose", sa.String(length=16), server_default="warmup", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_outgoing_messages_purpose_valid"),
        "outgoing_messages",
        "purpose in ('warmup', 'campaign')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_outgoing_messages_purpose_valid"), "outgoing_messages")
    op.drop_column("outgoing_messages", "purpose")
