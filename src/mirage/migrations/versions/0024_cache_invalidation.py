"""cache invalidation: every committed change to the rows the processes cache (tenant settings,
tenants, system flags, outreach policies, instances) is announced on the
``mirage_cache`` channel, whoever wrote it (the app, a script, psql)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 15:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# NOTIFY is transactional: the message is delivered when (and only if) the writing transaction
# commits, and duplicates within one transaction are sent once. The payload is the table and
# the tenant of the row ("" for a global row): kit/cache.py drops that tenant's entries.
_FUNCTION = """
create function mirage_cache_changed() returns trigger language plpgsql as $$
declare
  row_data jsonb := to_jsonb(case when tg_op = 'DELETE' then old else new end);
begin
  perform pg_notify(
    'mirage_cache',
    tg_table_name || ' ' || coalesce(row_data ->> nullif(tg_argv[0], ''), '')
  );
  return null;
end
$$;
"""

# (table, the column naming the row's tenant, columns whose changes alone are not announced)
_WATCHED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tenant_settings", "tenant_id", ()),
    ("tenants", "id", ()),
    ("system_flags", "", ()),
    ("outreach_policies", "tenant_id", ()),
    # An instance's event and reconciliation times move all the time (every webhook, every
    # minute) and no cached read uses them.
    ("instances", "tenant_id", ("last_event_at", "last_reconciled_at")),
)


def upgrade() -> None:
    op.execute(_FUNCTION)
    for table, tenant_column, ignored in _WATCHED:
        arg = f"'{tenant_column}'"
        if not ignored:
            op.execute(
                f"create trigger {table}_cache after insert or update or delete on {table} "
                f"for each row execute function mirage_cache_changed({arg})"
            )
            continue
        minus = "".join(f" - '{c}'" for c in ignored)
        op.execute(
            f"create trigger {table}_cache after insert or delete on {table} "
            f"for each row execute function mirage_cache_changed({arg})"
        )
        op.execute(
            f"create trigger {table}_cache_update after update on {table} for each row "
            f"when ((to_jsonb(old){minus}) is distinct from (to_jsonb(new){minus})) "
            f"execute function mirage_cache_changed({arg})"
        )


def downgrade() -> None:
    for table, _tenant_column, ignored in _WATCHED:
        op.execute(f"drop trigger if exists {table}_cache on {table}")
        if ignored:
            op.execute(f"drop trigger if exists {table}_cache_update on {table}")
    op.execute("drop function if exists mirage_cache_changed()")
