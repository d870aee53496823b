"""The worker process: runs procrastinate jobs (and periodic tasks) against the same database.

It outlives the database (docs/operations.md, "Worker and database"):

- A *transient* database error (connection refused or reset, server restarting or shutting
  down, pool timeout, read-only after a failover) never stops the process. Every background
  loop — heartbeat, LISTEN, periodic deferrer, job fetching, recording a job's outcome —
  retries with capped exponential backoff; the outage is logged once when it starts
  (``worker.database_unavailable``) and once when it ends (``worker.database_recovered``);
  jobs already running keep running, and their outcome is recorded once the database is back.
- A *fatal* error (the role cannot log in, the database does not exist, migrations were never
  applied, a procrastinate function is missing) raises `FatalWorkerError`: ``mirage worker``
  exits non-zero, so a supervisor restarts it and an operator sees why.
- SIGTERM/SIGINT stops claiming jobs at once and waits up to the shutdown timeout (longer than
  the longest send: see `default_shutdown_seconds`) for running jobs; the heartbeat keeps
  beating meanwhile, so no other worker takes those jobs for stalled. A second signal stops at
  once (the default handler).
- Readiness: ``--health-port`` serves ``GET /health`` (alive: 200) and ``GET /health/ready``
  (200 when connected and taking jobs, 503 while the database is unreachable, before start-up
  completes and while stopping), and ``GET /metrics`` this process's own Prometheus families
  (its database pools).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import psycopg.errors
import sqlalchemy.exc
from procrastinate import job_context, retry, utils
from procrastinate import jobs as pq_jobs
from procrastinate import worker as pq_worker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mirage.config import Settings
from mirage.db import engine as db_engine
from mirage.kit import cache as read_cache
from mirage.kit import jobs
from mirage.kit.logging import get_logger
from mirage.messaging import cadence
from mirage.messaging import service as messaging

log = get_logger(__name__)

#: How long the gateway may take to answer a send beyond its typing delay (the Evolution
#: client's request timeout, `providers.evolution.EvolutionGateway`), plus our own margin.
SEND_REQUEST_TIMEOUT_S = 15.0
SHUTDOWN_MARGIN_S = 5.0

#: The next job of the worker's queues to fall due (seconds from now), counting the ones
#: that fell due in the last moment and were not fetched. One index read
#: (``ix_procrastinate_jobs_todo_due``, migration 0031).
NEXT_DUE_SQL = (
    "SELECT extract(epoch FROM min(scheduled_at) - now()) AS wait_s FROM procrastinate_jobs "
    "WHERE status = 'todo' AND scheduled_at > now() - interval '0.2 seconds' "
    "AND (%(queues)s::varchar[] IS NULL OR queue_name = ANY(%(queues)s))"
)
#: Woken this much after the due time: the fetch compares with the database's clock.
DUE_MARGIN_S = 0.002
PAST_DUE_RECHECK_S = 0.02

#: Backoff between reconnection attempts: 0.25 s doubling to at most 5 s, ±20% jitter.
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 5.0

# Connection failures that no retry will fix (libpq reports them without a SQLSTATE).
_FATAL_CONNECT_MESSAGES = (
    "password authentication failed",
    "authentication failed",
    "does not exist",  # role "…" / database "…"
    "no pg_hba.conf entry",
    "permission denied",
    "is not permitted to log in",
)


class FatalWorkerError(RuntimeError):
    """A problem no retry will fix (configuration, credentials, schema): exit non-zero."""


def default_shutdown_seconds(settings: Settings) -> float:
    """The graceful shutdown timeout when ``MIRAGE_WORKER_SHUTDOWN_SECONDS`` is unset: the
    longest send a job can be in — the longest typing delay the gateway holds it for
    (`cadence.TYPE_CAP_S`, scaled like every human wait), plus the gateway's request timeout
    — and a margin. 45 s in production."""
    return settings.time_scale * cadence.TYPE_CAP_S + SEND_REQUEST_TIMEOUT_S + SHUTDOWN_MARGIN_S


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, sqlalchemy.exc.DBAPIError) and isinstance(e.orig, BaseException):
            todo.append(e.orig)
        todo.extend((e.__cause__, e.__context__))


def describe(exc: BaseException) -> str:
    """The most telling error of a chain (procrastinate wraps psycopg's in a bare
    ``ConnectorException``)."""
    for e in _chain(exc):
        if isinstance(e, psycopg.Error):
            return f"{type(e).__name__}: {e}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def is_fatal_connect_error(exc: BaseException) -> bool:
    """A connection refused for good: bad credentials, missing role or database."""
    for e in _chain(exc):
        if isinstance(e, psycopg.OperationalError) and e.sqlstate is None:
            text = str(e)
            if "FATAL" in text and any(m in text for m in _FATAL_CONNECT_MESSAGES):
                return True
    return False


def is_transient(exc: BaseException) -> bool:
    """A database error that waiting fixes: the server is down, restarting, shutting down,
    still starting, out of connection slots, or (after a failover) read-only."""
    if is_fatal_connect_error(exc):
        return False
    for e in _chain(exc):
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, psycopg.errors.ReadOnlySqlTransaction):
            return True
        if isinstance(e, (psycopg.OperationalError, ConnectionError, TimeoutError)):
            return True
    return False


def _is_fk_violation(exc: BaseException) -> bool:
    return any(isinstance(e, psycopg.errors.ForeignKeyViolation) for e in _chain(exc))


class Backoff:
    def __init__(self, first: float = BACKOFF_FIRST_S, cap: float = BACKOFF_MAX_S) -> None:
        self.first, self.cap, self.attempt = first, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.first * float(2**self.attempt))
        self.attempt += 1
        return delay * random.uniform(0.8, 1.2)  # jitter, not cryptography

    def reset(self) -> None:
        self.attempt = 0


class DatabaseLink:
    """Whether this worker can reach the database; logs each outage once, when it starts and
    when it ends (never per attempt)."""

    def __init__(self) -> None:
        self.ok = False
        self.down_since: float | None = time.monotonic()
        self.outages = 0
        self._in_outage = False

    def down(self, exc: BaseException, where: str) -> None:
        if self.ok or not self._in_outage:
            if self.ok:
                self.down_since = time.monotonic()
            self.ok = False
            self._in_outage = True
            self.outages += 1
            log.warning(
                "worker.database_unavailable",
                where=where,
                error=describe(exc),
                note="retrying with backoff; logged once per outage",
            )

    def up(self) -> None:
        if not self.ok:
            if self._in_outage:
                seconds = time.monotonic() - (self.down_since or time.monotonic())
                log.warning("worker.database_recovered", outage_s=round(seconds, 2))
            self.ok = True
            self._in_outage = False
            self.down_since = None


class MirageWorker(pq_worker.Worker):
    """procrastinate's worker, made to outlive database interruptions (module docstring).

    It overrides a few of `procrastinate.worker.Worker`'s methods (procrastinate is pinned
    in uv.lock; `tests/ops/test_worker_resilience.py` exercises every override against a
    real server that restarts).
    """

    def __init__(self, *, link: DatabaseLink, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.link = link
        self.fatal: BaseException | None = None
        self._stop_requested_at: float | None = None
        self._fetch_backoff = Backoff()
        self._due_timer: asyncio.TimerHandle | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def stop(self) -> None:
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        super().stop()  # type: ignore[no-untyped-call]

    @property
    def stopping(self) -> bool:
        return self._stop_requested_at is not None

    def _past_grace(self) -> bool:
        if self._stop_requested_at is None:
            return False
        grace = self.shutdown_graceful_timeout or 0.0
        return time.monotonic() > self._stop_requested_at + grace

    def _fail(self, exc: BaseException, where: str) -> None:
        if self.fatal is None:
            self.fatal = exc
            log.error("worker.fatal_error", where=where, error=describe(exc))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up when a stop is requested."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=seconds)

    # -- side tasks: never die of a transient error --------------------------------------
    def _start_side_tasks(self) -> list[asyncio.Task[Any]]:
        side_tasks = [
            asyncio.create_task(self._keep_beating(), name="update_heartbeats"),
            asyncio.create_task(
                self._keep_running("deferrer", self._periodic_deferrer), name="deferrer"
            ),
            asyncio.create_task(self._poll_jobs_to_abort(), name="poll_jobs_to_abort"),
        ]
        if self.listen_notify:

            def listen() -> Awaitable[None]:
                return self.app.job_manager.listen_for_jobs(
                    on_notification=self._handle_notification, queues=self.queues
                )

            side_tasks.append(
                asyncio.create_task(self._keep_running("listener", listen), name="listener")
            )
        return side_tasks

    async def _keep_running(self, name: str, factory: Callable[[], Awaitable[Any]]) -> None:
        backoff = Backoff()
        while True:
            started = time.monotonic()
            try:
                await factory()
                return  # ended by itself (e.g. no periodic task)
            except Exception as exc:
                if not is_transient(exc):
                    self._fail(exc, name)
                    raise
                self.link.down(exc, name)
                if time.monotonic() - started > 2 * BACKOFF_MAX_S:
                    backoff.reset()  # it ran for a while: a new outage starts short
                await asyncio.sleep(backoff.next())

    async def _keep_beating(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._beat()
            except Exception as exc:
                if not is_transient(exc):
                    self._fail(exc, "heartbeat")
                    raise
                self.link.down(exc, "heartbeat")
                await asyncio.sleep(backoff.next())
            else:
                self.link.up()
                backoff.reset()
                await asyncio.sleep(self.update_heartbeat_interval)

    async def _beat(self) -> None:
        """Update this worker's heartbeat; if another worker pruned our row during an outage
        (longer than its ``stalled_worker_timeout``), register again and take back our running
        jobs (procrastinate set their ``worker_id`` to NULL, which makes them stalled)."""
        if self.worker_id is None:
            raise RuntimeError("the heartbeat runs only for a registered worker")
        rows = await self.app.connector.execute_query_all_async(
            "UPDATE procrastinate_workers SET last_heartbeat = NOW() "
            "WHERE id = %(worker_id)s RETURNING id",
            worker_id=self.worker_id,
        )
        if not rows:
            await self._register_again()

    async def _register_again(self) -> None:
        old = self.worker_id
        self.worker_id = await self.app.job_manager.register_worker()
        running = [c.job.id for c in self._running_jobs.values() if c.job.id is not None]
        retaken = await self.app.connector.execute_query_all_async(
            "UPDATE procrastinate_jobs SET worker_id = %(worker_id)s "
            "WHERE id = ANY(%(ids)s) AND status = 'doing' AND worker_id IS NULL RETURNING id",
            worker_id=self.worker_id,
            ids=running,
        )
        log.warning(
            "worker.registered_again",
            old_worker_id=old,
            worker_id=self.worker_id,
            running_jobs=len(running),
            retaken_jobs=len(retaken),
        )

    async def _poll_jobs_to_abort(self) -> None:
        # procrastinate's own loop logs a traceback for every failed poll; an outage is
        # already logged once by the link.
        while True:
            await asyncio.sleep(self.abort_job_polling_interval)
            if not self._running_jobs:
                continue
            try:
                job_ids = await self.app.job_manager.list_jobs_to_abort_async()
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("worker.poll_jobs_to_abort_failed")
                continue
            self._handle_abort_jobs_requested(job_ids)

    # -- claiming jobs --------------------------------------------------------------------
    async def _fetch_and_process_jobs(self) -> None:
        try:
            await super()._fetch_and_process_jobs()  # type: ignore[no-untyped-call]
        except Exception as exc:
            if _is_fk_violation(exc):  # our worker row was pruned while we were cut off
                await self._register_again()
                return
            if not is_transient(exc):
                self._fail(exc, "fetch")
                raise
            self.link.down(exc, "fetch")
            await self._pause(self._fetch_backoff.next())
        else:
            self._fetch_backoff.reset()
            self.link.up()
            if not self.stopping:
                await self._wake_when_next_due()

    async def _wake_when_next_due(self) -> None:
        """Nothing is due now: wake when the next scheduled job falls due, not at the next
        poll. procrastinate notifies a job's insertion, not the moment a job deferred for
        later becomes due, so a sleeping worker would take it up to a poll interval late
        (the poll stays as the safety net: a job retried or freed of its lock)."""
        try:
            row = await self.app.connector.execute_query_one_async(NEXT_DUE_SQL, queues=self.queues)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return  # the fetch loop notices the outage; the poll wakes us meanwhile
        if self._due_timer is not None:
            self._due_timer.cancel()
            self._due_timer = None
        wait_s = row["wait_s"]
        if wait_s is None:
            return
        # A job just past due that the fetch missed (it fell due meanwhile, or waits for a
        # lock): look again shortly rather than at once, so a locked job costs no busy loop.
        delay = float(wait_s) + DUE_MARGIN_S if wait_s > 0 else PAST_DUE_RECHECK_S
        loop = asyncio.get_running_loop()
        self._due_timer = loop.call_later(delay, self._new_job_event.set)

    # -- recording a job's outcome ----------------------------------------------------------
    async def _persist_job_status(
        self,
        job: pq_jobs.Job,
        status: pq_jobs.Status,
        retry_decision: retry.RetryDecision | None,
        context: job_context.JobContext,
        job_result: job_context.JobResult | None,
    ) -> None:
        """Record the outcome; through an outage, keep trying (the job stays ``doing`` with a
        live heartbeat until then, so nobody else runs it). Given up only while stopping past
        the graceful timeout: the job then stays ``doing`` and is retried as stalled once this
        worker's heartbeat is gone (``ops.retry_stalled_jobs``)."""
        backoff = Backoff()
        while True:
            try:
                await super()._persist_job_status(
                    job=job,
                    status=status,
                    retry_decision=retry_decision,
                    context=context,
                    job_result=job_result,
                )
                return
            except Exception as exc:
                if not is_transient(exc) or self._past_grace():
                    raise
                self.link.down(exc, "persist_job_status")
                await asyncio.sleep(backoff.next())

    # -- graceful shutdown ------------------------------------------------------------------
    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        """procrastinate's shutdown, except that the heartbeat keeps beating while running
        jobs finish (else a wait longer than ``stalled_worker_timeout`` would let another
        worker re-run them), and an unreachable database does not turn a stop into a crash."""
        if self._due_timer is not None:
            self._due_timer.cancel()
        heartbeat = [t for t in side_tasks if t.get_name() == "update_heartbeats"]
        await utils.cancel_and_capture_errors([t for t in side_tasks if t not in heartbeat])
        if self._running_jobs:
            log.info(
                "worker.waiting_for_jobs",
                jobs=[c.job.call_string for c in self._running_jobs.values()],
                timeout_s=self.shutdown_graceful_timeout,
            )
            await asyncio.wait(self._running_jobs, timeout=self.shutdown_graceful_timeout)
        # Sends handed off by their jobs (held by the gateway for the typing time) finish
        # too, with the heartbeat still beating; one cut off is reconciled by the reaper.
        await messaging.in_flight_sends().drain(self.shutdown_graceful_timeout or 0.0)
        if self._running_jobs:
            log.warning(
                "worker.aborting_jobs",
                jobs=[c.job.call_string for c in self._running_jobs.values()],
                note="graceful timeout reached; procrastinate records them 'aborted'",
            )
            await self._abort_running_jobs()  # type: ignore[no-untyped-call]
        await utils.cancel_and_capture_errors(heartbeat)
        if self.worker_id is not None:
            try:
                await self.app.job_manager.unregister_worker(self.worker_id)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("worker.unregister_skipped", reason="database unreachable")
        self.worker_id = None


