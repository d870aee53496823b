"""Dashboard and API latency of Mirage next to a bare FastAPI + PostgreSQL app, in one run.

    .venv/bin/python bench/api_latency.py [--connections 100] [--requests 3000] [--rate 100]
        [--api-workers 1]

Seeds one tenant with 50 numbers and 100,000 messages (plus a signed-in browser session and an
API token), then serves it with a real `mirage api` process and the bare app
(bench/baseline_app.py: the same uvicorn, driver and database; per request one transaction
that sets the tenant and reads the 50 numbers) against the same PostgreSQL (embedded unless
MIRAGE_DATABASE_URL is set; Mirage runs with `MIRAGE_ENV=prod`). For `/instances` (the
numbers page: its first page of 50 and the counts by state), `/api/v1/me` and
`/api/v1/instances` (its first page, all 50), over `--connections` kept-alive connections:

- closed loop: every connection sends its next request as soon as the last one is answered
  (throughput and latency at saturation, as a ratio to the bare app's);
- paced: `--rate` requests/s in total spread over the connections (latency measured from the
  time each request was due, so a stall counts for every request it delays). The target is
  p99 < 50 ms.

Prints a table and the load average; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._http import LoadResult, _read_response
from bench.webhook_ingest import _free_port, _serve
from mirage.auth import passwords
from mirage.auth.service import _encode_token
from mirage.db import embedded
from mirage.db.migrate import migrate
from mirage.db.urls import RoleUrls, derive
from mirage.kit import crypto

SECRET_KEY = "bench-secret-key"
DB = "mirage_bench_api"
NUMBERS = 50
MESSAGES = 100_000


@dataclass
class Seeded:
    urls: RoleUrls
    tenant_id: uuid.UUID
    session_cookie: str
    api_token: str


def _prepare(data_dir: Path) -> Seeded:
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
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    cookie = crypto.random_token(32)
    token = _encode_token(tenant_id, crypto.random_token(32))
    token_enc = crypto.encrypt(SECRET_KEY, "tok")
    secret_enc = crypto.encrypt(SECRET_KEY, "secret")
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap)) as conn:
        conn.execute(
            "insert into tenants (id, name, slug) values (%s, 'Bench', 'bench')", (tenant_id,)
        )
        conn.execute(
            "insert into users (id, email, display_name, password_hash) "
            "values (%s, 'bench@example.com', 'Bench', %s)",
            (user_id, passwords.hash_password("bench-password-1")),
        )
        conn.execute(
            "insert into memberships (id, tenant_id, user_id, role) values (%s, %s, %s, 'owner')",
            (uuid.uuid4(), tenant_id, user_id),
        )
        conn.execute(
            "insert into user_sessions (id, token_hash, user_id, active_tenant_id, expires_at) "
            "values (%s, %s, %s, %s, now() + interval '1 day')",
            (uuid.uuid4(), crypto.sha256_hex(cookie), user_id, tenant_id),
        )
        conn.execute(
            "insert into api_tokens (id, tenant_id, name, token_hash, hint, scopes, created_by) "
            "values (%s, %s, 'bench', %s, %s, %s, %s)",
            (
                uuid.uuid4(),
                tenant_id,
                crypto.sha256_hex(token),
                token[-6:],
                ["read", "write", "admin"],
                user_id,
            ),
        )
        states = ("open", "open", "open", "connecting", "close")
        instance_ids = []
        for i in range(NUMBERS):
            iid = uuid.uuid4()
            instance_ids.append(iid)
            state = states[i % len(states)]
            conn.execute(
                "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
                "webhook_secret_enc, provisioned, state, state_reason, needs_pairing, phone, "
                "profile_name, first_connected_at, health, health_reason) values (%s, %s, %s, "
                "%s, %s, %s, true, %s, %s, %s, %s, %s, now(), %s, %s)",
                (
                    iid,
                    tenant_id,
                    f"Number {i:02d}",
                    f"mirage-{iid.hex[:20]}",
                    token_enc,
                    secret_enc,
                    state,
                    None if state == "open" else 401,
                    state != "open",
                    f"55119{i:08d}",
                    f"Profile {i}",
                    "healthy" if i % 7 else "degraded",
                    None if i % 7 else "low delivery rate",
                ),
            )
        conn.execute(
            "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
            "from_me, remote_jid, message_type, text, status, status_rank, status_history, "
            "created_at) select gen_random_uuid(), %s, (%s::uuid[])[1 + g %% %s], "
            "'BENCH' || g, case when g %% 2 = 0 then 'outbound' else 'inbound' end, "
            "g %% 2 = 0, '55119' || lpad((g %% 10000)::text, 8, '0') || '@s.whatsapp.net', "
            "'conversation', 'Mensagem ' || g, 'DELIVERY_ACK', 3, '[]'::jsonb, "
            "now() - (g || ' seconds')::interval from generate_series(1, %s) g",
            (tenant_id, instance_ids, NUMBERS, MESSAGES),
        )
        conn.execute("analyze")
    return Seeded(urls, tenant_id, cookie, token)


def _get(path: str, headers: dict[str, str], host: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _load(
    port: int, request: bytes, *, connections: int, total: int, rate: float | None = None
) -> LoadResult:
    """``total`` requests over ``connections`` kept-alive connections.

    Closed loop (``rate`` None): each connection sends its next request when the last one is
    answered; latency counts from the send. Paced (open loop): request k is due at k/rate and
    its latency counts from when it was due, so a stall counts for every request it delays.
    A connection the server drops counts one error and is reopened."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.2
    next_k = 0

    async def worker() -> None:
        nonlocal errors, next_k
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_k < total:
                k = next_k
                next_k += 1
                if rate is not None:
                    t0 = start + k / rate
                    if (delay := t0 - time.perf_counter()) > 0:
                        await asyncio.sleep(delay)
                else:
                    t0 = time.perf_counter()
                try:
                    writer.write(request)
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if not 200 <= status < 300:
                    errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return LoadResult(total, errors, time.perf_counter() - began, latencies)


