"""mfa: TOTP enrollment on users, single-use recovery codes, step-up on sessions and tokens,
the tenant's MFA rule (mandatory for owners and admins, step-up window)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mirage.migrations.rls import grant_dml

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The TOTP secret belongs to the person (global, like the password hash), encrypted at rest
    # with the deployment's secret key; the pending one exists between "show the QR code" and
    # "confirm with a code". The last accepted time step makes every code single-use.
    op.add_column("users", sa.Column("mfa_secret_enc", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("mfa_pending_enc", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("mfa_enabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("mfa_last_step", sa.BigInteger(), nullable=True))
    # Recovery codes: a global table like users and user_sessions (read before any tenant is
    # known; rows are reached through the signed-in user's id only). argon2id hashes.
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mfa_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_recovery_codes")),
    )
    op.create_index("ix_mfa_recovery_codes_user", "mfa_recovery_codes", ["user_id"])
    grant_dml("mfa_recovery_codes")
    # The session's last MFA verification (step-up lasts the tenant's window from it).
    op.add_column(
        "user_sessions",
        sa.Column("mfa_verified_at", sa.DateTime(timezone=True), nullable=True),
    )
    # A token created under a step-up may do the sensitive operations (with the admin scope).
    op.add_column(
        "api_tokens",
        sa.Column("step_up", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column(
        "tenant_settings",
        sa.Column("mfa_required", sa.Boolean(), server_default="true", nullable=False),
    )
    op.add_column(
        "tenant_settings",
        sa.Column("step_up_minutes", sa.Integer(), server_default="10", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_tenant_settings_step_up_minutes"),
        "tenant_settings",
        "step_up_minutes between 1 and 240",
    )


def downgrade() -> None:
    op.drop_constraint("ck_tenant_settings_step_up_minutes", "tenant_settings", type_="check")
    op.drop_column("tenant_settings", "step_up_minutes")
    op.drop_column("tenant_settings", "mfa_required")
    op.drop_column("api_tokens", "step_up")
    op.drop_column("user_sessions", "mfa_verified_at")
    op.drop_index("ix_mfa_recovery_codes_user", table_name="mfa_recovery_codes")
    op.drop_table("mfa_recovery_codes")
    op.drop_column("users", "mfa_last_step")
    op.drop_column("users", "mfa_enabled_at")
    op.drop_column("users", "mfa_pending_enc")
    op.drop_column("users", "mfa_secret_enc")
