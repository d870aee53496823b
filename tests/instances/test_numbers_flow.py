"""Numbers end to end over real HTTP: Mirage ⇄ simulator (gateway + WhatsApp network)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import psycopg

from mirage.instances.gateway import get_gateway
from tests.conftest import GatewayWorld, TenantFixture, eventually, make_token


async def _create(client: httpx.AsyncClient, token: str, name: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/instances",
        headers={"Authorization": f"Bearer {token}"},
        json={"display_name": name},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _get(client: httpx.AsyncClient, token: str, iid: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/instances/{iid}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _connected(
    gw: GatewayWorld, client: httpx.AsyncClient, token: str, name: str, number: str
) -> dict[str, Any]:
    inst = await _create(client, token, name)
    r = await client.post(
        f"/api/v1/instances/{inst['id']}/connect", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    await gw.sim.control.scan(inst["gateway_name"], number=number, profile_name=name)

    async def is_open() -> dict[str, Any] | None:
        cur = await _get(client, token, inst["id"])
        return cur if cur["connected"] else None

    return await eventually(is_open, what=f"{name} open")  # type: ignore[no-any-return]


def _rows(conninfo: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql, args).fetchall()


async def test_create_pair_and_live_state(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    inst = await _create(client, token, "Vendas 01")
    assert inst["state"] in ("close", "connecting") and inst["needs_pairing"] is True

    # Created on the gateway with our webhook: URL, tenant header and a JWT key.
    hook = (await gw.sim.http.get(f"/webhook/find/{inst['gateway_name']}")).json()
    assert hook["url"] == f"{gw.mirage_url}/webhooks/evolution/{inst['id']}"
    assert hook["enabled"] is True and "MESSAGES_UPSERT" in hook["events"]
    assert hook["headers"]["X-Mirage-Tenant"] == str(tenant_a.tenant_id)
    assert hook["headers"].get("jwt_key")  # the gateway signs webhooks with it

    r = await client.post(f"/api/v1/instances/{inst['id']}/connect", headers=auth)
    pairing = r.json()
    png = base64.b64decode(pairing["qr_png_data_url"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and pairing["qr_count"] >= 1

    await gw.sim.control.scan(inst["gateway_name"], number="5511990000001", profile_name="Vendas")

    async def opened() -> dict[str, Any] | None:
        cur = await _get(client, token, inst["id"])
        return cur if cur["connected"] else None

    cur = await eventually(opened, what="state open from the CONNECTION_UPDATE webhook")
    assert cur["phone"] == "5511990000001" and cur["profile_name"] == "Vendas"
    assert cur["needs_pairing"] is False and cur["health"] == "healthy"

    # The phone logs the device out (401): terminal, needs re-pairing, health says why.
    await gw.sim.control.disconnect(inst["gateway_name"], 401)

    async def logged_out() -> dict[str, Any] | None:
        cur = await _get(client, token, inst["id"])
        return cur if cur["state"] == "close" and cur["needs_pairing"] else None

    cur = await eventually(logged_out, what="close 401")
    assert cur["state_reason"] == 401 and cur["health"] == "degraded"
    events = _rows(
        bootstrap_conninfo, "select event from webhook_events where instance_id = %s", inst["id"]
    )
    assert {"connection.update"} <= {e[0] for e in events}


async def test_handset_and_mirage_messages_are_stored_on_both_sides(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)
    a = await _connected(gw, client, token, "A", "5511990000011")
    b = await _connected(gw, client, token, "B", "5511990000022")

    # Typed on A's handset: A stores it as its own (fromMe), B receives it.
    sent = await gw.sim.control.phone_send(a["gateway_name"], "5511990000022", "Oi B, tudo bem?")
    msg_id = sent.get("key", {}).get("id") or sent.get("id")

    async def both_sides() -> list[tuple[Any, ...]] | None:
        rows = _rows(
            bootstrap_conninfo,
            "select instance_id::text, direction, from_me, remote_jid, text, push_name, "
            "message_type, provider_timestamp is not null, tenant_id "
            "from messages where provider_message_id = %s order by direction",
            msg_id,
        )
        # Both rows, each with its text: a receipt may overtake its message (webhooks are
        # delivered concurrently) and leave a stub that the message then fills in.
        return rows if len(rows) == 2 and all(r[4] is not None for r in rows) else None

    rows = await eventually(both_sides, what="the handset message on both numbers")
    inbound, outbound = rows
    assert inbound[:5] == (
        b["id"],
        "inbound",
        False,
        "5511990000011@s.whatsapp.net",
        "Oi B, tudo bem?",
    )
    assert inbound[5] == "A" and inbound[6] == "conversation" and inbound[7]
    assert outbound[:5] == (
        a["id"],
        "outbound",
        True,
        "5511990000022@s.whatsapp.net",
        "Oi B, tudo bem?",
    )
    assert inbound[8] == outbound[8] == tenant_a.tenant_id

    # Sent by Mirage through the gateway client: stored on both sides, acks reach READ.
    inst_a = await gw.sim.control.instance(a["gateway_name"])
    del inst_a
    from mirage.db.deps import bind_context
    from mirage.db.engine import session_scope
    from mirage.instances.repository import InstanceRepository
    from mirage.instances.service import instance_token

    async with session_scope() as session:
        await bind_context(session, tenant_id=tenant_a.tenant_id, user_id=None)
        row = await InstanceRepository(session).get(__import__("uuid").UUID(a["id"]))
        assert row is not None
        tok = instance_token(row)
    result = await get_gateway().send_text(
        a["gateway_name"], "5511990000022", "Mandei pelo Mirage", token=tok
    )
    pid = result.message_id

    async def read_on_sender() -> list[tuple[Any, ...]] | None:
        rows = _rows(
            bootstrap_conninfo,
            "select direction, status, status_history from messages "
            "where provider_message_id = %s order by direction",
            pid,
        )
        # Acks are delivered concurrently: READ may land before DELIVERY_ACK, which is still
        # recorded in the history when it comes.
        ok = len(rows) == 2 and rows[1][1] == "READ"
        seen = {h["status"] for h in rows[1][2]} if ok else set()
        return rows if {"PENDING", "DELIVERY_ACK", "READ"} <= seen else None

    rows = await eventually(read_on_sender, what="every ack on the sender")
    history = [h["status"] for h in rows[1][2]]
    # History keeps arrival order (acks may arrive out of order); the status only goes up.
    assert rows[1][1] == "READ" and {"PENDING", "DELIVERY_ACK", "READ"} <= set(history)
    assert len(history) == len(set(history))  # duplicates never recorded twice