# --- readiness endpoint ----------------------------------------------------------------------


class WorkerState:
    def __init__(self) -> None:
        self.link = DatabaseLink()
        self.worker: MirageWorker | None = None
        self.stopping = False

    def ready(self) -> bool:
        w = self.worker
        return (
            self.link.ok
            and not self.stopping
            and w is not None
            and w.worker_id is not None
            and not w.stopping
        )

    def snapshot(self) -> dict[str, Any]:
        down = self.link.down_since
        w = self.worker
        return {
            "ready": self.ready(),
            "database": "ok" if self.link.ok else "unavailable",
            "database_down_s": round(time.monotonic() - down, 1) if down is not None else None,
            "outages": self.link.outages,
            "stopping": self.stopping or (w is not None and w.stopping),
            "running_jobs": len(w._running_jobs) if w is not None else 0,
        }


async def serve_health(state: WorkerState, host: str, port: int) -> asyncio.Server:
    """A tiny HTTP/1.0 endpoint: ``GET /health`` → 200 while the process runs,
    ``GET /health/ready`` → 200 or 503 with a JSON body (`WorkerState.snapshot`)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            with contextlib.suppress(TimeoutError):
                while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (
                    b"\r\n",
                    b"\n",
                    b"",
                ):
                    pass
            parts = line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            content_type = "application/json"
            if path == "/health":
                status, body = 200, {"status": "alive"}
            elif path == "/health/ready":
                body = state.snapshot()
                status = 200 if body["ready"] else 503
            elif path == "/metrics":  # this process's own families (its pools, the runtime)
                status, body, content_type = 200, {}, CONTENT_TYPE_LATEST
            else:
                status, body = 404, {"error": "not found"}
            payload = generate_latest() if path == "/metrics" else json.dumps(body).encode()
            reason = {200: "OK", 503: "Service Unavailable", 404: "Not Found"}[status]
            writer.write(
                f"HTTP/1.0 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)


# --- start-up checks -------------------------------------------------------------------------


async def preflight(conninfo: str, state: WorkerState, stop: asyncio.Event) -> bool:
    """Wait until the database answers as ``mirage_app`` and holds the schema.

    Transient failures are retried (the database may be starting with us); fatal ones raise
    `FatalWorkerError`. Returns False when a stop was requested meanwhile."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=5) as conn:
                cur = await conn.execute(
                    "select to_regclass('public.alembic_version') is not null,"
                    " to_regclass('public.procrastinate_jobs') is not null,"
                    " to_regprocedure('procrastinate_fetch_job_v2(character varying[], bigint)')"
                    " is not null"
                )
                row = await cur.fetchone()
        except Exception as exc:
            if is_fatal_connect_error(exc):
                raise FatalWorkerError(f"cannot log in to the database: {exc}") from exc
            if not is_transient(exc):
                raise FatalWorkerError(f"database check failed: {exc}") from exc
            state.link.down(exc, "startup")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff.next())
            continue
        if row is None or not all(row):
            raise FatalWorkerError(
                "the database schema is missing (alembic_version, procrastinate_jobs, "
                "procrastinate_fetch_job_v2): run `mirage migrate`"
            )
        state.link.up()
        return True
    return False


