"""Engines and session factories per role, created once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg.errors
from sqlalchemy import TextClause, event
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from mirage.db import embedded
from mirage.db.tenancy import APPLY_CONTEXT, context_params
from mirage.db.urls import RoleUrls, derive

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

    async def dispose(self) -> None:
        await self.app_engine.dispose()
        await self.admin_engine.dispose()


def make_database(
    urls: RoleUrls, *, pool_size: int = 10, application_name: str = "mirage"
) -> Database:
    def engine(url_role: str, size: int) -> AsyncEngine:
        url = urls.app if url_role == "app" else urls.admin
        created = create_async_engine(
            url,
            pool_size=size,
            max_overflow=size,
            # A connection is pinged when taken from the pool: after a database restart or a
            # failover the first transaction gets a fresh connection instead of failing (a
            # failed send-decision job would strand its message). One short round trip per
            # checkout; tests/ops/test_worker_resilience.py shows the recovery.
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"application_name": f"{application_name}:{url_role}"},
        )
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
    )


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


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """One transaction as mirage_app under the current tenant context, committed on success."""
    async with get_database().sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def admin_session_scope() -> AsyncIterator[AsyncSession]:
    """Cross-tenant maintenance only (BYPASSRLS). Every caller is explicit maintenance code."""
    async with get_database().admin_sessions() as session, session.begin():
        yield session


_compiled: dict[tuple[int, str], str] = {}


def _driver_sql(statement: TextClause, dialect: Dialect) -> str:
    """``statement`` in the driver's own placeholders (``%(name)s``), compiled once."""
    key = (id(statement), dialect.name)
    sql = _compiled.get(key)
    if sql is None:
        sql = _compiled[key] = str(statement.compile(dialect=dialect))
    return sql


async def pipelined_one(statement: TextClause, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """One transaction as mirage_app under the current tenant context (the same ``set_config``
    every session applies on begin, see ``db.tenancy``), committed on success, in ONE network
    round trip plus the COMMIT: the context and ``statement`` are sent as a psycopg pipeline.
    Returns the statement's first row. For hot paths (webhook ingest); ``statement`` must be
    a module-level ``text()`` (its compiled SQL is cached)."""
    async with get_database().app_engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        if raw is None:  # pragma: no cover - a pooled connection always has its driver's
            raise RuntimeError("no driver connection")
        async with raw.pipeline(), raw.cursor() as cur:
            await cur.execute(_driver_sql(APPLY_CONTEXT, conn.dialect), context_params())
            await cur.execute(_driver_sql(statement, conn.dialect), dict(params))
            row = await cur.fetchone()
    return tuple(row) if row is not None else None
