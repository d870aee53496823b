"""An operator's "log out" is the operator's action, not a fault: it is recorded with Mirage's
own reason (not the phone's 401), health is not degraded, and the gateway's own report of it
(a close 401, by webhook or reconciliation, before or after ours) does not turn it back into a
logout from the phone."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.instances import health, service
from mirage.instances.repository import InstanceRepository
from mirage.kit.clock import utcnow
from mirage.policy import Health
from mirage.providers import ConnectionState
from mirage.webhooks.normalize import ConnectionUpdate
from tests.conftest import GatewayWorld, TenantFixture, eventually, make_token, sign_in, sql
from tests.conversations.conftest import connect_number

CLOSE = ConnectionState.CLOSE


def test_an_operator_logout_is_no_fault_but_needs_a_new_pairing() -> None:
    v = health.assess(health.Signals("close", health.OPERATOR_LOGOUT))
    assert v.health == Health.HEALTHY and v.reason is None
    assert health.needs_pairing("close", health.OPERATOR_LOGOUT, False) is True
    assert health.reason_words(health.OPERATOR_LOGOUT) == "logged out by an operator"
    # The phone's own logout still is one.
    assert health.assess(health.Signals("close", 401)).health == Health.DEGRADED


async def _state(t: TenantFixture, iid: str) -> tuple[str, int | None, str, bool]:
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = await InstanceRepository(session).get(uuid.UUID(iid))
        assert inst is not None
        return inst.state, inst.state_reason, inst.health, inst.needs_pairing


async def _apply(t: TenantFixture, iid: str, update: ConnectionUpdate) -> None:
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = await InstanceRepository(session).get(uuid.UUID(iid), for_update=True)
        assert inst is not None
        await service.apply_connection(session, inst, update)


async def _close_webhooks(conninfo: str, iid: str, since: Any) -> int:
    rows = await sql(
        conninfo,
        "select count(*) from webhook_events where instance_id = %s and event = "
        "'connection.update' and received_at >= %s",
        iid,
        since,
    )
    return int(rows[0][0])


async def test_logout_from_the_api_and_the_gateways_401_after_it(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    inst = await connect_number(gw, client, auth, "Saída", "5511990007401")
    since = utcnow() - timedelta(seconds=1)
    r = await client.post(f"/api/v1/instances/{inst['id']}/logout", headers=auth)
    assert r.status_code == 202, r.text
    assert await _state(tenant_a, inst["id"]) == (
        "close",
        health.OPERATOR_LOGOUT,
        Health.HEALTHY,
        True,
    )

    # The gateway's webhook for the same logout (close 401) arrives in its own time.
    async def webhook_seen() -> int | None:
        n = await _close_webhooks(bootstrap_conninfo, inst["id"], since)
        return n or None

    await eventually(webhook_seen, what="the gateway's close webhook")
    # ...and if it came late, after ours: it is the gateway's word for the same action.
    await _apply(tenant_a, inst["id"], ConnectionUpdate(CLOSE, 401, None, None, utcnow()))
    assert await _state(tenant_a, inst["id"]) == (
        "close",
        health.OPERATOR_LOGOUT,
        Health.HEALTHY,
        True,
    )
    got = (await client.get(f"/api/v1/instances/{inst['id']}", headers=auth)).json()
    assert got["state_reason"] == health.OPERATOR_LOGOUT and got["health"] == "healthy"


async def test_the_gateways_401_before_the_operators_record(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    """The webhook can be applied before the logout request records its own reason: the
    operator's reason replaces the phone's, and the health it degraded is restored."""
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    inst = await connect_number(gw, client, auth, "Antes", "5511990007402")
    await _apply(tenant_a, inst["id"], ConnectionUpdate(CLOSE, 401, None, None, utcnow()))
    assert (await _state(tenant_a, inst["id"]))[1:3] == (401, Health.DEGRADED)
    op = ConnectionUpdate(CLOSE, health.OPERATOR_LOGOUT, None, None, None)
    await _apply(tenant_a, inst["id"], op)
    assert await _state(tenant_a, inst["id"]) == (
        "close",
        health.OPERATOR_LOGOUT,
        Health.HEALTHY,
        True,
    )


async def test_the_dashboard_row_says_an_operator_logged_it_out(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    inst = await connect_number(gw, client, auth, "Painel", "5511990007403")
    csrf = await sign_in(client, tenant_a)
    r = await client.post(
        f"/instances/{inst['id']}/logout", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert r.status_code == 200, r.text
    assert "desconectado por um operador" in r.text
    assert "desconectado pelo celular" not in r.text
    assert "precisa parear de novo" not in r.text
    assert 'data-health="healthy"' in r.text
    page = (await client.get("/instances")).text
    assert "desconectado por um operador" in page
