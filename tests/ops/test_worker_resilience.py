"""`mirage worker` against a PostgreSQL server the test starts, restarts and stops itself.

A real ``mirage worker`` subprocess (tests/ops/worker_probe.py adds one job, ``tests.probe``)
runs against a throwaway cluster (tests/ops/pgcluster.py): through a ``pg_ctl restart -m fast``
and an outage the process stays up, reports not-ready while cut off, and every job — running
across the interruption or deferred after it — completes exactly once. A fatal error exits
non-zero; SIGTERM lets a job held like a typing delay finish; a failover to another server
named in the URL is followed without a restart.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from mirage.db.migrate import migrate
from mirage.db.urls import derive
from mirage.kit.http import limits as pool_limits
from tests.ops.pgcluster import TempCluster
from tests.ops.worker_probe import PROBE_TABLE

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Poll ``cond`` until it returns something truthy (errors count as 'not yet')."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as exc:  # the server may be down: not yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _prepare(cluster: TempCluster) -> None:
    cluster.start()
    cluster.create_database()
    migrate(derive(cluster.url))
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(PROBE_TABLE)


@pytest.fixture(scope="module")
def cluster() -> Iterator[TempCluster]:
    c = TempCluster()
    try:
        _prepare(c)
        yield c
    finally:
        c.destroy()


class Db:
    """The test's own (superuser) view of one cluster's ``mirage`` database."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def one(self, query: str, *params: Any) -> Any:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(query, params).fetchone()
            return row[0] if row else None

    def defer(
        self, key: str, hold_s: float = 0.0, task: str = "tests.probe", in_s: float | None = None
    ) -> int:
        """A probe job, due now or ``in_s`` seconds from now (the database's clock)."""
        args = json.dumps({"key": key, "hold_s": hold_s})
        return int(
            self.one(
                "select unnest(procrastinate_defer_jobs_v1(array[row('tests', %s, 0,"
                " null, null, %s::jsonb, now() + make_interval(secs => %s))"
                "::procrastinate_job_to_defer_v1]))",
                task,
                args,
                in_s,
            )
        )

    def runs(self, key: str, phase: str) -> int:
        return int(
            self.one("select count(*) from probe_runs where key = %s and phase = %s", key, phase)
        )

    def status(self, job_id: int) -> str:
        return str(self.one("select status from procrastinate_jobs where id = %s", job_id))


