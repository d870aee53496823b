"""db.engine.pipelined_one: the hot path's one-round-trip transaction keeps the tenancy rule.

Its connections are autocommit: the context and the statement run in the implicit transaction
of one pipeline, so the transaction-local settings must end with it (never leak to the next
user of the pooled connection), a failed statement must leave nothing behind, and RLS applies.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text

from mirage.db.engine import Database, pipelined_one
from mirage.db.tenancy import tenant_context
from tests import factories

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def new_tenant(bootstrap_conninfo: str):  # type: ignore[no-untyped-def]
    def make() -> uuid.UUID:
        with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
            return factories.tenant(conn)

    return make


_SETTINGS = text(
    "select current_setting('app.tenant_id', true), current_setting('app.user_id', true), "
    "pg_backend_pid()"
)
_COUNT_TENANTS = text("select count(*) from tenants where id = :id")
_INSERT_TWICE = text(
    "with a as (insert into tenant_settings (id, tenant_id) values (gen_random_uuid(), :t)) "
    "insert into tenant_settings (id, tenant_id) values (gen_random_uuid(), :t) "
    "returning tenant_id"
)
_FAIL = text("select 1 / cast(:zero as int)")
_INSERT = text(
    "insert into tenant_settings (id, tenant_id) values (gen_random_uuid(), :t) returning tenant_id"
)


async def test_the_context_applies_inside_and_never_outlives_the_transaction(
    database: Database, new_tenant
) -> None:
    t = new_tenant()
    user = uuid.uuid4()
    with tenant_context(t, user):
        inside = await pipelined_one(_SETTINGS, {})
    assert inside is not None and inside[:2] == (str(t), str(user))
    # Every pooled connection (the pool is small; ask more times than it has connections)
    # shows no context afterwards.
    for _ in range(database.hot_pool_size * 3):
        after = await pipelined_one(_SETTINGS, {})
        assert after is not None and after[:2] == ("", "")


async def test_rls_applies_to_the_pipelined_statement(new_tenant) -> None:
    mine, other = new_tenant(), new_tenant()
    with tenant_context(mine):
        assert await pipelined_one(_COUNT_TENANTS, {"id": mine}) == (1,)
        assert await pipelined_one(_COUNT_TENANTS, {"id": other}) == (0,)
    # No context: no rows (fail closed), and a write for another tenant is refused.
    assert await pipelined_one(_COUNT_TENANTS, {"id": mine}) == (0,)
    with tenant_context(mine), pytest.raises(psycopg.errors.InsufficientPrivilege):
        await pipelined_one(_INSERT, {"t": other})


async def test_a_failed_statement_leaves_nothing_and_the_pool_usable(
    bootstrap_conninfo: str, new_tenant
) -> None:
    t = new_tenant()
    with tenant_context(t), pytest.raises(psycopg.errors.DivisionByZero):
        await pipelined_one(_FAIL, {"zero": 0})
    with tenant_context(t), pytest.raises(psycopg.errors.UniqueViolation):
        # The second statement fails: the whole implicit transaction is rolled back.
        await pipelined_one(_INSERT_TWICE, {"t": t})
    with tenant_context(t):
        assert await pipelined_one(_INSERT, {"t": t}) == (t,)
    with psycopg.connect(bootstrap_conninfo) as conn:
        stored = conn.execute(
            "select count(*) from tenant_settings where tenant_id = %s", (t,)
        ).fetchone()
    assert stored == (1,)
    after = await pipelined_one(_SETTINGS, {})
    assert after is not None and after[:2] == ("", "")


async def test_a_connection_the_server_closed_is_replaced(
    database: Database, bootstrap_conninfo: str
) -> None:
    """What pre-ping is for the engines: after a restart (here: every hot connection
    terminated), the next call gets a fresh connection instead of failing."""
    await pipelined_one(_SETTINGS, {})
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        conn.execute(
            # This database's only: the cluster is shared with the other test workers,
            # whose requests in flight on their own hot connections must not be cut.
            "select pg_terminate_backend(pid, 5000) from pg_stat_activity "
            "where application_name like %s and datname = current_database()",
            ("%:app-hot",),
        )
    for _ in range(database.hot_pool_size + 1):
        row = await pipelined_one(_SETTINGS, {})
        assert row is not None and row[:2] == ("", "")
