"""Helpers used by migrations to put a table under tenant isolation."""

from __future__ import annotations

from alembic import op

TENANT_EXPR = "nullif(current_setting('app.tenant_id', true), '')::uuid"
USER_EXPR = "nullif(current_setting('app.user_id', true), '')::uuid"


def enable_tenant_rls(table: str, *, extra_using: str | None = None) -> None:
    """ENABLE + FORCE RLS with the fail-closed tenant policy; grant DML to the runtime roles.

    ``extra_using`` widens what may be *read* (never what may be written).
    """
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    using = f"tenant_id = (select {TENANT_EXPR})"
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({using})")
    if extra_using:
        op.execute(f"CREATE POLICY tenant_read_extra ON {table} FOR SELECT USING ({extra_using})")
    grant_dml(table)


def grant_dml(table: str) -> None:
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO mirage_app, mirage_admin")
