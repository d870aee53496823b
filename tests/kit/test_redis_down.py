"""Redis is optional infrastructure: a configured Redis that dies, hangs or drops connections
never turns into 500s. A real redis-server is started, killed, paused and restarted here; the
app is driven over real HTTP (ASGI), with the shared limits in that Redis.

While Redis is down: sign-in and the API answer, limits still apply (per process, each limit
divided by MIRAGE_REDIS_FALLBACK_REPLICAS, here 2), one warning is logged per outage,
/metrics shows it, and /health/ready stays 200 with ``redis: degraded``. Redis is re-probed
with backoff on an injected clock (no sleeps, no timings): when it answers again, the shared
limits apply again."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from mirage.config import get_settings
from mirage.db import engine as db_engine
from mirage.db.urls import RoleUrls
from mirage.kit import jobs
from mirage.kit.http import limits as pool_limits
from mirage.kit.logging import configure_logging
from mirage.kit.ratelimit import PROBE_BACKOFF_FIRST_S, RateLimiter
from tests.conftest import TenantFixture, _wait_http, free_port, make_token, sign_in

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server)"
)


class RedisServer:
    """A throw-away redis-server on a free port (no persistence), killed and restarted at will."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 30
        while True:  # started when it answers (a start-up wait, not a measured timing)
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.log_path}")
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nothing ever answers (a black hole)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def limit_keys(self) -> list[bytes]:
        with self.client() as c:
            return list(c.keys("LIMITS*"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


class FakeClock:
    """The limiter's monotonic clock: a re-probe is due only when the test says time passed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RedisApp:
    app: FastAPI
    limiter: RateLimiter
    clock: FakeClock
    redis: RedisServer


@pytest.fixture
async def redis_app(
    database: db_engine.Database, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RedisApp]:
    from mirage.app import create_app

    settings = get_settings()
    # Hour-long windows: no outcome can depend on how fast the machine runs the test.
    for name, value in (
        ("api_rate_per_tenant", "6/hour"),
        ("login_rate_per_ip", "20/hour"),
        ("login_rate_per_ip_account", "4/hour;20/day"),
        ("login_rate_per_account", "10/hour;30/day"),
        ("login_rate_per_device", "10/hour;30/day"),
        ("webhook_auth_failures_per_ip", "4/hour"),
    ):
        monkeypatch.setattr(settings, name, value)
    app = create_app(
        settings.model_copy(update={"redis_url": redis_server.url, "redis_fallback_replicas": 2}),
        manage_database=False,
    )
    limiter: RateLimiter = app.state.rate_limiter
    clock = FakeClock()
    limiter.clock = clock
    yield RedisApp(app, limiter, clock, redis_server)
    await limiter.aclose()


@asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with an address of its own (per-address limits start empty)."""
    peer = (f"127.{random.randint(1, 250)}.{random.randint(0, 250)}.{random.randint(1, 250)}", 5)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@asynccontextmanager
async def live_worker() -> AsyncIterator[None]:
    """A worker sending heartbeats, so readiness depends on Redis alone."""
    task = asyncio.create_task(
        jobs.app.run_worker_async(
            install_signal_handlers=False, queues=["no-such-queue"], update_heartbeat_interval=1
        )
    )
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def ready(c: httpx.AsyncClient) -> httpx.Response:
    """/health/ready once the worker's first heartbeat is in (polled, not timed)."""
    for _ in range(400):
        r = await c.get("/health/ready")
        if r.json()["checks"].get("worker", {}).get("ok"):
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"no worker heartbeat: {r.text}")


def metrics(text: str) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(("mirage_redis", "mirage_ratelimit"))
    }


async def bad_sign_in(c: httpx.AsyncClient, email: str) -> int:
    await c.get("/signin")
    r = await c.post(
        "/signin",
        data={"email": email, "password": "wrong", "csrf_token": c.cookies.get("mirage_csrf")},
    )
    return r.status_code


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    configure_logging("INFO", json=True)
    yield buf
    monkeypatch.undo()
    configure_logging("WARNING", json=True)


def events(buf: io.StringIO, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buf.getvalue().splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("event") == name]


