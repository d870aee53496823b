"""Durable jobs on procrastinate, in the same PostgreSQL as the data.

Rules (docs/architecture.md): a job is deferred on the *same connection and transaction* as the
rows it acts on, so a rollback drops it; tenant-scoped jobs carry ``tenant_id`` and
``correlation_id`` and run inside that tenant's RLS context; every job is idempotent.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import procrastinate
import psycopg_pool
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import session_scope
from mirage.db.tenancy import current_tenant_id, tenant_context
from mirage.kit import correlation
from mirage.kit.logging import get_logger

log = get_logger(__name__)

# Modules whose tasks the worker must know; each is imported when the app opens.
TASK_MODULES = [
    "mirage.auth.tasks",
    "mirage.ops.tasks",
    "mirage.instances.tasks",
    "mirage.webhooks.tasks",
    "mirage.conversations.tasks",
    "mirage.messaging.tasks",
    "mirage.contacts.tasks",
    "mirage.outreach.tasks",
    "mirage.metrics.tasks",
    "mirage.safety.tasks",
]

app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)

#: Which due jobs run first (procrastinate takes the highest priority, then the oldest):
#:
#: - the periodic schedulers (ours, "maintenance", and procrastinate's own "builtin"): quick,
#:   and the reapers among them are what recovers lost work;
#: - the reactions ("default": a send's outcome, an inbound message, a round's next turn) and
#:   imports (an operator watches their progress);
#: - the sends themselves ("sends");
#: - last, the per-tenant upkeep the schedulers fan out every few minutes ("upkeep": planning
#:   rounds, confirming connection states, assessing send ratios): 60 of them at each minute
#:   took every job slot for ~2 s, and sends and replies due then waited (`bench/fleet.py`,
#:   500 conversations: claim lateness p99 2.05 s in busy minutes, 0.02 s in quiet ones).
#:   Upkeep tolerates minutes; a backlog of sends postpones it (the queue-lag alert says so).
#:
#: A backlog of thousands of sends due at once (the morning after quiet hours) thus never
#: holds back what reacts to them: with one FIFO, owners' outcome jobs and the minute's reaper
#: started ~100 s late behind 10,000 sends.
QUEUE_PRIORITY: dict[str, int] = {
    "builtin": 30,
    "maintenance": 30,
    "default": 20,
    "imports": 20,
    "sends": 10,
    "upkeep": 0,
}


def priority_of(task: procrastinate.tasks.Task[Any, Any, Any]) -> int:
    return QUEUE_PRIORITY.get(task.queue, 0)


def prioritize() -> None:
    """Give every registered task its queue's priority (the periodic deferrer and any
    ``defer`` then use it). Called once the task modules are imported."""
    for task in app.tasks.values():
        task.priority = priority_of(task)


P = ParamSpec("P")
R = TypeVar("R")


_pool: psycopg_pool.AsyncConnectionPool | None = None
_users = 0


async def open_app(
    conninfo: str, *, max_size: int = 6, checkout_timeout: float = 30.0
) -> psycopg_pool.AsyncConnectionPool:
    """Open the job app on its own pool (LISTEN needs a direct, session-pooled connection).

    Reference-counted: the demo runs the API and a worker in one process on one app.
    Every connection is checked when taken from the pool (``check``), so after a database
    restart or a failover a dead connection is replaced instead of failing a query; while the
    server is unreachable, taking a connection fails after ``checkout_timeout`` seconds (the worker
    treats that as an outage and retries, see ``mirage.worker``).
    """
    global _pool, _users
    if _pool is None:
        pool = psycopg_pool.AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=checkout_timeout,
            kwargs={"application_name": "mirage:jobs"},
            check=psycopg_pool.AsyncConnectionPool.check_connection,
        )
        await pool.open(wait=True)
        await app.open_async(pool)
        _pool = pool
    elif _pool.max_size < max_size:
        await _pool.resize(min_size=1, max_size=max_size)
    _users += 1
    return _pool


async def close_app(pool: psycopg_pool.AsyncConnectionPool | None) -> None:
    global _pool, _users
    _users = max(0, _users - 1)
    if _users == 0 and _pool is not None:
        await app.close_async()
        await _pool.close()
        _pool = None


def task_named(name: str) -> procrastinate.tasks.Task[Any, Any, Any]:
    """The registered task called ``name``. Domains defer each other's jobs by name, so a
    domain never imports another domain's ``tasks`` module; an unknown name is a bug and
    fails loudly instead of queueing a job no worker can run."""
    if name not in app.tasks:
        app.perform_import_paths()  # type: ignore[no-untyped-call]
        prioritize()
    try:
        return app.tasks[name]
    except KeyError:
        raise LookupError(f"no job is registered as {name!r}") from None


async def defer(
    session: AsyncSession,
    task: procrastinate.tasks.Task[Any, Any, Any] | str,
    *,
    schedule_at: datetime | None = None,
    lock: str | None = None,
    queueing_lock: str | None = None,
    **kwargs: Any,
) -> int:
    """Defer ``task`` (a task or its registered name) in ``session``'s transaction: it exists
    only if that transaction commits."""
    if isinstance(task, str):
        task = task_named(task)
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    tid = kwargs.pop("tenant_id", None) or current_tenant_id()
    if tid is not None:
        kwargs["tenant_id"] = str(tid)
    kwargs["correlation_id"] = correlation.current() or correlation.new_correlation_id()
    job_id: int = await task.configure(
        connection=raw,
        schedule_at=schedule_at,
        lock=lock,
        queueing_lock=queueing_lock,
        priority=priority_of(task),
    ).defer_async(**kwargs)
    log.info("job.deferred", task=task.name, job_id=job_id, schedule_at=schedule_at)
    return job_id


def tenant_job(
    fn: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R]]:
    """Run a job body in its tenant's context, with its correlation id, in one transaction.

    The wrapped function receives ``session`` plus the job's own keyword arguments.
    """

    @functools.wraps(fn)
    async def runner(*, tenant_id: str, correlation_id: str | None = None, **kwargs: Any) -> R:
        token = correlation.correlation_id.set(correlation.accept_or_new(correlation_id))
        try:
            with tenant_context(uuid.UUID(tenant_id)):
                async with session_scope() as session:
                    log.info("job.start", task=fn.__name__)
                    return await fn(session, **kwargs)
        finally:
            correlation.correlation_id.reset(token)

    return runner


def tenant_steps(
    fn: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R]]:
    """Like ``tenant_job`` but with no transaction of its own: for a job whose body opens
    short transactions around a network call (read, call holding nothing, write) — never one
    held across the call. The wrapped function receives the job's own keyword arguments."""

    @functools.wraps(fn)
    async def runner(*, tenant_id: str, correlation_id: str | None = None, **kwargs: Any) -> R:
        token = correlation.correlation_id.set(correlation.accept_or_new(correlation_id))
        try:
            with tenant_context(uuid.UUID(tenant_id)):
                log.info("job.start", task=fn.__name__)
                return await fn(**kwargs)
        finally:
            correlation.correlation_id.reset(token)

    return runner


