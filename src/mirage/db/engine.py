"""Engines and session factories per role, created once per process."""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.errors
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import TextClause, event
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from mirage.db import embedded
from mirage.db.tenancy import APPLY_CONTEXT, context_params
from mirage.db.urls import RoleUrls, derive

_PG_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]

if TYPE_CHECKING:
    from mirage.config import Settings


def resolve_urls(settings: Settings) -> RoleUrls:
    server = settings.database_url or embedded.start(settings.data_dir)
    pw = settings.db_role_password.get_secret_value() if settings.db_role_password else None
    return derive(
        server,
        app_url=settings.app_database_url,
        admin_url=settings.admin_database_url,
        role_password=pw,
    )


@dataclass
class Database:
    urls: RoleUrls
    app_engine: AsyncEngine
    admin_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    admin_sessions: async_sessionmaker[AsyncSession]
    application_name: str = "mirage"
    hot_pool_size: int = 4
    # The hot path's own small pool (``pipelined_one``), opened on first use.
    _hot: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = field(default=None, repr=False)
    _hot_lock: asyncio.Lock | None = field(default=None, repr=False)

    def pool_size(self) -> int:
        """The app pool's steady size (as many again may open as overflow)."""
        size = getattr(self.app_engine.pool, "size", None)
        return int(size()) if callable(size) else 4

    async def hot_pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        """Autocommit psycopg connections as mirage_app for ``pipelined_one``, opened on first
        use (in the process's event loop)."""
        if self._hot is not None:
            return self._hot
        if self._hot_lock is None:
            self._hot_lock = asyncio.Lock()
        async with self._hot_lock:
            if self._hot is None:
                pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
                    RoleUrls.libpq(self.urls.app),
                    min_size=1,
                    max_size=self.hot_pool_size,
                    kwargs={
                        "autocommit": True,
                        "application_name": f"{self.application_name}:app-hot",
                    },
                    check=_alive,
                    open=False,
                    name="mirage-hot",
                )
                await pool.open()
                self._hot = pool
        return self._hot

    async def dispose(self) -> None:
        if self._hot is not None:
            hot, self._hot = self._hot, None
            await hot.close()
        await self.app_engine.dispose()
        await self.admin_engine.dispose()


async def _alive(conn: psycopg.AsyncConnection[Any]) -> None:
    """The hot pool's check when a connection is taken (what ``pool_pre_ping`` is for the
    engines), without a round trip in the common case: an idle connection has nothing to
    read unless the server spoke (the FATAL and EOF of a restart or a terminated backend);
    only then is it pinged, and a failed ping makes the pool discard it and take another."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("connection closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        await conn.execute("")


def make_database(
    urls: RoleUrls, *, pool_size: int = 10, application_name: str = "mirage"
) -> Database:
    def engine(url_role: str, size: int) -> AsyncEngine:
        url = urls.app if url_role == "app" else urls.admin
        created = create_async_engine(
            url,
            pool_size=size,
            max_overflow=size,
            pool_recycle=1800,
            connect_args={"application_name": f"{application_name}:{url_role}"},
        )
        # A connection is checked when taken from the pool: after a database restart or a
        # failover the first transaction gets a fresh connection instead of failing (a failed
        # send-decision job would strand its message); tests/ops/test_worker_resilience.py
        # shows the recovery. The check is the hot pool's (``_alive``): no round trip unless
        # the idle socket has something to read — each transaction used to pay a ping.
        event.listen(created.sync_engine, "checkout", _checked_out)
        event.listen(created.sync_engine, "handle_error", _invalidate_on_read_only)
        return created

    app_engine = engine("app", pool_size)
    admin_engine = engine("admin", 2)
    return Database(
        urls=urls,
        app_engine=app_engine,
        admin_engine=admin_engine,
        sessions=async_sessionmaker(app_engine, expire_on_commit=False, autoflush=True),
        admin_sessions=async_sessionmaker(admin_engine, expire_on_commit=False),
        application_name=application_name,
        # One statement per round trip, no transaction held between them: a few
        # connections carry thousands of events/s.
        hot_pool_size=max(2, min(pool_size, 6)),
    )


def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """An idle pooled connection has nothing to read unless the server spoke — the FATAL or
    EOF of a restart, a terminated backend, a failover: then it is discarded and the pool
    takes (or opens) another (``DisconnectionError``)."""
    conn = dbapi_connection.driver_connection
    if conn.closed or conn.broken:
        raise DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed or spoke on an idle connection")


def _invalidate_on_read_only(context: ExceptionContext) -> None:
    """After a failover, a connection still open to the demoted primary answers "read-only
    transaction": treat it as a disconnect, so the pool drops its connections and reconnects
    (to whichever host the URL names as writable, e.g. ``target_session_attrs=read-write``)."""
    if isinstance(context.original_exception, psycopg.errors.ReadOnlySqlTransaction):
        context.is_disconnect = True


_db: Database | None = None


def set_database(db: Database | None) -> None:
    global _db
    _db = db


def get_database() -> Database:
    if _db is None:
        raise RuntimeError("database not initialised; call mirage.db.engine.set_database first")
    return _db


def pool_usage(db: Database) -> dict[str, tuple[int, int, int]]:
    """Per pool of this process: (connections in use, idle, the most it may open)."""
    out: dict[str, tuple[int, int, int]] = {}
    for name, created in (("app", db.app_engine), ("admin", db.admin_engine)):
        pool = created.sync_engine.pool
        if isinstance(pool, QueuePool):
            # size() + max_overflow: QueuePool has no public accessor for the overflow cap.
            limit = pool.size() + max(0, getattr(pool, "_max_overflow", 0))
            out[name] = (pool.checkedout(), pool.checkedin(), limit)
    if db._hot is not None:
        stats = db._hot.get_stats()
        opened, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        out["hot"] = (opened - idle, idle, db._hot.max_size)
    return out


class _PoolCollector(Collector):
    """This process's connection pools in /metrics (the API's, and a worker's on its health
    port): a pool that stays near its limit makes requests and jobs queue for a connection
    (SQLAlchemy waits up to 30 s, then fails), which the ``MiragePoolSaturated`` alert
    catches before users do."""

    def collect(self) -> Iterator[Metric]:
        used = GaugeMetricFamily(
            "mirage_db_pool_connections",
            "Database connections of this process's pools, in use or idle",
            labels=["pool", "state"],
        )
        limit = GaugeMetricFamily(
            "mirage_db_pool_max_connections",
            "The most connections each pool of this process may open",
            labels=["pool"],
        )
        if _db is not None:
            for name, (in_use, idle, most) in pool_usage(_db).items():
                used.add_metric([name, "in_use"], in_use)
                used.add_metric([name, "idle"], idle)
                limit.add_metric([name], most)
        yield used
        yield limit


REGISTRY.register(_PoolCollector())


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A transaction as mirage_app under the current tenant context, committed on success (the
    one open at the end: ``release`` may have committed an earlier one)."""
    async with get_database().sessions() as session:
        yield session
        await session.commit()


