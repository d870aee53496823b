"""The read cache (kit.cache): a cached read costs no statement, a change committed anywhere —
another process, psql — empties it on this process, entries are the reading tenant's only,
and nothing is served while this process cannot hear the announcements."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import event

from mirage.db import engine as db_engine
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import cache
from mirage.models import Instance
from mirage.tenants import settings as tenant_settings
from tests.conftest import TenantFixture, eventually


@contextmanager
def statements() -> Iterator[list[str]]:
    """The statements this process's app engine runs meanwhile."""
    seen: list[str] = []

    def count(conn: object, cursor: object, sql: str, *args: object) -> None:
        seen.append(sql)

    engine = db_engine.get_database().app_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def _current(tenant_id: uuid.UUID) -> tenant_settings.Current:
    with tenant_context(tenant_id):
        async with session_scope() as session:
            return await tenant_settings.current(session, tenant_id)


async def cached(tenant_id: uuid.UUID) -> tenant_settings.Current:
    """The tenant's settings once a read is served from the cache, without a statement (the
    first read creates the settings row, and that change's own announcement empties the
    entry once more)."""

    async def from_cache() -> tenant_settings.Current | None:
        with statements() as seen:
            current = await _current(tenant_id)
        return current if not seen else None

    return await eventually(from_cache, what="a read served from the cache")  # type: ignore[no-any-return]


async def _other_process(conninfo: str, sql: str) -> None:
    """Run ``sql`` from another OS process (as psql would)."""
    code = "import psycopg, sys; psycopg.connect(sys.argv[1], autocommit=True).execute(sys.argv[2])"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, conninfo, sql)
    assert await proc.wait() == 0


