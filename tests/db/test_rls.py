"""Tenant isolation, proven against the catalog for every table that has a tenant_id."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy import text

from mirage.db.engine import make_database
from mirage.db.tenancy import tenant_context
from mirage.db.urls import RoleUrls
from tests.factories import FACTORIES, tenant

pytestmark = pytest.mark.usefixtures("database")


def _tenant_tables(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select c.table_name from information_schema.columns c "
            "join information_schema.tables t using (table_schema, table_name) "
            "where c.table_schema = 'public' and c.column_name = 'tenant_id' "
            "and t.table_type = 'BASE TABLE' order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_every_tenant_table_has_forced_rls_and_a_policy(bootstrap_conninfo: str) -> None:
    tables = _tenant_tables(bootstrap_conninfo)
    assert {"memberships", "api_tokens", "audit_events"} <= set(tables)
    with psycopg.connect(bootstrap_conninfo) as conn:
        for table in tables:
            enabled, forced = conn.execute(
                "select relrowsecurity, relforcerowsecurity from pg_class where oid = %s::regclass",
                (table,),
            ).fetchone()  # type: ignore[misc]
            policies = conn.execute(
                "select count(*) from pg_policies where schemaname = 'public' and tablename = %s",
                (table,),
            ).fetchone()[0]  # type: ignore[index]
            assert enabled and forced, f"{table}: RLS must be enabled and forced"
            assert policies >= 1, f"{table}: no RLS policy"


def test_every_tenant_table_has_a_factory(bootstrap_conninfo: str) -> None:
    missing = set(_tenant_tables(bootstrap_conninfo)) - set(FACTORIES)
    assert not missing, f"add a factory in tests/factories.py for: {sorted(missing)}"


def test_app_role_is_unprivileged_and_owns_nothing(bootstrap_conninfo: str) -> None:
    with psycopg.connect(bootstrap_conninfo) as conn:
        sup, bypass = conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = 'mirage_app'"
        ).fetchone()  # type: ignore[misc]
        owned = conn.execute(
            "select count(*) from pg_class c join pg_roles r on r.oid = c.relowner "
            "where r.rolname = 'mirage_app'"
        ).fetchone()[0]  # type: ignore[index]
        owner_super = conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = 'mirage_owner'"
        ).fetchone()
    assert (sup, bypass) == (False, False)
    assert owned == 0
    assert owner_super == (False, False)


def test_no_view_escapes_rls(bootstrap_conninfo: str) -> None:
    with psycopg.connect(bootstrap_conninfo) as conn:
        unsafe = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('v', 'm') and not coalesce("
            "'security_invoker=true' = any(c.reloptions), false)"
        ).fetchall()
    assert unsafe == [], "views must be security_invoker (materialized views cannot carry RLS)"


def _as_app(conn: psycopg.Connection, tenant_id: uuid.UUID | None) -> None:
    conn.execute("set local role mirage_app")
    conn.execute("select set_config('app.tenant_id', %s, true)", (str(tenant_id or ""),))


@pytest.mark.parametrize("table", sorted(FACTORIES))
def test_isolation_matrix(bootstrap_conninfo: str, table: str) -> None:
    factory = FACTORIES[table]
    t = sql.Identifier(table)
    with psycopg.connect(bootstrap_conninfo) as conn, conn.transaction(force_rollback=True):
        a, b = tenant(conn), tenant(conn)
        row_a, row_b = factory(conn, a), factory(conn, b)

        # No context at all: nothing is visible (fail closed).
        with conn.transaction():
            _as_app(conn, None)
            n = conn.execute(sql.SQL("select count(*) from {}").format(t)).fetchone()[0]  # type: ignore[index]
            assert n == 0, f"{table}: rows visible without a tenant context"
            conn.execute("reset role")

        with conn.transaction():
            _as_app(conn, a)
            ids = {r[0] for r in conn.execute(sql.SQL("select id from {}").format(t))}
            assert row_a in ids and row_b not in ids, f"{table}: A sees {ids}"
            assert (
                conn.execute(
                    sql.SQL("select count(*) from {} where tenant_id <> %s").format(t), (a,)
                ).fetchone()[0]
                == 0
            )  # type: ignore[index]

            append_only = not conn.execute(
                "select has_table_privilege('mirage_app', %s, 'UPDATE')", (table,)
            ).fetchone()[0]  # type: ignore[index]
            if append_only:
                # An append-only table (the consent ledger): no UPDATE/DELETE at all.
                for stmt in (
                    "update {} set tenant_id = tenant_id where id = %s",
                    "delete from {} where id = %s",
                ):
                    with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                        conn.execute(sql.SQL(stmt).format(t), (row_b,))
            else:
                upd = conn.execute(
                    sql.SQL("update {} set tenant_id = tenant_id where id = %s").format(t),
                    (row_b,),
                )
                assert upd.rowcount == 0, f"{table}: A updated B's row"
                dele = conn.execute(sql.SQL("delete from {} where id = %s").format(t), (row_b,))
                assert dele.rowcount == 0, f"{table}: A deleted B's row"

            # Inserting a row for B (a copy of A's row relabelled) is rejected.
            cols = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = "
                    "'public' and table_name = %s and column_name <> 'id' "
                    "and is_generated = 'NEVER' "
                    "order by ordinal_position",
                    (table,),
                )
            ]
            select_list = sql.SQL(", ").join(
                sql.Placeholder() if c == "tenant_id" else sql.Identifier(c) for c in cols
            )
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(
                    sql.SQL("insert into {t} ({cols}) select {sel} from {t} where id = %s").format(
                        t=t, cols=sql.SQL(", ").join(map(sql.Identifier, cols)), sel=select_list
                    ),
                    (b, row_a),
                )
            # Moving A's own row to B is rejected too.
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(
                    sql.SQL("update {} set tenant_id = %s where id = %s").format(t), (b, row_a)
                )
            conn.execute("reset role")

        # B's row is untouched.
        assert (
            conn.execute(
                sql.SQL("select count(*) from {} where id = %s").format(t), (row_b,)
            ).fetchone()[0]
            == 1
        )  # type: ignore[index]


def test_owner_is_subject_to_rls_too(bootstrap_conninfo: str) -> None:
    """FORCE means even the owning role sees nothing without a context."""
    with psycopg.connect(bootstrap_conninfo) as conn, conn.transaction(force_rollback=True):
        a = tenant(conn)
        FACTORIES["api_tokens"](conn, a)
        conn.execute("set local role mirage_owner")
        assert conn.execute("select count(*) from api_tokens").fetchone()[0] == 0  # type: ignore[index]


async def test_pooled_connection_does_not_leak_context(role_urls: RoleUrls) -> None:
    """A, then no tenant, then B on one pooled connection: each sees only its own rows."""
    with psycopg.connect(RoleUrls.libpq(role_urls.bootstrap), autocommit=True) as conn:
        a, b = tenant(conn), tenant(conn)
        for _ in range(2):
            FACTORIES["api_tokens"](conn, a)
        FACTORIES["api_tokens"](conn, b)
    db = make_database(role_urls, pool_size=1)
    db.app_engine.pool._max_overflow = 0  # type: ignore[attr-defined]
    pids = set()
    try:
        seen = []
        for tid in (a, None, b, None):
            with tenant_context(tid):
                async with db.sessions() as session, session.begin():
                    pids.add((await session.execute(text("select pg_backend_pid()"))).scalar())
                    rows = (await session.execute(text("select tenant_id from api_tokens"))).all()
                    setting = (
                        await session.execute(text("select current_setting('app.tenant_id', true)"))
                    ).scalar()
                    seen.append(({r[0] for r in rows}, len(rows), setting))
        assert len(pids) == 1, "the test must reuse a single connection"
        assert seen[0] == ({a}, 2, str(a))
        assert seen[1] == (set(), 0, "")
        assert seen[2] == ({b}, 1, str(b))
        assert seen[3] == (set(), 0, "")
    finally:
        await db.dispose()