async def test_redis_killed_then_restarted(
    redis_app: RedisApp, tenant_a: TenantFixture, logs: io.StringIO
) -> None:
    app, clock, server = redis_app.app, redis_app.clock, redis_app.redis
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    async with http(app) as c, live_worker():
        # Healthy: the API's limit is the shared one, counted in Redis.
        r = await c.get("/api/v1/me", headers=auth)
        assert r.status_code == 200 and r.headers["RateLimit-Limit"] == "6"
        assert server.limit_keys()
        healthy = await ready(c)
        assert healthy.status_code == 200, healthy.text
        assert healthy.json()["checks"]["redis"] == {"ok": True, "status": "ok"}
        assert healthy.json()["degraded"] == []
        before = metrics((await c.get("/metrics")).text)

        server.kill()

        # Sign-in through the real form still works (303 to the dashboard, not a 500)...
        await sign_in(c, tenant_a)
        assert (await c.get("/")).status_code == 200
        # ...and so does the API, under the per-process limit (6 // 2 replicas).
        r = await c.get("/api/v1/me", headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["tenant"]["id"] == str(tenant_a.tenant_id)
        assert r.headers["RateLimit-Limit"] == "3" and r.headers["RateLimit-Remaining"] == "2"

        # Readiness: still ready (the replica serves everyone), Redis shown degraded.
        r = await c.get("/health/ready")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ready"] is True and body["degraded"] == ["redis"]
        assert body["checks"]["redis"]["status"] == "degraded"
        assert body["checks"]["redis"]["required"] is False
        assert body["checks"]["redis"]["error"] == "ConnectionError"
        assert body["checks"]["redis"]["next_probe_in_s"] == PROBE_BACKOFF_FIRST_S

        # /metrics: degraded, one outage, checks decided by the fallback.
        during = metrics((await c.get("/metrics")).text)
        assert during["mirage_redis_degraded"] == 1
        assert during["mirage_redis_outages_total"] == before["mirage_redis_outages_total"] + 1
        assert during["mirage_ratelimit_fallback_total"] > before["mirage_ratelimit_fallback_total"]

        # Limits still apply, and stricter: the API's 3rd call in the window is the last one.
        codes = [(await c.get("/api/v1/me", headers=auth)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        # Sign-in per (address, account): 4/hour shared, 2/hour per process.
        other = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
        assert [await bad_sign_in(c, other) for _ in range(3)] == [401, 401, 429]

        # Re-probes follow the backoff, not the requests: when one is due, the next request
        # makes it; it fails (still down) and the next wait doubles.
        clock.advance(PROBE_BACKOFF_FIRST_S)
        assert (await c.get("/api/v1/me", headers=auth)).status_code == 429
        r = await c.get("/health/ready")
        assert r.json()["checks"]["redis"]["next_probe_in_s"] == 2 * PROBE_BACKOFF_FIRST_S
        assert r.json()["checks"]["redis"]["status"] == "degraded"

        # One warning for the whole outage, however many requests fell back.
        warnings = events(logs, "redis.degraded")
        assert len(warnings) == 1 and warnings[0]["level"] == "warning"
        assert warnings[0]["error"] == "ConnectionError"

        # Redis comes back on the same port (empty: no persistence). No probe is due yet, so
        # the fallback still decides and nothing is written to Redis.
        server.start()
        r = await c.get("/api/v1/me", headers=auth)
        assert r.status_code == 429 and r.headers["RateLimit-Limit"] == "3"
        assert server.limit_keys() == []
        assert (await c.get("/health/ready")).json()["checks"]["redis"]["status"] == "degraded"

        # The probe falls due: the next request finds Redis and the shared limit applies again
        # (a fresh window in the restarted Redis: 6 allowed, this is the first).
        clock.advance(2 * PROBE_BACKOFF_FIRST_S)
        r = await c.get("/api/v1/me", headers=auth)
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Limit"] == "6" and r.headers["RateLimit-Remaining"] == "5"
        assert server.limit_keys()

        r = await c.get("/health/ready")
        assert r.status_code == 200
        assert r.json()["checks"]["redis"] == {"ok": True, "status": "ok"}
        assert r.json()["degraded"] == []
        after = metrics((await c.get("/metrics")).text)
        assert after["mirage_redis_degraded"] == 0
        assert after["mirage_redis_outages_total"] == during["mirage_redis_outages_total"]
        recovered = events(logs, "redis.recovered")
        assert len(recovered) == 1 and len(events(logs, "redis.degraded")) == 1


async def test_a_black_holed_redis_times_out_to_the_fallback(
    redis_app: RedisApp, tenant_a: TenantFixture
) -> None:
    """SIGSTOP: connections are accepted and never answered. Requests are still served (the
    socket timeout ends the wait; the bound below only keeps a regression from hanging)."""
    app, clock, server = redis_app.app, redis_app.clock, redis_app.redis
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    async with http(app) as c:
        r = await c.get("/api/v1/me", headers=auth)
        assert r.headers["RateLimit-Limit"] == "6"
        server.pause()
        try:
            async with asyncio.timeout(60):
                r = await c.get("/api/v1/me", headers=auth)
                assert r.status_code == 200, r.text
                assert r.headers["RateLimit-Limit"] == "3"
                await sign_in(c, tenant_a)
                redis_check = (await c.get("/health/ready")).json()["checks"]["redis"]
            assert redis_check["status"] == "degraded" and redis_check["error"] == "TimeoutError"
        finally:
            server.resume()
        clock.advance(PROBE_BACKOFF_FIRST_S)
        r = await c.get("/api/v1/me", headers=auth)
        assert r.status_code == 200 and r.headers["RateLimit-Limit"] == "6"
        assert (await c.get("/health/ready")).json()["checks"]["redis"]["status"] == "ok"


async def test_a_dropped_connection_is_not_an_outage(
    redis_app: RedisApp, tenant_a: TenantFixture
) -> None:
    """Redis (or a proxy) closing the pooled connections, e.g. its idle timeout: the next call
    reconnects at once and the shared limiter keeps deciding."""
    app, limiter, server = redis_app.app, redis_app.limiter, redis_app.redis
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    async with http(app) as c:
        first = await c.get("/api/v1/me", headers=auth)
        assert first.headers["RateLimit-Remaining"] == "5"
        with server.client() as admin:
            assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
        r = await c.get("/api/v1/me", headers=auth)
        assert r.status_code == 200
        assert r.headers["RateLimit-Limit"] == "6" and r.headers["RateLimit-Remaining"] == "4"
        assert not limiter.degraded
        assert (await c.get("/health/ready")).json()["checks"]["redis"]["status"] == "ok"


async def test_webhook_failure_limit_holds_without_redis(redis_app: RedisApp) -> None:
    """The per-source limit on failed webhook calls keeps answering 401, then 429 — per process
    (4/hour shared, 2/hour here) — instead of a 500 for every call."""
    redis_app.redis.kill()
    async with http(redis_app.app) as c:
        codes = [
            (await c.post(f"/webhooks/evolution/{uuid.uuid4()}", json={})).status_code
            for _ in range(3)
        ]
    assert codes == [401, 401, 429]
    assert redis_app.limiter.degraded


@dataclass
class ApiProcess:
    url: str
    log: Path


@pytest.fixture
def api_process(
    role_urls: RoleUrls, database: db_engine.Database, redis_server: RedisServer, tmp_path: Path
) -> Iterator[ApiProcess]:
    """`mirage api` (uvicorn) on the test database, with MIRAGE_REDIS_URL set."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        MIRAGE_DATABASE_URL=role_urls.bootstrap.render_as_string(hide_password=False),
        MIRAGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        MIRAGE_REDIS_URL=redis_server.url,
    )
    log_path = tmp_path / "api.log"
    with open(log_path, "ab") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "mirage", "api", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", api)
        yield ApiProcess(f"http://127.0.0.1:{port}", log_path)
    finally:
        api.terminate()
        try:
            api.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()


async def test_a_mirage_api_process_keeps_serving_over_keep_alive(
    api_process: ApiProcess, redis_server: RedisServer, tenant_a: TenantFixture
) -> None:
    """The reported failure, end to end: `mirage api` with MIRAGE_REDIS_URL set, Redis killed.
    Over one kept-alive connection, sign-in, the dashboard and the API keep answering (no
    500s, no reset connection) and readiness stays 200 with redis degraded."""
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    one = pool_limits(max_connections=1, max_keepalive=1)
    async with (
        httpx.AsyncClient(base_url=api_process.url, limits=one) as c,
        live_worker(),
    ):
        assert (await c.get("/api/v1/me", headers=auth)).status_code == 200
        assert redis_server.limit_keys()  # the process really counted in Redis
        redis_server.kill()
        await sign_in(c, tenant_a)  # 303, on the same connection
        assert (await c.get("/")).status_code == 200
        for _ in range(3):
            r = await c.get("/api/v1/me", headers=auth)
            assert r.status_code == 200, r.text
        r = await ready(c)
        assert r.status_code == 200, r.text
        assert r.json()["degraded"] == ["redis"]
        assert "mirage_redis_degraded 1.0" in (await c.get("/metrics")).text
    log_lines = api_process.log.read_text().splitlines()
    assert sum('"redis.degraded"' in line for line in log_lines) == 1


async def test_fallback_limits_are_divided_never_to_zero(redis_server: RedisServer) -> None:
    """Each limit divided by the replicas (floor), never below one; tiers too."""
    limiter = RateLimiter(redis_server.url, fallback_replicas=3, clock=FakeClock())
    key = uuid.uuid4().hex
    assert (await limiter.hit("7/hour", "shared", key)).limit == 7
    redis_server.kill()
    try:
        single = [await limiter.hit("1/hour", "one", key) for _ in range(2)]
        assert [r.allowed for r in single] == [True, False] and single[0].limit == 1
        tiers = [await limiter.hit_tiers("30/day;7/hour", "tiers", key) for _ in range(3)]
        assert [r.allowed for r in tiers] == [True, True, False]
        assert tiers[-1].limit == 2  # 7 // 3, the hour tier
        assert limiter.degraded
    finally:
        await limiter.aclose()