async def test_a_change_committed_by_another_process_reaches_this_one(
    tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    assert await cache.listener.wait_connected()
    cap = (await cached(tenant_a.tenant_id)).row.hourly_cap_per_number

    await _other_process(
        bootstrap_conninfo,
        f"update tenant_settings set hourly_cap_per_number = {cap + 7} "
        f"where tenant_id = '{tenant_a.tenant_id}'",
    )

    # The entry would live for minutes: only the commit's announcement can empty it.
    async def seen_here() -> bool:
        return (await _current(tenant_a.tenant_id)).row.hourly_cap_per_number == cap + 7

    await eventually(seen_here, timeout_s=10, what="the other process's change seen here")


async def test_a_write_of_this_process_applies_to_its_very_next_read(
    tenant_a: TenantFixture,
) -> None:
    assert await cache.listener.wait_connected()
    tid = tenant_a.tenant_id
    assert (await cached(tid)).row.kill_switch is False
    with tenant_context(tid):
        async with session_scope() as session:
            row = await tenant_settings.get_or_create(session, tid)
            row.kill_switch = True
    # No wait for the announcement: the commit emptied this process's entries itself.
    assert (await _current(tid)).row.kill_switch is True


async def test_entries_are_the_reading_tenants_own(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    assert await cache.listener.wait_connected()
    a = await _current(tenant_a.tenant_id)  # A's settings now cached
    with tenant_context(tenant_b.tenant_id):
        async with session_scope() as session:
            row = await tenant_settings.get_or_create(session, tenant_b.tenant_id)
            row.daily_cap_per_number = a.row.daily_cap_per_number + 3
    b = await _current(tenant_b.tenant_id)
    assert b.row.tenant_id == tenant_b.tenant_id
    assert b.row.daily_cap_per_number == a.row.daily_cap_per_number + 3
    # Asking for A's settings under B's context is refused, never answered from the cache.
    with tenant_context(tenant_b.tenant_id):
        async with session_scope() as session:
            with pytest.raises(LookupError):
                await tenant_settings.current(session, tenant_a.tenant_id)


async def test_nothing_is_served_while_the_announcements_cannot_be_heard(
    tenant_a: TenantFixture,
) -> None:
    assert await cache.listener.wait_connected()
    await cached(tenant_a.tenant_id)
    await cache.listener.close()  # as if its connection were lost
    with statements() as seen:
        await _current(tenant_a.tenant_id)
    assert seen, "read from the database, not from a cache that may have missed a change"
    assert await cache.listener.wait_connected()  # and it comes back by itself


async def test_a_number_paused_elsewhere_is_paused_here_and_busy_columns_keep_the_entry(
    tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    from mirage.instances import service as instances
    from tests import factories
    from tests.conftest import sql

    assert await cache.listener.wait_connected()
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        instance_id = factories.instances(conn, tenant_a.tenant_id)

    async def status() -> Instance | None:
        with tenant_context(tenant_a.tenant_id):
            async with session_scope() as session:
                return await instances.status(session, instance_id)

    async def from_cache() -> Instance | None:
        with statements() as seen:
            found = await status()
        return found if not seen else None

    assert not (await eventually(from_cache, what="the number's status cached")).paused
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as listening:
        listening.execute("listen mirage_cache")
        # Its event time moves with every webhook: not announced. Its pause is. (Announcements
        # arrive in commit order: the marker's coming first shows the first was not sent.)
        await sql(
            bootstrap_conninfo,
            "update instances set last_event_at = now() where id = %s",
            instance_id,
        )
        await sql(bootstrap_conninfo, "select pg_notify('mirage_cache', 'marker')")
        await _other_process(
            bootstrap_conninfo, f"update instances set paused_at = now() where id = '{instance_id}'"
        )
        # Only this test's announcements: the process's worker may be finishing another
        # test's jobs, whose changes are announced on the same channel.
        ours = ("marker", f"instances {tenant_a.tenant_id}")
        heard: list[str] = []
        for n in listening.notifies(timeout=10):
            if n.payload in ours:
                heard.append(n.payload)
            if len(heard) == 2:
                break
    assert heard == list(ours)

    async def paused() -> bool:
        found = await status()
        return found is not None and found.paused

    await eventually(paused, timeout_s=10, what="the pause seen here")


def test_every_cached_table_announces_its_changes_as_declared(bootstrap_conninfo: str) -> None:
    """What the cache believes (``TENANT_COLUMN``, ``IGNORED_COLUMNS``) is what the triggers
    do, for every watched table, present and future: a table without its trigger would leave
    entries stale on every other process."""
    with psycopg.connect(bootstrap_conninfo) as conn:
        rows = conn.execute(
            "select c.relname, pg_get_triggerdef(t.oid) from pg_trigger t "
            "join pg_class c on c.oid = t.tgrelid join pg_proc p on p.oid = t.tgfoid "
            "where p.proname = 'mirage_cache_changed' and not t.tgisinternal"
        ).fetchall()
    by_table: dict[str, list[str]] = {}
    for table, definition in rows:
        by_table.setdefault(table, []).append(definition)
    assert set(by_table) == set(cache.TENANT_COLUMN)
    for table, definitions in by_table.items():
        events = " ".join(d.split(" ON ")[0] for d in definitions)
        for op in ("INSERT", "UPDATE", "DELETE"):
            assert op in events, (table, op, definitions)
        for d in definitions:
            assert d.endswith(f"mirage_cache_changed('{cache.TENANT_COLUMN[table]}')"), d
        ignored = {
            c for d in definitions for c in re.findall(r"- '(\w+)'::text", d) if "UPDATE" in d
        }
        assert ignored == set(cache.IGNORED_COLUMNS.get(table, ())), (table, definitions)


async def test_a_signal_or_a_pause_recorded_elsewhere_reaches_the_next_decision(
    tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    """The send decision's cached reads — the number's signals (its band), its conversation's
    state — follow changes committed by another process."""
    from zoneinfo import ZoneInfo

    from mirage.conversations import engine as conversations
    from mirage.kit.clock import utcnow
    from mirage.models import OutgoingMessage, Purpose
    from mirage.safety import service as safety
    from tests import factories

    assert await cache.listener.wait_connected()
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        instance_id = factories.instances(conn, tenant_a.tenant_id)
        conversation_id = uuid.uuid4()
        conn.execute(
            "insert into conversations (id, tenant_id, name, topics, windows) "
            "values (%s, %s, 'c', '{futebol}', '{}')",
            (conversation_id, tenant_a.tenant_id),
        )
    msg = OutgoingMessage(
        id=uuid.uuid4(),
        tenant_id=tenant_a.tenant_id,
        instance_id=instance_id,
        conversation_id=conversation_id,
        purpose=Purpose.WARMUP,
    )

    async def decision_reads() -> tuple[str, bool]:
        with tenant_context(tenant_a.tenant_id):
            async with session_scope() as session:
                instance = await session.get(Instance, instance_id)
                assert instance is not None
                band, _stage = await safety.band_and_stage(
                    session, instance, utcnow(), ZoneInfo("America/Sao_Paulo")
                )
                ctx = await conversations.send_context(session, msg)
                return band, ctx.conversation_active

    async def cached_reads() -> tuple[str, bool] | None:
        with statements() as seen:
            reads = await decision_reads()
        # The tenant context and the instance itself (session.get) are read each time here;
        # nothing else is.
        return reads if len(seen) <= 2 else None

    assert await eventually(cached_reads, what="the decision's reads cached") == ("green", True)
    # A ban code and the conversation paused, both from another process.
    await _other_process(
        bootstrap_conninfo,
        "insert into number_signals (id, tenant_id, instance_id, kind, code) values "
        f"('{uuid.uuid4()}', '{tenant_a.tenant_id}', '{instance_id}', 'disconnect', 403)",
    )
    await _other_process(
        bootstrap_conninfo,
        f"update conversations set state = 'paused' where id = '{conversation_id}'",
    )

    async def changed() -> tuple[str, bool] | None:
        band, active = await decision_reads()
        return (band, active) if band != "green" and not active else None

    band, _active = await eventually(changed, timeout_s=10, what="the changes seen here")
    assert band in ("orange", "red", "critical")
