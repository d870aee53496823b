"""Reads of slowly-changing rows (tenant settings, the kill switches, a tenant's zone, an
instance's webhook identity), cached per process and dropped on every process when a change
to them commits.

- **Invalidation, every writer, every process**: triggers (migrations 0024, 0025) announce each
  committed change of a watched table on the ``mirage_cache`` channel (``NOTIFY`` is delivered
  only if the writing transaction commits), whoever wrote it — the app, a script, psql. Each
  process keeps one ``LISTEN`` connection (the way ``kit.live`` does for live pages) and drops
  the entries of that table's tenant when the announcement arrives (milliseconds).
- **This process, at once**: a commit through an ORM session that wrote a watched table drops
  the entries here before ``commit()`` returns, so the writer's own next read (the next
  decision of the same process) never waits for the announcement.
- **Never stale for lack of a listener**: entries are served only while the ``LISTEN``
  connection is up (it starts on first use); while it is down (starting, or lost), every read
  goes to the database, and everything is dropped when it comes back (announcements may have
  been missed meanwhile).
- **A read racing a write**: a value read before an invalidation arrived is not stored after
  it (a generation counter), so it cannot outlive the change.
- **Tenant isolation**: entries are keyed by the tenant whose RLS context read them, and only
  that tenant's reads (callers pass their own tenant id) get them back. Bounded size, and a
  TTL as a safety net.

Domains declare a cache next to the read it serves (``Cache("settings", tables=(...))``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import psycopg
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from mirage.db.engine import Database, get_database
from mirage.db.tenancy import current_tenant_id
from mirage.db.urls import RoleUrls
from mirage.kit.logging import get_logger

log = get_logger(__name__)
CHANNEL = "mirage_cache"
TTL_S = 300.0
MAX_ENTRIES = 20_000
V = TypeVar("V")
# The column naming each watched table's tenant (as the triggers of migrations 0024, 0025 say);
# "" = a global row: every tenant's entries of a cache that depends on it go.
TENANT_COLUMN = {
    "tenant_settings": "tenant_id",
    "tenants": "id",
    "system_flags": "",
    "outreach_policies": "tenant_id",
    "instances": "tenant_id",
    "number_signals": "tenant_id",
    "conversations": "tenant_id",
}
# Columns whose changes alone are not announced (as the triggers say): busy, and no cache
# holds them.
IGNORED_COLUMNS = {
    "instances": frozenset(("last_event_at", "last_reconciled_at")),
    "conversations": frozenset(
        ("next_round_at", "last_round_at", "waiting_reason", "waiting_since", "slots_until")
    ),
}
_caches: list[Cache[Any]] = []


class Cache(Generic[V]):
    """One kind of cached read: entries keyed by (tenant, key), dropped when any of ``tables``
    changes for that tenant (or for all, on a global row)."""

    def __init__(
        self,
        name: str,
        *,
        tables: tuple[str, ...],
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown = [t for t in tables if t not in TENANT_COLUMN]
        if unknown:
            raise ValueError(f"no invalidation is announced for {unknown}: add a trigger first")
        self.name = name
        self.tables = frozenset(tables)
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.generation = 0
        self._entries: dict[tuple[uuid.UUID | None, Hashable], tuple[V, float]] = {}
        _caches.append(self)

    def get(self, tenant_id: uuid.UUID | None, key: Hashable = None) -> V | None:
        if not listener.serving():
            return None
        hit = self._entries.get((tenant_id, key))
        if hit is None:
            return None
        if hit[1] <= self.clock():
            self._entries.pop((tenant_id, key), None)
            return None
        return hit[0]

    def put(self, tenant_id: uuid.UUID | None, key: Hashable, value: V, generation: int) -> None:
        """Store ``value``, read while ``generation`` was current (dropped if anything was
        invalidated since: the value may predate that change)."""
        if generation != self.generation or not listener.serving():
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # bounded; entries refill on demand
        self._entries[(tenant_id, key)] = (value, self.clock() + self.ttl_s)

    async def get_or_load(
        self, tenant_id: uuid.UUID | None, key: Hashable, load: Callable[[], Awaitable[V]]
    ) -> V:
        hit = self.get(tenant_id, key)
        if hit is not None:
            return hit
        generation = self.generation
        value = await load()
        self.put(tenant_id, key, value, generation)
        return value

    def discard(self, tenant_id: uuid.UUID | None, key: Hashable = None) -> None:
        """Forget one entry (its row is known gone)."""
        self.generation += 1
        self._entries.pop((tenant_id, key), None)

    def drop(self, tenant_id: uuid.UUID | None) -> None:
        """Forget ``tenant_id``'s entries (None: everyone's)."""
        self.generation += 1
        if tenant_id is None:
            self._entries.clear()
            return
        for k in [k for k in self._entries if k[0] == tenant_id]:
            self._entries.pop(k, None)


def changed(table: str, tenant_id: uuid.UUID | None) -> None:
    """``table`` changed for ``tenant_id`` (None: a global row, or unknown tenants): drop the
    entries that depend on it, in this process."""
    for cache in _caches:
        if table in cache.tables:
            cache.drop(tenant_id)


def drop_all() -> None:
    for cache in _caches:
        cache.drop(None)


def _parse(payload: str) -> tuple[str, uuid.UUID | None] | None:
    table, _, tenant = payload.partition(" ")
    if table not in TENANT_COLUMN:
        return None
    try:
        return table, uuid.UUID(tenant) if tenant else None
    except ValueError:
        return table, None  # unreadable tenant: drop every tenant's entries (safe side)


class Listener:
    """This process's ``LISTEN mirage_cache`` connection. Started on first use by a cache
    read, in the running event loop; while it is not connected the caches serve nothing."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db: Database | None = None
        self._connected = False

    def serving(self) -> bool:
        try:
            loop = asyncio.get_running_loop()
            db = get_database()
        except RuntimeError:
            return False  # no event loop, or no database in this process (yet)
        task = self._task
        if task is not None and not task.done() and self._loop is loop and self._db is db:
            return self._connected
        # Not started, died, or bound to another loop or database (whose announcements
        # say nothing about this one's rows): listen afresh, serving nothing until then.
        if task is not None and not task.done():
            task.cancel()
        self._connected = False
        drop_all()
        self._loop, self._db = loop, db
        self._task = loop.create_task(
            self._listen(RoleUrls.libpq(db.urls.app)), name="mirage-cache-listen"
        )
        return False

    async def _listen(self, conninfo: str) -> None:
        me = asyncio.current_task()
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, application_name="mirage:cache"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    drop_all()  # anything announced before LISTEN was in place is unknown
                    # A replaced listener (another loop or database) no longer speaks for this.
                    self._connected = self._task is me
                    backoff = 0.5
                    async for notify in conn.notifies():
                        parsed = _parse(notify.payload)
                        if parsed is None:
                            drop_all()
                        else:
                            changed(*parsed)
            except Exception as exc:  # any failure: serve nothing, reconnect
                log.warning("cache.listen_failed", error=str(exc), retry_in=backoff)
            finally:
                if self._task is me:
                    self._connected = False
                drop_all()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)

    async def wait_connected(self, timeout_s: float = 5.0) -> bool:
        """Start listening (if configured) and wait until announcements are heard."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.serving():
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        task, self._task = self._task, None
        self._connected = False
        self._db = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        drop_all()


listener = Listener()


# --- this process's own writes: dropped when they commit, before any announcement arrives ---

_CHANGED = "mirage.kit.cache_changed"


def _tenant_of(obj: object, table: str) -> uuid.UUID | None:
    column = TENANT_COLUMN[table]
    value = getattr(obj, column, None) if column else None
    return value if isinstance(value, uuid.UUID) else None


def _watched_change(obj: object, table: str) -> bool:
    ignored = IGNORED_COLUMNS.get(table)
    if ignored is None:
        return True
    attrs = inspect(obj).attrs
    return any(a.history.has_changes() for a in attrs if a.key not in ignored)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, flush_context: UOWTransaction) -> None:
    for objs, whole in ((session.new, True), (session.dirty, False), (session.deleted, True)):
        for obj in objs:
            table = getattr(type(obj), "__tablename__", None)
            if table in TENANT_COLUMN and (whole or _watched_change(obj, table)):
                session.info.setdefault(_CHANGED, set()).add((table, _tenant_of(obj, table)))


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    for mapper in state.all_mappers:
        table = getattr(mapper.class_, "__tablename__", None)
        if table in TENANT_COLUMN:
            # Under the app role a bulk statement reaches only the current tenant's rows (RLS);
            # without a tenant context, or for a global table, everyone's entries go.
            tenant = current_tenant_id() if TENANT_COLUMN[table] else None
            state.session.info.setdefault(_CHANGED, set()).add((table, tenant))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for table, tenant_id in session.info.pop(_CHANGED, None) or ():
        changed(table, tenant_id)