@dataclass
class Figures:
    closed: LoadResult
    paced: LoadResult


async def _measure(port: int, request: bytes, args: argparse.Namespace) -> Figures:
    n = args.connections
    await _load(port, request, connections=n, total=max(200, args.requests // 5))  # warm-up
    closed = await _load(port, request, connections=n, total=args.requests)
    paced = await _load(
        port, request, connections=n, total=max(1, int(args.rate * args.seconds)), rate=args.rate
    )
    return Figures(closed, paced)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--requests", type=int, default=3000, help="closed-loop requests per path")
    ap.add_argument("--rate", type=float, default=100.0, help="paced requests/s per path")
    ap.add_argument("--seconds", type=float, default=15.0, help="paced duration per path")
    ap.add_argument(
        "--api-workers", type=int, default=1, help="`mirage api --workers`: processes serving"
    )
    args = ap.parse_args()

    data_dir = Path(os.environ.get("MIRAGE_DATA_DIR", ".mirage")) / "bench"
    seeded = _prepare(data_dir)
    env = {
        **os.environ,
        "MIRAGE_DATABASE_URL": seeded.urls.bootstrap.render_as_string(hide_password=False),
        "MIRAGE_SECRET_KEY": SECRET_KEY,
        # Configured as in production (templates are not re-checked on disk at each render).
        "MIRAGE_ENV": "prod",
        "MIRAGE_LOG_LEVEL": "WARNING",
        # The bench measures latency, not the rate limiter: a budget it never reaches.
        "MIRAGE_API_RATE_PER_TENANT": "1000000/minute",
        "BASELINE_DATABASE_URL": seeded.urls.app.render_as_string(hide_password=False),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    uv = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
    results: dict[str, Figures] = {}

    base_port = _free_port()
    baseline = _serve(
        [*uv, "bench.baseline_app:app", "--port", str(base_port)],
        env,
        f"http://127.0.0.1:{base_port}/docs",
    )
    try:
        bare = _get(f"/instances?tenant={seeded.tenant_id}", {}, f"127.0.0.1:{base_port}")
        results["bare"] = asyncio.run(_measure(base_port, bare, args))
    finally:
        baseline.terminate()
        baseline.wait()

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
    host = f"127.0.0.1:{port}"
    paths = {
        "/instances": _get(
            "/instances", {"Cookie": f"mirage_session={seeded.session_cookie}"}, host
        ),
        "/api/v1/me": _get("/api/v1/me", {"Authorization": f"Bearer {seeded.api_token}"}, host),
        "/api/v1/instances": _get(
            "/api/v1/instances", {"Authorization": f"Bearer {seeded.api_token}"}, host
        ),
    }
    try:
        for name, request in paths.items():
            results[name] = asyncio.run(_measure(port, request, args))
    finally:
        mirage.terminate()
        mirage.wait()

    load = os.getloadavg()
    b = results["bare"]
    print(
        f"{NUMBERS} numbers, {MESSAGES:,} messages; {args.connections} connections; "
        f"closed loop {args.requests} requests/path; paced {args.rate:g}/s for "
        f"{args.seconds:g} s; cores {os.cpu_count()}; load {load[0]:.2f} {load[1]:.2f}"
    )
    # The ratios to the bare app of the same run are the figures to compare across runs on a
    # shared machine: throughput (req/s, higher is better) is the steadiest of them.
    print(
        f"{'':20}{'req/s':>8}{'x bare':>8}{'p50 ms':>9}{'p99 ms':>9}{'x bare':>8}"
        f"{'paced p50':>11}{'paced p99':>11}{'x bare':>8}{'errors':>8}"
    )
    summary: dict[str, object] = {"load1": round(load[0], 2)}
    for name, f in results.items():
        c, p = f.closed, f.paced
        rps_ratio = c.rate / b.closed.rate if b.closed.rate else 0.0
        ratio = c.pct(99) / b.closed.pct(99) if b.closed.pct(99) else 0.0
        pratio = p.pct(99) / b.paced.pct(99) if b.paced.pct(99) else 0.0
        print(
            f"{name:20}{c.rate:>8.0f}{rps_ratio:>8.2f}{c.pct(50):>9.1f}{c.pct(99):>9.1f}{ratio:>8.2f}"
            f"{p.pct(50):>11.1f}{p.pct(99):>11.1f}{pratio:>8.2f}{c.errors + p.errors:>8}"
        )
        key = name.strip("/").replace("/", "_") or "root"
        summary[key] = {
            "rps": round(c.rate),
            "rps_x_bare": round(rps_ratio, 2),
            "p50": round(c.pct(50), 1),
            "p99": round(c.pct(99), 1),
            "p99_x_bare": round(ratio, 2),
            "paced_p99": round(p.pct(99), 1),
            "paced_p99_x_bare": round(pratio, 2),
            "errors": c.errors + p.errors,
        }
    met = all(results[n].paced.pct(99) < 50 for n in paths)
    print(f"target paced p99 < 50 ms on every path: {'met' if met else 'NOT met'}")
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
