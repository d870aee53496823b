"""audit log: the user agent of each event, an index for the audit page's filters, and the
log made append-only for the runtime role

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("user_agent", sa.String(512), nullable=True))
    op.create_index(
        "ix_audit_events_tenant_action", "audit_events", ["tenant_id", "action", "created_at"]
    )
    # Nothing the application does may rewrite history: rows leave only with their tenant
    # (the foreign key's cascade, run as the table's owner), never by UPDATE or DELETE.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM mirage_app")


def downgrade() -> None:
    op.execute("GRANT UPDATE, DELETE ON audit_events TO mirage_app")
    op.drop_index("ix_audit_events_tenant_action", table_name="audit_events")
    op.drop_column("audit_events", "user_agent")
