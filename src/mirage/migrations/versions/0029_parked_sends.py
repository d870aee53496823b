"""parked sends: a planned message whose number was busy typing another waits, without a job
of its own, for that send to finish (``parked_at``); the send that finishes claims the number's
next parked message itself. The partial index is that question ("this number's next parked
message"), and the reaper's ("parked messages no send will wake").

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30 23:59:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outgoing_messages", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_outgoing_parked",
        "outgoing_messages",
        ["instance_id", "planned_at"],
        postgresql_where="status = 'planned' and parked_at is not null",
    )


def downgrade() -> None:
    op.drop_index("ix_outgoing_parked", table_name="outgoing_messages")
    op.drop_column("outgoing_messages", "parked_at")