async def release(session: AsyncSession) -> None:
    """Commit what ``session`` did so far and return its connection to the pool: call it before
    a network call (the gateway, the LLM), which must never run holding a transaction — seconds
    of network time would pin a pool connection and keep row locks. The next statement begins
    a new transaction under the same tenant context; re-read (and lock) what the call's result
    depends on there, since other writers may have moved it meanwhile."""
    await session.commit()


@asynccontextmanager
async def admin_session_scope() -> AsyncIterator[AsyncSession]:
    """Cross-tenant maintenance only (BYPASSRLS). Every caller is explicit maintenance code."""
    async with get_database().admin_sessions() as session, session.begin():
        yield session


_compiled: dict[int, str] = {}


def _driver_sql(statement: TextClause) -> str:
    """``statement`` in psycopg's own placeholders (``%(name)s``), compiled once."""
    key = id(statement)
    sql = _compiled.get(key)
    if sql is None:
        sql = _compiled[key] = str(statement.compile(dialect=_PG_DIALECT))
    return sql


async def pipelined_one(statement: TextClause, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """One transaction as mirage_app under the current tenant context (the same ``set_config``
    every session applies on begin, see ``db.tenancy``), committed on success, in ONE network
    round trip: the context and ``statement`` are sent as a psycopg pipeline on an autocommit
    connection, so the server runs both in one implicit transaction that ends (commits, or
    rolls back on any error) at the pipeline's Sync. ``set_config(..., true)`` is local to
    that transaction: nothing survives on the pooled connection
    (tests/db/test_pipelined_one.py). Returns the statement's first row. For hot paths
    (webhook ingest); ``statement`` must be a module-level ``text()`` (its SQL is cached)."""
    pool = await get_database().hot_pool()
    async with pool.connection() as conn:
        try:
            async with conn.cursor() as cur:
                async with conn.pipeline():
                    await cur.execute(_driver_sql(APPLY_CONTEXT), context_params())
                    await cur.execute(_driver_sql(statement), dict(params))
                row = await cur.fetchone()
        except psycopg.errors.ReadOnlySqlTransaction:
            # A demoted primary after a failover (see _invalidate_on_read_only): reconnect.
            await conn.close()
            await pool.drain()
            raise
    return tuple(row) if row is not None else None
