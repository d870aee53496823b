"""cache invalidation: every committed change to the rows the processes cache (tenant settings,
tenants, system flags, outreach policies, an instance's webhook identity) is announced on the
``mirage_cache`` channel, whoever wrote it (the app, a script, psql)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 15:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
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

# (table, the column naming the row's tenant, the columns the caches hold: None = all)
_WATCHED: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("tenant_settings", "tenant_id", None),
    ("tenants", "id", None),
    ("system_flags", "", None),
    ("outreach_policies", "tenant_id", None),
    # Only what the webhook receiver caches: its state changes all the time and matters not.
    ("instances", "tenant_id", ("gateway_name", "webhook_secret_enc", "token_enc")),
)


def upgrade() -> None:
    op.execute(_FUNCTION)
    for table, tenant_column, columns in _WATCHED:
        arg = f"'{tenant_column}'"
        if columns is None:
            op.execute(
                f"create trigger {table}_cache after insert or update or delete on {table} "
                f"for each row execute function mirage_cache_changed({arg})"
            )
            continue
        changed = " or ".join(f"old.{c} is distinct from new.{c}" for c in columns)
        op.execute(
            f"create trigger {table}_cache after insert or delete on {table} "
            f"for each row execute function mirage_cache_changed({arg})"
        )
        op.execute(
            f"create trigger {table}_cache_update after update on {table} "
            f"for each row when ({changed}) execute function mirage_cache_changed({arg})"
        )


def downgrade() -> None:
    for table, _tenant_column, columns in _WATCHED:
        op.execute(f"drop trigger if exists {table}_cache on {table}")
        if columns is not None:
            op.execute(f"drop trigger if exists {table}_cache_update on {table}")
    op.execute("drop function if exists mirage_cache_changed()")
