"""No job calls the gateway while it holds a database connection (a transaction, its locks).

Every gateway call made by the worker's jobs goes through a watching proxy; the database
engines' pools report which asyncio task holds a connection. A round run to its end, a
reconciliation of every number and the confirmation of each one's state must never call the
gateway from a task that holds one (holding a transaction across seconds of network time
exhausts the pool and keeps row locks: issue 8). New jobs are covered as they call the
gateway: nothing here lists them."""

from __future__ import annotations

import asyncio
import traceback
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event, text

from mirage.db import engine as db_engine
from mirage.db.engine import session_scope
from mirage.instances import gateway as gateway_module
from mirage.instances import tasks as instance_tasks
from mirage.kit import jobs
from tests.conftest import GatewayWorld, eventually
from tests.conversations.conftest import WarmPair, conversation_body, start_now

HELD: Counter[asyncio.Task[Any] | None] = Counter()


def _task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class WatchingGateway:
    """The real gateway client, which first checks the calling task holds no connection."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: Counter[str] = Counter()
        self.violations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def watched(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if HELD[_task()] > 0:
                where = "".join(traceback.format_stack(limit=12)[:-1])
                self.violations.append(f"{name} called holding a connection:\n{where}")
            return await attr(*args, **kwargs)

        return watched


@pytest.fixture
def watch_pools() -> Any:
    db = db_engine.get_database()
    engines = [db.app_engine.sync_engine, db.admin_engine.sync_engine]

    def checkout(*_: Any) -> None:
        HELD[_task()] += 1

    def checkin(*_: Any) -> None:
        HELD[_task()] -= 1

    for eng in engines:
        event.listen(eng, "checkout", checkout)
        event.listen(eng, "checkin", checkin)
    yield
    for eng in engines:
        event.remove(eng, "checkout", checkout)
        event.remove(eng, "checkin", checkin)
    HELD.clear()


async def test_jobs_never_call_the_gateway_holding_a_connection(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    warm: WarmPair,
    bootstrap_conninfo: str,
    watch_pools: None,
) -> None:
    real = gateway_module.get_gateway()
    watching = WatchingGateway(real)
    gateway_module.set_gateway(watching)  # type: ignore[arg-type]
    try:
        body = {**conversation_body(warm), "name": "Sem rede em transação"}
        conv = (await client.post("/api/v1/conversations", headers=warm.auth, json=body)).json()
        await start_now(bootstrap_conninfo, conv["id"])

        async def round_done() -> object:
            with psycopg.connect(bootstrap_conninfo) as conn:
                row = conn.execute(
                    "select state from rounds where conversation_id = %s and state not in "
                    "('planned', 'running') limit 1",
                    (conv["id"],),
                ).fetchone()
            return row[0] if row else None

        assert await eventually(round_done, timeout_s=90, what="a round ended") == "completed"
        # Reconciliation of every number, and each number's state confirmation.
        await instance_tasks.reconcile_tenant.defer_async(tenant_id=str(warm.tenant.tenant_id))
        for n in warm.numbers:
            await instance_tasks.confirm_state.defer_async(
                tenant_id=str(warm.tenant.tenant_id), instance_id=n["id"]
            )
        await jobs.app.run_worker_async(
            wait=False, install_signal_handlers=False, queues=["default"]
        )
    finally:
        gateway_module.set_gateway(real)
        await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)
    assert watching.calls["send_text"] >= 2  # the round's turns went through the proxy
    assert watching.calls["fetch_instances"] >= 1 and watching.calls["connection_state"] >= 2
    assert watching.violations == [], "\n\n".join(watching.violations)
    # The watch itself works: a call made inside a transaction is caught.
    watching.violations.clear()
    gateway_module.set_gateway(watching)  # type: ignore[arg-type]
    try:
        async with session_scope() as session:
            await session.execute(text("select 1"))
            await gateway_module.get_gateway().connection_state(warm.numbers[0]["gateway_name"])
    finally:
        gateway_module.set_gateway(real)
    assert len(watching.violations) == 1
