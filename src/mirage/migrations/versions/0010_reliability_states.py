"""reliability: rounds that say what happened, conversations that wait for their numbers,
numbers an operator can pause

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 03:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROUND_STATES = (
    "('planned', 'running', 'completed', 'timed_out', 'blocked', 'failed', 'cancelled')"
)
NEW_ROUND_STATES = (
    "('planned', 'running', 'completed', 'timed_out', 'blocked', 'failed', 'cancelled', "
    "'unsent', 'unknown')"
)


def upgrade() -> None:
    # Existing tenant tables: their RLS policies and grants cover the new columns as they are.
    # A round whose turn could not be sent (`unsent`) or whose send was never confirmed
    # (`unknown`) is no longer reported as "failed" or "timed out".
    op.drop_constraint(op.f("ck_rounds_state_valid"), "rounds")
    op.create_check_constraint(
        op.f("ck_rounds_state_valid"), "rounds", f"state in {NEW_ROUND_STATES}"
    )
    # A conversation whose numbers cannot send waits (once, with the reason shown) instead of
    # creating a blocked round every minute; it resumes by itself when two numbers can send.
    op.add_column("conversations", sa.Column("waiting_reason", sa.String(length=200)))
    op.add_column("conversations", sa.Column("waiting_since", sa.DateTime(timezone=True)))
    # An operator's pause of a number: every send from it is refused by the policy.
    op.add_column("instances", sa.Column("paused_at", sa.DateTime(timezone=True)))
    op.add_column("instances", sa.Column("paused_reason", sa.String(length=200)))


def downgrade() -> None:
    op.drop_column("instances", "paused_reason")
    op.drop_column("instances", "paused_at")
    op.drop_column("conversations", "waiting_since")
    op.drop_column("conversations", "waiting_reason")
    op.execute("update rounds set state = 'failed' where state in ('unsent', 'unknown')")
    op.drop_constraint(op.f("ck_rounds_state_valid"), "rounds")
    op.create_check_constraint(
        op.f("ck_rounds_state_valid"), "rounds", f"state in {OLD_ROUND_STATES}"
    )
