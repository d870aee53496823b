"""delivery and read ratios and the day's new contacts as number-safety signals: three signal
kinds (``low_delivery``, ``low_reads``, ``new_contacts``), written by the periodic
``safety.assess_tenant`` job

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = (
    "disconnect",
    "send_failed",
    "not_acked",
    "time_lock",
    "opt_out",
    "blocked",
    "qr_loop",
    "unanswered",
    "low_replies",
    "band_changed",
    "auto_paused",
    "quarantined",
    "released",
    "recovery",
)
NEW = ("low_delivery", "low_reads", "new_contacts")
AFTER = (*BEFORE[:9], *NEW, *BEFORE[9:])


def _kinds(kinds: tuple[str, ...]) -> None:
    # The table keeps its forced row-level security and policies: only the check changes.
    op.execute(
        "alter table number_signals "
        "drop constraint if exists ck_number_signals_ck_number_signals_kind_valid, "
        "drop constraint if exists ck_number_signals_kind_valid"
    )
    op.create_check_constraint(
        op.f("ck_number_signals_kind_valid"), "number_signals", f"kind in {kinds!r}"
    )


def upgrade() -> None:
    _kinds(AFTER)


def downgrade() -> None:
    # Explicit maintenance: the rows of the dropped kinds go, in every tenant. Forced row-level
    # security binds the owner too (no tenant is set here, so the policy would match no row):
    # lifted for this one statement, inside the migration's transaction, and put back.
    op.execute("alter table number_signals no force row level security")
    op.execute(f"delete from number_signals where kind in {NEW!r}")
    op.execute("alter table number_signals force row level security")
    _kinds(BEFORE)
