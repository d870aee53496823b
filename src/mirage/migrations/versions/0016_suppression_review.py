"""suppressions: a reason `review` for a probable opt-out (an inbound reply such as "me deixa
em paz"): automatic sends stop at once and a person confirms it (an opt-out) or lifts it

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 12:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REASONS = "('opt_out', 'blocked', 'complaint', 'manual', 'data_request')"
NEW_REASONS = "('opt_out', 'blocked', 'complaint', 'manual', 'data_request', 'review')"


# 0007 named the check "ck_suppressions_reason_valid" and the naming convention prefixed it
# again; the model's name gives "ck_suppressions_reason_valid". Either may exist: drop both.
DROP_CHECK = (
    "alter table suppressions "
    "drop constraint if exists ck_suppressions_ck_suppressions_reason_valid, "
    "drop constraint if exists ck_suppressions_reason_valid"
)


def upgrade() -> None:
    # The table's RLS policy and grants are unchanged: only the values a reason may take.
    op.execute(DROP_CHECK)
    op.create_check_constraint(
        op.f("ck_suppressions_reason_valid"), "suppressions", f"reason in {NEW_REASONS}"
    )


def downgrade() -> None:
    # A number waiting for review stays off limits: it becomes a manual suppression (an admin
    # can still lift it), never a silent return to the audience.
    op.execute("update suppressions set reason = 'manual' where reason = 'review'")
    op.execute(DROP_CHECK)
    op.create_check_constraint(
        op.f("ck_suppressions_reason_valid"), "suppressions", f"reason in {OLD_REASONS}"
    )
