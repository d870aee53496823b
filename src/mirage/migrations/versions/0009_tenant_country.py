"""tenants: the country (ISO 3166-1 alpha-2) whose numbering plan is the default for phones

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A global table: its RLS policy and grants cover the new column as they are. Every
    # tenant so far is Brazilian (the product's default).
    op.add_column(
        "tenants",
        sa.Column("country", sa.String(length=2), server_default="BR", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_tenants_country_valid"), "tenants", "country ~ '^[A-Z]{2}$'"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_country_valid"), "tenants")
    op.drop_column("tenants", "country")
