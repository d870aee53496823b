"""Webhook ingest throughput of Mirage next to a bare FastAPI + PostgreSQL insert baseline.

    .venv/bin/python bench/webhook_ingest.py [--events 20000] [--concurrency 32] [--api-workers 1]

Both servers run as separate uvicorn processes against the same PostgreSQL (embedded unless
MIRAGE_DATABASE_URL is set) and receive the same Evolution `messages.upsert` envelopes
(unique message ids, signed JWT, tenant header for Mirage). Prints events/s, p50/p99 latency
and Mirage/baseline ratios. Targets: >= 1,200 events/s and >= 0.5 of the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import jwt
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._http import LoadResult, post, run_load
from mirage.db import embedded
from mirage.db.migrate import migrate
from mirage.db.urls import RoleUrls, derive
from mirage.kit import crypto

SECRET_KEY = "bench-secret-key"
DB = "mirage_bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def _prepare(data_dir: Path) -> tuple[RoleUrls, uuid.UUID, uuid.UUID, str, str]:
    server = os.environ.get("MIRAGE_DATABASE_URL") or embedded.start(data_dir)
    base = make_url(server)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DB}" with (force)')
        conn.execute(f'create database "{DB}"')
    urls = derive(base.set(database=DB).render_as_string(hide_password=False))
    migrate(urls)
    tenant_id, instance_id = uuid.uuid4(), uuid.uuid4()
    secret = crypto.random_token(32)
    gateway_name = f"mirage-{instance_id.hex[:20]}"
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap), autocommit=True) as conn:
        conn.execute(
            "insert into tenants (id, name, slug) values (%s, 'Bench', 'bench')", (tenant_id,)
        )
        conn.execute(
            "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
            "webhook_secret_enc, provisioned, state) values (%s, %s, 'bench', %s, %s, %s, "
            "true, 'open')",
            (
                instance_id,
                tenant_id,
                gateway_name,
                crypto.encrypt(SECRET_KEY, "tok"),
                crypto.encrypt(SECRET_KEY, secret),
            ),
        )
        conn.execute(
            "create table bench_baseline (id bigserial primary key, "
            "received_at timestamptz default now(), payload jsonb not null)"
        )
        conn.execute("grant all on bench_baseline, bench_baseline_id_seq to mirage_app")
    return urls, tenant_id, instance_id, secret, gateway_name


def _bodies(n: int, gateway_name: str) -> list[bytes]:
    out = []
    for i in range(n):
        out.append(
            json.dumps(
                {
                    "event": "messages.upsert",
                    "instance": gateway_name,
                    "data": {
                        "key": {
                            "remoteJid": f"55119{i % 10000:08d}@s.whatsapp.net",
                            "fromMe": False,
                            "id": f"BENCH{uuid.uuid4().hex[:16].upper()}",
                        },
                        "pushName": "Ana",
                        "status": "DELIVERY_ACK",
                        "message": {"conversation": f"Mensagem de teste {i}"},
                        "messageType": "conversation",
                        "messageTimestamp": 1764151200 + i,
                        "instanceId": "bench",
                        "source": "android",
                    },
                    "destination": "http://bench",
                    "date_time": "2026-11-26T10:00:00.000Z",
                    "sender": "5511999990000@s.whatsapp.net",
                    "server_url": "http://sim",
                    "apikey": None,
                }
            ).encode()
        )
    return out


def _serve(cmd: list[str], env: dict[str, str], health: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(health, proc)
    return proc


async def _measure(
    port: int, path: str, headers: dict[str, str], bodies: list[bytes], concurrency: int
) -> LoadResult:
    host = f"127.0.0.1:{port}"
    reqs = [post(path, b, headers, host) for b in bodies]
    warm, rest = reqs[: len(reqs) // 6], reqs[len(reqs) // 6 :]
    await run_load("127.0.0.1", port, warm, concurrency=concurrency)
    return await run_load("127.0.0.1", port, rest, concurrency=concurrency)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument(
        "--api-workers", type=int, default=1, help="`mirage api --workers`: processes serving"
    )
    args = ap.parse_args()

    data_dir = Path(os.environ.get("MIRAGE_DATA_DIR", ".mirage")) / "bench"
    urls, tenant_id, instance_id, secret, gateway_name = _prepare(data_dir)
    env = {
        **os.environ,
        "MIRAGE_DATABASE_URL": urls.bootstrap.render_as_string(hide_password=False),
        "MIRAGE_SECRET_KEY": SECRET_KEY,
        "MIRAGE_LOG_LEVEL": "INFO",
        "BASELINE_DATABASE_URL": urls.app.render_as_string(hide_password=False),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    bodies = _bodies(args.events, gateway_name)
    uv = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]

    base_port = _free_port()
    baseline = _serve(
        [*uv, "bench.baseline_app:app", "--port", str(base_port)],
        env,
        f"http://127.0.0.1:{base_port}/docs",
    )
    try:
        b = asyncio.run(_measure(base_port, "/ingest", {}, bodies, args.concurrency))
    finally:
        baseline.terminate()
        baseline.wait()

    with tempfile.TemporaryDirectory():
        port = _free_port()
        mirage = _serve(
            [
                sys.executable,
                "-m",
                "mirage",
                "api",
                "--port",
                str(port),
                "--workers",
                str(args.api_workers),
            ],
            env,
            f"http://127.0.0.1:{port}/health",
        )
        try:
            token = jwt.encode(
                {
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 600,
                    "app": "evolution",
                    "action": "webhook",
                },
                secret,
                algorithm="HS256",
            )
            headers = {"Authorization": f"Bearer {token}", "X-Mirage-Tenant": str(tenant_id)}
            m = asyncio.run(
                _measure(
                    port, f"/webhooks/evolution/{instance_id}", headers, bodies, args.concurrency
                )
            )
        finally:
            mirage.terminate()
            mirage.wait()

    with psycopg.connect(RoleUrls.libpq(urls.bootstrap)) as conn:
        stored = conn.execute("select count(*) from messages").fetchone()[0]  # type: ignore[index]
    print(
        f"events: {args.events} ({m.requests} measured after warm-up), "
        f"concurrency {args.concurrency}, cores {os.cpu_count()}"
    )
    print(f"{'':22}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, r in (("baseline (bare insert)", b), ("mirage webhook ingest", m)):
        print(f"{name:22}{r.rate:>10.0f}{r.pct(50):>9.2f}{r.pct(99):>9.2f}{r.errors:>8}")
    print(
        f"ratio mirage/baseline: throughput {m.rate / b.rate:.2f}, "
        f"p50 latency {m.pct(50) / b.pct(50):.2f}x"
    )
    print(f"messages stored by mirage: {stored} (every event, idempotent on provider id)")
    print(
        f"targets: >= 1200 events/s -> {'met' if m.rate >= 1200 else 'NOT met'}; "
        f">= 0.5 of baseline -> {'met' if m.rate / b.rate >= 0.5 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
