"""outreach engagement as number-safety signals: two signal kinds (``unanswered``: many campaign
messages in a row since anyone replied; ``low_replies``: the week's reply ratio under the floor)
and the index that reads a sender's campaign messages of the last week; the language of the
alert e-mails (a tenant setting, pt_BR by default)

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
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
    "band_changed",
    "auto_paused",
    "quarantined",
    "released",
    "recovery",
)
AFTER = (*BEFORE[:7], "unanswered", "low_replies", *BEFORE[7:])


def _kinds(kinds: tuple[str, ...]) -> None:
    # 0023 named the check in full and the naming convention may have prefixed it again:
    # drop either, and create it under the name the model gives.
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
    op.create_index(
        "ix_campaign_recipients_sender_sent",
        "campaign_recipients",
        ["tenant_id", "sender_id", "sent_at"],
        postgresql_where="sent_at is not null",
    )
    op.add_column(
        "tenant_settings",
        sa.Column("alert_email_locale", sa.String(8), server_default="pt_BR", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_tenant_settings_alert_email_locale"),
        "tenant_settings",
        "alert_email_locale in ('pt_BR', 'en')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenant_settings_alert_email_locale"), "tenant_settings")
    op.drop_column("tenant_settings", "alert_email_locale")
    op.drop_index("ix_campaign_recipients_sender_sent", table_name="campaign_recipients")
    op.execute("delete from number_signals where kind in ('unanswered', 'low_replies')")
    _kinds(BEFORE)
