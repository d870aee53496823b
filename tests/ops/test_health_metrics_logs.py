"""Liveness, readiness (database + worker heartbeat), Prometheus metrics, correlation ids."""

from __future__ import annotations

import asyncio
import io
import json
import sys

import httpx
import pytest

from mirage.config import get_settings
from mirage.db.urls import RoleUrls
from mirage.kit import jobs
from mirage.kit.logging import configure_logging
from mirage.ops.service import worker_check
from tests.conftest import TenantFixture, free_port, make_token


async def test_liveness(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_worker_check_needs_a_recent_heartbeat() -> None:
    assert worker_check(None) == {"ok": False, "last_heartbeat_age_s": None}
    assert worker_check(3.21)["ok"] is True
    assert worker_check(61.0)["ok"] is False


async def test_ready_with_a_live_worker(client: httpx.AsyncClient) -> None:
    worker = asyncio.create_task(
        jobs.app.run_worker_async(
            install_signal_handlers=False, queues=["no-such-queue"], update_heartbeat_interval=1
        )
    )
    try:
        for _ in range(100):
            r = await client.get("/health/ready")
            if r.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["checks"]["database"]["ok"] and body["checks"]["worker"]["ok"]
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def test_not_ready_when_the_database_is_unreachable(role_urls: RoleUrls) -> None:
    """A real outage: the app's database points at a server that is not there."""
    from mirage.app import create_app
    from mirage.db import engine as db_engine

    good = db_engine.get_database()
    dead = role_urls.app.set(host="127.0.0.1", port=free_port(), query={})
    bad = db_engine.make_database(RoleUrls(dead, dead, dead), pool_size=1)
    db_engine.set_database(bad)
    try:
        app = create_app(get_settings(), manage_database=False)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/health/ready")
            live = await c.get("/health")
    finally:
        db_engine.set_database(good)
        await bad.dispose()
    assert r.status_code == 503
    assert r.json()["checks"]["database"]["ok"] is False
    assert live.status_code == 200  # liveness does not depend on the database


async def test_metrics_use_route_templates(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    token = await make_token(tenant_a)
    await client.get(
        "/api/v1/tokens/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": f"Bearer {token}"},
    )
    await client.get("/signin")
    text = (await client.get("/metrics")).text
    assert (
        'mirage_http_requests_total{method="GET",route="/api/v1/tokens/{token_id}",status="404"}'
        in text
    )
    assert 'route="/signin"' in text
    assert "mirage_http_request_duration_seconds_bucket" in text
    assert "00000000-0000-0000-0000-000000000000" not in text  # raw ids never become labels


async def test_request_id_is_echoed_generated_and_sanitised(client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/health")).headers["x-request-id"]
    assert len(generated) == 32
    r = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces" * 20})
    assert (
        r.headers["x-request-id"] != "bad id\twith spaces" * 20
        and len(r.headers["x-request-id"]) == 32
    )


async def test_logs_are_json_with_the_correlation_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    configure_logging("INFO", json=True)
    try:
        await client.get("/health", headers={"X-Request-ID": "trace-me-42"})
    finally:
        monkeypatch.undo()
        configure_logging("WARNING", json=True)
    lines = [json.loads(line) for line in buf.getvalue().splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry.get("event") == "http.request"]
    assert access and access[-1]["correlation_id"] == "trace-me-42"
    assert access[-1]["route"] == "/health" and access[-1]["status"] == 200
