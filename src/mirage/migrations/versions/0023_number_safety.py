"""number safety: the append-only signal timeline per number (forced RLS, no UPDATE/DELETE for
the runtime role), the number's last risk score and band, and the tenant's band thresholds

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
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
# (column, default): docs/number-safety.md gives each default's source.
SETTINGS = (
    ("risk_yellow_from", 20),
    ("risk_orange_from", 40),
    ("risk_red_from", 60),
    ("risk_critical_from", 80),
    ("risk_half_life_minutes", 120),
    ("band_new_contacts_per_day", 5),
    ("auto_pause_error_pct", 50),
    ("auto_pause_min_sends", 5),
    ("auto_pause_score_jump", 20),
)


def upgrade() -> None:
    op.create_table(
        "number_signals",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.UUID(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "instance_id",
            sa.UUID(),
            sa.ForeignKey("instances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.CheckConstraint(f"kind in {KINDS!r}", name="ck_number_signals_kind_valid"),
    )
    op.create_index(
        "ix_number_signals_instance", "number_signals", ["tenant_id", "instance_id", "at"]
    )
    enable_tenant_rls("number_signals")
    # The timeline is append-only for the runtime role: its rows leave only with their number
    # or tenant (the foreign keys' cascade, run by the table owner), never by UPDATE or DELETE.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON number_signals FROM mirage_app")

    op.add_column("instances", sa.Column("risk_score", sa.Integer(), nullable=True))
    op.add_column("instances", sa.Column("risk_band", sa.String(length=10), nullable=True))
    # The recovery ladder: attempts made, and when the number is looked at again.
    op.add_column(
        "instances",
        sa.Column("recovery_attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("instances", sa.Column("recovery_at", sa.DateTime(timezone=True)))
    for name, default in SETTINGS:
        op.add_column(
            "tenant_settings",
            sa.Column(name, sa.Integer(), server_default=str(default), nullable=False),
        )
    op.create_check_constraint(
        op.f("ck_tenant_settings_risk_bands"),
        "tenant_settings",
        "0 < risk_yellow_from and risk_yellow_from < risk_orange_from "
        "and risk_orange_from < risk_red_from and risk_red_from < risk_critical_from "
        "and risk_critical_from <= 100 and risk_half_life_minutes between 1 and 10080 "
        "and band_new_contacts_per_day >= 0 and auto_pause_error_pct between 1 and 100 "
        "and auto_pause_min_sends >= 1 and auto_pause_score_jump between 1 and 100",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenant_settings_risk_bands"), "tenant_settings")
    for name, _default in reversed(SETTINGS):
        op.drop_column("tenant_settings", name)
    op.drop_column("instances", "recovery_at")
    op.drop_column("instances", "recovery_attempts")
    op.drop_column("instances", "risk_band")
    op.drop_column("instances", "risk_score")
    op.drop_index("ix_number_signals_instance", table_name="number_signals")
    op.drop_table("number_signals")