# --- the process -----------------------------------------------------------------------------


async def run_worker(
    settings: Settings,
    *,
    concurrency: int = 4,
    install_signal_handlers: bool = True,
    manage_database: bool = True,
    wait: bool = True,
    health_host: str = "127.0.0.1",
    health_port: int | None = None,
    state: WorkerState | None = None,
) -> None:
    """Run jobs until stopped (a signal, or cancellation of this coroutine). Raises
    `FatalWorkerError` on an error no retry will fix; never returns because of a transient
    database error."""
    state = state or WorkerState()
    # psycopg's pool logs every failed reconnection attempt; the link logs an outage once.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    owned = False
    if manage_database:
        urls = db_engine.resolve_urls(settings)
        db_engine.set_database(
            db_engine.make_database(
                urls, pool_size=concurrency + 2, application_name="mirage-worker"
            )
        )
        owned = True
    db = db_engine.get_database()
    conninfo = db.urls.libpq(db.urls.app)
    shutdown_s = settings.worker_shutdown_seconds or default_shutdown_seconds(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # First signal: graceful stop. Then the default handlers are back: a second signal
        # ends the process at once.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("worker.stop_requested", shutdown_timeout_s=shutdown_s)
        state.stopping = True
        stop.set()
        if state.worker is not None:
            state.worker.stop()

    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
    server = await serve_health(state, health_host, health_port) if health_port else None
    name = f"{socket.gethostname()}:{id(loop):x}"
    pool = None
    backoff = Backoff()
    try:
        while not stop.is_set():
            if not await preflight(conninfo, state, stop):
                break
            # After the checks, so that a fatal error is reported before seconds of imports.
            jobs.app.perform_import_paths()  # type: ignore[no-untyped-call]
            jobs.prioritize()  # the periodic deferrer's jobs too
            try:
                if pool is None:
                    pool = await jobs.open_app(
                        conninfo, max_size=concurrency + 3, checkout_timeout=10
                    )
                worker = MirageWorker(
                    link=state.link,
                    app=jobs.app,
                    concurrency=concurrency,
                    install_signal_handlers=False,
                    name=name,
                    wait=wait,
                    update_heartbeat_interval=5,
                    fetch_job_polling_interval=settings.job_poll_seconds,
                    shutdown_graceful_timeout=shutdown_s,
                )
                state.worker = worker
                log.info(
                    "worker.started",
                    concurrency=concurrency,
                    name=name,
                    shutdown_timeout_s=shutdown_s,
                    health_port=health_port,
                )
                await worker.run()  # type: ignore[no-untyped-call]
            except Exception as exc:
                # Start-up of the procrastinate worker (prune, register) or its main loop
                # failed: transient → start again; fatal → out.
                if isinstance(exc, FatalWorkerError) or not is_transient(exc):
                    raise FatalWorkerError(f"worker failed: {describe(exc)}") from exc
                state.link.down(exc, "worker")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff.next())
                continue
            if worker.fatal is not None:
                raise FatalWorkerError(
                    f"worker stopped on {describe(worker.fatal)}"
                ) from worker.fatal
            break  # stopped on request (or wait=False ran dry)
    finally:
        state.stopping = True
        if install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if server is not None:
            server.close()
        if pool is not None:
            await jobs.close_app(pool)
        await read_cache.listener.close()
        if owned:
            await db.dispose()
            db_engine.set_database(None)
        log.info("worker.stopped")