class WorkerProcess:
    """``mirage worker --health-port N`` as a subprocess (with the probe task)."""

    def __init__(self, tmp: Path, database_url: str, **env: str) -> None:
        self.port = _free_port()
        self.log_path = tmp / f"worker-{self.port}.log"
        self._log = self.log_path.open("w")
        # One client for every readiness poll (a new one builds an SSL context each time).
        self._probe = httpx.Client(limits=pool_limits(), timeout=2)
        environ = {
            **os.environ,
            "MIRAGE_DATABASE_URL": database_url,
            "MIRAGE_LOG_LEVEL": "INFO",
            "MIRAGE_LOG_JSON": "true",
            **env,
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ops.worker_probe",
                "worker",
                "--concurrency",
                "4",
                "--health-port",
                str(self.port),
            ],
            cwd=ROOT,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> int:
        """The readiness endpoint's status code (0 when it does not answer)."""
        try:
            return self._probe.get(f"http://127.0.0.1:{self.port}/health/ready").status_code
        except httpx.HTTPError:
            return 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == name:
                out.append(record)
        return out

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._probe.close()
        self._log.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(database_url: str, **env: str) -> WorkerProcess:
        w = WorkerProcess(tmp_path, database_url, **env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def _keys(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]


def test_worker_survives_a_restart_and_an_outage_and_stops_gracefully(
    cluster: TempCluster, spawn: Callable[..., WorkerProcess]
) -> None:
    db = Db(cluster.dsn())
    worker = spawn(cluster.url)
    wait_for("the worker to be ready", lambda: worker.ready() == 200, 60)

    # Jobs in flight across a fast restart: each holds its slot (no transaction) for 1 s.
    held = _keys("held", 4)
    held_ids = [db.defer(k, hold_s=1.0) for k in held]
    wait_for("held jobs to start", lambda: all(db.runs(k, "start") for k in held))
    cluster.restart()
    back = time.monotonic()
    after = _keys("after-restart", 6)
    after_ids = [db.defer(k) for k in after]
    wait_for("a job deferred after the restart to run", lambda: db.runs(after[0], "done"), 20)
    first_job_s = time.monotonic() - back
    wait_for("every job to complete", lambda: all(db.runs(k, "done") for k in held + after), 30)
    assert worker.alive()

    # An outage: the server is down for a few seconds.
    queued = _keys("queued-before-outage", 2)
    cluster.stop()
    wait_for("the worker to report not ready", lambda: worker.ready() == 503, 15)
    time.sleep(2)
    assert worker.alive(), "the worker exited during the outage"
    assert worker.ready() == 503
    cluster.start()
    back = time.monotonic()
    queued_ids = [db.defer(k) for k in queued]
    wait_for("the worker to be ready again", lambda: worker.ready() == 200, 20)
    resumed = _keys("after-outage", 6)
    resumed_ids = [db.defer(k) for k in resumed]
    wait_for(
        "jobs deferred after the outage to run",
        lambda: all(db.runs(k, "done") for k in queued + resumed),
        30,
    )
    resume_s = time.monotonic() - back
    assert worker.alive()

    every = held + after + queued + resumed
    ids = held_ids + after_ids + queued_ids + resumed_ids
    # No job lost, none run twice: one committed completion per job, every job succeeded.
    assert {k: db.runs(k, "done") for k in every} == dict.fromkeys(every, 1)
    wait_for("every job to be recorded", lambda: all(db.status(i) == "succeeded" for i in ids))
    # Each outage is logged once (not per attempt) and its end once.
    down = worker.events("worker.database_unavailable")
    recovered = worker.events("worker.database_recovered")
    assert 1 <= len(down) <= 2, down  # the sub-second restart may go unnoticed
    assert len(recovered) == len(down)
    print(
        f"first job after the restart: {first_job_s:.2f} s; outage: all resumed in {resume_s:.2f} s"
    )

    # SIGTERM while a job is held like a send in the gateway's typing delay: the job
    # finishes, nothing new is claimed, the process exits 0.
    [key] = _keys("typing", 1)
    job = db.defer(key, hold_s=2.5)
    wait_for("the held job to start", lambda: db.runs(key, "start"))
    worker.proc.send_signal(signal.SIGTERM)
    wait_for("the worker to stop taking jobs", lambda: worker.ready() == 503, 10)
    [late] = _keys("late", 1)
    late_job = db.defer(late)
    assert worker.proc.wait(timeout=30) == 0
    assert db.runs(key, "done") == 1
    assert db.status(job) == "succeeded"
    assert db.status(late_job) == "todo"  # deferred after SIGTERM: not claimed
    assert db.runs(late, "start") == 0
    assert worker.events("worker.waiting_for_jobs")
    assert not worker.events("worker.aborting_jobs")
    db.one("delete from procrastinate_jobs where id = %s returning id", late_job)


def test_a_job_deferred_for_later_runs_when_due_not_at_the_next_poll(
    cluster: TempCluster, spawn: Callable[..., WorkerProcess]
) -> None:
    """procrastinate announces a job when it is inserted, not when it falls due: a worker
    with nothing to do would find a job deferred for later only at its next poll. With a
    poll far beyond this test's patience, the jobs still run — each at its time, not
    before — because the worker wakes when the next one falls due."""
    db = Db(cluster.dsn())
    worker = spawn(cluster.url, MIRAGE_JOB_POLL_SECONDS="30")
    wait_for("the worker to be ready", lambda: worker.ready() == 200, 60)
    # Periodic jobs are deferred every 30 s (metrics.refresh, on the half minute), and each
    # insertion wakes the worker too: the wait ends before the next such moment.
    if (left := 30 - time.time() % 30) < 10:
        time.sleep(left + 1)
    until = time.time() + 29 - time.time() % 30
    keys = _keys("later", 3)
    ids = [db.defer(k, in_s=0.5 * (i + 1)) for i, k in enumerate(keys)]
    wait_for(
        "the jobs deferred for later to run",
        lambda: all(db.runs(k, "done") for k in keys),
        until - time.time(),
    )
    for key, job_id in zip(keys, ids, strict=True):
        early = db.one(
            "select count(*) from probe_runs r join procrastinate_jobs j on j.id = %s "
            "where r.key = %s and r.phase = 'start' and r.at < j.scheduled_at",
            job_id,
            key,
        )
        assert early == 0, f"{key} ran before it was due"


def test_a_job_past_the_shutdown_timeout_ends_aborted(
    cluster: TempCluster, spawn: Callable[..., WorkerProcess]
) -> None:
    """What an interrupted send ends as: a job without retries (like messaging.send_message)
    still running when the shutdown timeout expires is recorded ``aborted`` — its message is
    left for messaging's reaper to reconcile. The default timeout never lets that happen to a
    send; here it is set short on purpose."""
    db = Db(cluster.dsn())
    worker = spawn(cluster.url, MIRAGE_WORKER_SHUTDOWN_SECONDS="0.5")
    wait_for("the worker to be ready", lambda: worker.ready() == 200, 60)
    [key] = _keys("cut-off", 1)
    job = db.defer(key, hold_s=30, task="tests.probe_once")
    wait_for("the job to start", lambda: db.runs(key, "start"))
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0
    assert db.status(job) == "aborted"
    assert db.runs(key, "done") == 0
    assert worker.events("worker.aborting_jobs")


def test_fatal_errors_exit_non_zero(
    cluster: TempCluster, spawn: Callable[..., WorkerProcess]
) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("create database bare")  # never migrated
    bare = spawn(cluster.url.replace("/mirage", "/bare"))
    no_role = spawn(
        cluster.url,
        MIRAGE_APP_DATABASE_URL=cluster.url.replace("postgres@", "no_such_role@"),
    )
    assert bare.proc.wait(timeout=60) == 1
    assert "mirage migrate" in bare.log_path.read_text()
    assert no_role.proc.wait(timeout=60) == 1
    assert "no_such_role" in no_role.log_path.read_text()


def test_a_failover_to_another_server_is_followed(
    cluster: TempCluster, spawn: Callable[..., WorkerProcess]
) -> None:
    """The URL names two servers (libpq multi-host, writable one wanted): when the first
    goes away, the worker and the API's engine carry on with the second, without a restart."""
    first, second = TempCluster(), cluster
    try:
        _prepare(first)
        url = (
            "postgresql+psycopg://postgres@/mirage?host=127.0.0.1,127.0.0.1"
            f"&port={first.port},{second.port}&target_session_attrs=read-write"
        )
        worker = spawn(url)
        wait_for("the worker to be ready", lambda: worker.ready() == 200, 60)
        [before] = _keys("before-failover", 1)
        Db(first.dsn()).defer(before)
        wait_for("a job on the first server", lambda: Db(first.dsn()).runs(before, "done"))

        first.stop()  # the "old primary" is gone; the second is the new one
        db = Db(second.dsn())
        after = _keys("after-failover", 3)
        ids = [db.defer(k) for k in after]
        wait_for("jobs on the second server", lambda: all(db.runs(k, "done") for k in after), 30)
        assert all(db.status(i) == "succeeded" for i in ids)
        assert worker.alive()

        # The API's engine (same factory as the API's) follows too, on its first query.
        import asyncio

        from sqlalchemy import text

        from mirage.db.engine import make_database

        async def port_after_failover() -> int:
            database = make_database(derive(url), pool_size=1)
            try:
                async with database.sessions() as session:
                    return int(
                        (await session.execute(text("select inet_server_port()"))).scalar_one()
                    )
            finally:
                await database.dispose()

        assert asyncio.run(port_after_failover()) == second.port
    finally:
        first.destroy()
