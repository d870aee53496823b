"""No job or request calls the gateway while it holds a database connection.

The watch itself is suite-wide (tests/gateway_watch.py: every test fails on such a call).
These tests make sure the paths that call the gateway are exercised and that the watch
catches a call made inside a transaction: a round run to its end, a reconciliation of every
number, each one's state confirmation, and every operator action on a number through the API
(create, connect, pairing code, restart, logout, delete)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import psycopg
from sqlalchemy import text

from mirage.db.engine import session_scope
from mirage.instances import gateway as gateway_module
from mirage.instances import tasks as instance_tasks
from mirage.kit import jobs
from tests import gateway_watch
from tests.conftest import GatewayWorld, TenantFixture, eventually, make_token
from tests.conversations.conftest import WarmPair, conversation_body, start_now


class CountingGateway:
    """Counts the calls that reach the (watched) gateway, so the test knows what it covered."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await attr(*args, **kwargs)

        return counted


async def test_jobs_never_call_the_gateway_holding_a_connection(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    warm: WarmPair,
    bootstrap_conninfo: str,
) -> None:
    real = gateway_module.get_gateway()
    watching = CountingGateway(real)
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
            wait=False, install_signal_handlers=False, queues=["upkeep"]
        )
    finally:
        gateway_module.set_gateway(real)
        await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)
    assert watching.calls["send_text"] >= 2  # the round's turns went through the proxy
    assert watching.calls["fetch_instances"] >= 1 and watching.calls["connection_state"] >= 2
    assert gateway_watch.violations == [], "\n\n".join(gateway_watch.violations)
    # The watch itself works: a call made inside a transaction is caught.
    async with session_scope() as session:
        await session.execute(text("select 1"))
        await gateway_module.get_gateway().connection_state(warm.numbers[0]["gateway_name"])
    assert len(gateway_watch.violations) == 1
    gateway_watch.violations.clear()


async def test_operator_actions_on_a_number_call_the_gateway_holding_no_connection(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    real = gateway_module.get_gateway()
    counting = CountingGateway(real)
    gateway_module.set_gateway(counting)  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    base = "/api/v1/instances"
    try:
        r = await client.post(base, headers=auth, json={"display_name": "Sem transação"})
        assert r.status_code == 201, r.text
        inst = r.json()
        url = f"{base}/{inst['id']}"
        assert (await client.post(f"{url}/connect", headers=auth)).status_code == 200
        r = await client.post(f"{url}/pairing-code", headers=auth, json={"phone": "5511990000077"})
        assert r.status_code == 200, r.text
        await gw.sim.control.scan(inst["gateway_name"], number="5511990000077")

        async def connected() -> bool:
            return bool((await client.get(url, headers=auth)).json()["connected"])

        await eventually(connected, what="the number connected")
        assert (await client.post(f"{url}/restart", headers=auth)).status_code == 202
        assert (await client.post(f"{url}/logout", headers=auth)).status_code == 202
        assert (await client.get(url, headers=auth)).json()["state"] == "close"
        assert (await client.delete(url, headers=auth)).status_code == 204
        assert (await client.get(url, headers=auth)).status_code == 404
        # A second create with the same name is refused before the gateway is asked.
        r = await client.post(base, headers=auth, json={"display_name": "Outro"})
        r2 = await client.post(base, headers=auth, json={"display_name": "outro"})
        assert r.status_code == 201 and r2.status_code == 409, r2.text
    finally:
        gateway_module.set_gateway(real)
    for call in ("create_instance", "connect", "request_pairing_code", "restart", "logout"):
        assert counting.calls[call] >= 1, (call, counting.calls)
    assert counting.calls["delete_instance"] == 1
    assert counting.calls["create_instance"] == 2
    assert gateway_watch.violations == [], "\n\n".join(gateway_watch.violations)
