"""cache invalidation for two more reads of every send decision: a number's risk signals and
its conversation's state and schedule (announced on ``mirage_cache`` like migration 0024's)

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 18:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns the planner moves all the time (every round) and no cached read uses: their changes
# alone are not announced.
_CONVERSATION_BUSY = (
    "next_round_at",
    "last_round_at",
    "waiting_reason",
    "waiting_since",
    "slots_until",
)


def upgrade() -> None:
    # Signals are appended (and pruned): any change announces the number's tenant.
    op.execute(
        "create trigger number_signals_cache after insert or update or delete on number_signals "
        "for each row execute function mirage_cache_changed('tenant_id')"
    )
    minus = "".join(f" - '{c}'" for c in _CONVERSATION_BUSY)
    op.execute(
        "create trigger conversations_cache after insert or delete on conversations "
        "for each row execute function mirage_cache_changed('tenant_id')"
    )
    op.execute(
        "create trigger conversations_cache_update after update on conversations for each row "
        f"when ((to_jsonb(old){minus}) is distinct from (to_jsonb(new){minus})) "
        "execute function mirage_cache_changed('tenant_id')"
    )


def downgrade() -> None:
    op.execute("drop trigger if exists number_signals_cache on number_signals")
    op.execute("drop trigger if exists conversations_cache on conversations")
    op.execute("drop trigger if exists conversations_cache_update on conversations")