def global_job(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """A job with no tenant (e.g. periodic maintenance): gets a correlation id and a session."""

    @functools.wraps(fn)
    async def runner(*, correlation_id: str | None = None, **kwargs: Any) -> R:
        token = correlation.correlation_id.set(correlation.accept_or_new(correlation_id))
        try:
            async with session_scope() as session:
                return await fn(session, **kwargs)
        finally:
            correlation.correlation_id.reset(token)

    return runner


async def requeue_stalled(
    seconds_since_heartbeat: float = 30.0, task_name: str | None = None
) -> tuple[int, int]:
    """Jobs of a worker that died (no heartbeat since ``seconds_since_heartbeat``) go back to
    the queue; returns (re-queued, superseded).

    A stalled job with a queueing lock may already have a successor waiting under the same
    lock (deferred while it ran: a campaign's next look, a message's next step). Re-queueing
    it then breaks the lock's uniqueness, and a plain ``retry_job`` loop failed there — every
    minute, leaving every later stalled job stuck too (a full test run saw it). The waiting
    job does the same work, so the stalled one ends as ``aborted``."""
    manager = app.job_manager
    requeued = superseded = 0
    for job in await manager.get_stalled_jobs(
        seconds_since_heartbeat=seconds_since_heartbeat, task_name=task_name
    ):
        try:
            await manager.retry_job(job)
            requeued += 1
        except procrastinate.exceptions.UniqueViolation:
            if job.id is None:  # never, for a job read from the database
                continue
            await manager.finish_job_by_id_async(
                job.id, procrastinate.jobs.Status.ABORTED, delete_job=False
            )
            superseded += 1
            log.info("jobs.stalled_superseded", job_id=job.id, lock=job.queueing_lock)
    return requeued, superseded
