"""Liveness, readiness (database + worker heartbeat), Prometheus metrics, correlation ids."""

from __future__ import annotations

import asyncio
import io
import json
import sys

import httpx
import psycopg
import pytest

from mirage.kit import jobs
from mirage.kit.logging import configure_logging
from tests.conftest import TenantFixture, make_token


async def test_liveness(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_readiness_needs_a_live_worker(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        # Rows of workers that died without deregistering (no worker runs at this point).
        conn.execute("delete from procrastinate_workers")
    r = await client.get("/health/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["database"]["ok"] is True and body["checks"]["worker"]["ok"] is False

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
        assert r.json()["checks"]["worker"]["ok"] is True
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


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
