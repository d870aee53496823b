"""safety alerts: a number entering the orange/red/critical band or quarantine opens an alert
(one open per number and kind), resolved when it comes back; each delivery attempt to the
tenant's webhook or e-mail; and the tenant's alert targets (secrets encrypted)

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mirage.migrations.rls import enable_tenant_rls

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("risk_band", "quarantine", "test")
EVENTS = ("opened", "resolved", "test")
CHANNELS = ("webhook", "email")
OUTCOMES = ("sent", "failed", "refused")


def upgrade() -> None:
    op.create_table(
        "safety_alerts",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column(
            "tenant_id", sa.UUID(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "instance_id",
            sa.UUID(),
            sa.ForeignKey("instances.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("band", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_reason", sa.String(length=300), nullable=True),
        sa.CheckConstraint(f"kind in {KINDS!r}", name="ck_safety_alerts_kind_valid"),
        sa.CheckConstraint(
            "resolved_at is null or resolved_at >= opened_at",
            name="ck_safety_alerts_resolved_after",
        ),
    )
    # De-duplication in the database too: one open alert per number and kind.
    op.create_index(
        "uq_safety_alerts_open",
        "safety_alerts",
        ["tenant_id", "instance_id", "kind"],
        unique=True,
        postgresql_where=sa.text("resolved_at is null"),
    )
    op.create_index("ix_safety_alerts_opened", "safety_alerts", ["tenant_id", "opened_at"])
    enable_tenant_rls("safety_alerts")

    op.create_table(
        "safety_alert_deliveries",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column(
            "tenant_id", sa.UUID(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "alert_id",
            sa.UUID(),
            sa.ForeignKey("safety_alerts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("final", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"event in {EVENTS!r}", name="ck_safety_alert_deliveries_event_valid"),
        sa.CheckConstraint(
            f"channel in {CHANNELS!r}", name="ck_safety_alert_deliveries_channel_valid"
        ),
        sa.CheckConstraint(
            f"outcome in {OUTCOMES!r}", name="ck_safety_alert_deliveries_outcome_valid"
        ),
    )
    op.create_index(
        "ix_safety_alert_deliveries_alert",
        "safety_alert_deliveries",
        ["tenant_id", "alert_id", "at"],
    )
    enable_tenant_rls("safety_alert_deliveries")
    # The attempts are a record: the runtime role adds them, never changes or removes them.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON safety_alert_deliveries FROM mirage_app")

    op.add_column("tenant_settings", sa.Column("alert_webhook_url", sa.String(300)))
    op.add_column("tenant_settings", sa.Column("alert_webhook_secret_enc", sa.Text()))
    op.add_column(
        "tenant_settings", sa.Column("alert_email_to", postgresql.JSONB(astext_type=sa.Text()))
    )
    op.add_column("tenant_settings", sa.Column("alert_email_from", sa.String(254)))
    op.add_column("tenant_settings", sa.Column("alert_smtp_host", sa.String(253)))
    op.add_column("tenant_settings", sa.Column("alert_smtp_port", sa.Integer()))
    op.add_column(
        "tenant_settings",
        sa.Column("alert_smtp_security", sa.String(10), server_default="starttls", nullable=False),
    )
    op.add_column("tenant_settings", sa.Column("alert_smtp_username", sa.String(254)))
    op.add_column("tenant_settings", sa.Column("alert_smtp_password_enc", sa.Text()))
    op.create_check_constraint(
        op.f("ck_tenant_settings_alert_targets"),
        "tenant_settings",
        "alert_smtp_security in ('starttls', 'tls', 'none') "
        "and (alert_smtp_port is null or alert_smtp_port between 1 and 65535) "
        "and (alert_webhook_url is null or alert_webhook_secret_enc is not null)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenant_settings_alert_targets"), "tenant_settings")
    for name in (
        "alert_smtp_password_enc",
        "alert_smtp_username",
        "alert_smtp_security",
        "alert_smtp_port",
        "alert_smtp_host",
        "alert_email_from",
        "alert_email_to",
        "alert_webhook_secret_enc",
        "alert_webhook_url",
    ):
        op.drop_column("tenant_settings", name)
    op.drop_index("ix_safety_alert_deliveries_alert", table_name="safety_alert_deliveries")
    op.drop_table("safety_alert_deliveries")
    op.drop_index("ix_safety_alerts_opened", table_name="safety_alerts")
    op.drop_index("uq_safety_alerts_open", table_name="safety_alerts")
    op.drop_table("safety_alerts")
