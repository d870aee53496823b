"""EvolutionGateway: the whole API surface, typed results and typed errors, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import jwt
import pytest

from mirage.providers import (
    BadRequest,
    ConnectionState,
    EvolutionGateway,
    GatewayDown,
    InstanceAlreadyExists,
    InstanceNotFound,
    MessageKey,
    MessageStatus,
    NotConnected,
    NumberNotOnWhatsApp,
    Presence,
    RetryPolicy,
    SendOutcomeUnknown,
    Unauthorized,
    WebhookSpec,
    WhatsAppGateway,
)
from mirage.simulator import reserve_socket, socket_url
from mirage.simulator.testing import SimulatorHarness

GatewayFactory = Callable[..., EvolutionGateway]  # the ``make_gateway`` fixture (conftest.py)
FAST_RETRY = RetryPolicy(attempts=2, initial_s=0.01, max_s=0.02, jitter_s=0.01)

SECRET = "per-instance-webhook-secret-0123456789abcdef"


async def test_lifecycle_through_the_client(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    gw = make_gateway()
    assert isinstance(gw, WhatsAppGateway)
    info = await gw.info()
    assert info.version == "2.3.6"

    created = await gw.create_instance(
        "sales-01", webhook=WebhookSpec(sim.hook_url("sales-01"), jwt_key=SECRET), qrcode=True
    )
    assert created.status is ConnectionState.CONNECTING
    assert created.qr is not None and created.qr.count == 1
    png = created.qr.png()
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert created.token and not created.reconciled

    # The webhook is signed with our jwt_key.
    delivery = await sim.recorder.wait_event("sales-01", "qrcode.updated")
    token = delivery.headers["authorization"].removeprefix("Bearer ")
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["action"] == "webhook"
    found = await gw.find_webhook("sales-01")
    assert found is not None and found.jwt_key == SECRET and found.url == sim.hook_url("sales-01")

    pairing = await gw.request_pairing_code("sales-01", "5511988887777", token=created.token)
    assert pairing.qr is not None and pairing.qr.pairing_code and len(pairing.qr.pairing_code) == 8
    assert await gw.connection_state("sales-01") is ConnectionState.CONNECTING
    await sim.control.scan("sales-01", profile_name="Acme")
    assert await gw.connection_state("sales-01", token=created.token) is ConnectionState.OPEN
    connected = await gw.connect("sales-01")
    assert connected.state is ConnectionState.OPEN and connected.qr is None

    (row,) = await gw.fetch_instances(name="sales-01")
    assert row.connection_status is ConnectionState.OPEN
    assert row.owner_jid == "5511988887777@s.whatsapp.net" and row.token == created.token
    assert [i.name for i in await gw.fetch_instances(token=created.token)] == ["sales-01"]

    other = await sim.pair("other")
    checks = await gw.check_numbers("sales-01", [other["number"], "123"])
    assert [(c.exists, c.jid) for c in checks] == [
        (True, other["wuid"]),
        (False, "123@s.whatsapp.net"),
    ]
    await gw.send_presence("sales-01", other["number"], Presence.COMPOSING, delay_ms=10)
    sent = await gw.send_text("sales-01", other["number"], "Olá!", delay_ms=20, link_preview=False)
    assert sent.status is MessageStatus.PENDING and sent.remote_jid == other["wuid"]
    assert sent.message_id.startswith("3EB0")
    upsert = await sim.recorder.wait_event("other", "messages.upsert")
    reply = await gw.send_text(
        "sales-01",
        other["number"],
        "respondendo",
        quoted=MessageKey(other["wuid"], upsert.data["key"]["id"]),
    )
    assert reply.raw["contextInfo"]["stanzaId"] == upsert.data["key"]["id"]
    await gw.mark_read("other", [MessageKey(row.owner_jid or "", sent.message_id)])

    restarted = await gw.restart("sales-01")
    assert restarted.state in (ConnectionState.OPEN, ConnectionState.CONNECTING)
    await gw.set_webhook("sales-01", WebhookSpec(sim.hook_url("x"), events=("CONNECTION_UPDATE",)))
    await gw.logout("sales-01")
    assert await gw.connection_state("sales-01") is ConnectionState.CLOSE
    await gw.delete_instance("sales-01")
    with pytest.raises(InstanceNotFound):
        await gw.connection_state("sales-01")


async def test_typed_errors(sim: SimulatorHarness, make_gateway: GatewayFactory) -> None:
    gw = make_gateway()
    with pytest.raises(InstanceNotFound) as not_found:
        await gw.connection_state("ghost")
    assert not_found.value.status == 404 and "does not exist" in not_found.value.message

    created = await gw.create_instance("a")
    with pytest.raises(InstanceAlreadyExists):
        await gw.create_instance("a")
    with pytest.raises(Unauthorized):
        await make_gateway(api_key="wrong").connection_state("a")
    with pytest.raises(Unauthorized):
        await gw.connection_state("a", token="someone-else")
    assert await gw.connection_state("a", token=created.token) is ConnectionState.CLOSE

    # Not connected, in each of Evolution's spellings.
    with pytest.raises(NotConnected):
        await gw.send_text("a", "5511999999999", "x")  # 500 Connection Closed
    with pytest.raises(NotConnected):
        await gw.logout("a")  # 400 'instance is not connected'
    with pytest.raises(NotConnected):
        await gw.restart("a")  # 200 {"error": true}
    with pytest.raises(NotConnected):
        await gw.check_numbers("a", ["5511999999999"])  # 400 with a Boom object

    await sim.pair("b")
    await sim.control.set_contact("5511900000000", exists=False)
    with pytest.raises(NumberNotOnWhatsApp) as missing:
        await gw.send_text("b", "5511900000000", "x")
    assert missing.value.numbers == ("5511900000000",) and missing.value.status == 400
    with pytest.raises(BadRequest) as bad:
        await gw.send_text("b", "5511999999999", "   ")
    assert bad.value.message == "Text is required"


async def test_gateway_down_when_nothing_listens(make_gateway: GatewayFactory) -> None:
    sock = reserve_socket()
    url = socket_url(sock)
    sock.close()  # nothing listens there: connection refused, provably unsent
    gw = EvolutionGateway(url, "k", connect_timeout_s=0.5, retry=FAST_RETRY)
    try:
        with pytest.raises(GatewayDown) as down:
            await gw.connection_state("a")
        assert down.value.request_sent is False
        # A send that never left is GatewayDown (safe to retry later), not an unknown outcome.
        with pytest.raises(GatewayDown) as send_down:
            await gw.send_text("a", "5511999999999", "x")
        assert not isinstance(send_down.value, SendOutcomeUnknown)
        assert send_down.value.request_sent is False
    finally:
        await gw.aclose()


async def test_sends_held_for_their_typing_have_a_pool_of_their_own(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    """A send the gateway holds for its typing delay takes a connection of the held pool,
    sized by ``held_sends`` (the process's in-flight sends): a state check never queues behind
    typing sends, and sends beyond the bound wait for a connection rather than pile up."""
    gw = make_gateway(held_sends=1)
    await sim.pair("typing-a")
    other = await sim.pair("typing-b")
    first = asyncio.create_task(gw.send_text("typing-a", other["number"], "um", delay_ms=5000))
    await sim.recorder.wait_event("typing-b", "presence.update")  # held: 'composing'
    # The only held connection is taken: a state check still goes at once…
    assert await gw.connection_state("typing-a") is ConnectionState.OPEN
    assert not first.done()
    # …and a second held send waits for the first to free its connection.
    await gw.send_text("typing-a", other["number"], "dois", delay_ms=10)
    assert first.done()
    assert (await first).remote_jid == other["wuid"]
