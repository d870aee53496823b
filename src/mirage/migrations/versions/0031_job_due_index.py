"""the next job to fall due: a worker with nothing due asks when the next scheduled job of
its queues falls due and wakes then (``mirage.worker.NEXT_DUE_SQL``), after every fetch that
found nothing — a read of this partial index, however many jobs wait.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01 04:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_procrastinate_jobs_todo_due",
        "procrastinate_jobs",
        ["scheduled_at"],
        postgresql_where="status = 'todo' and scheduled_at is not null",
    )


def downgrade() -> None:
    op.drop_index("ix_procrastinate_jobs_todo_due", table_name="procrastinate_jobs")
