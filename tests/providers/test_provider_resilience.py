"""Retries, at-most-once sends and circuit breakers against a misbehaving simulator.

No timed assertions: delays only let cool-downs elapse; outcomes are counted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mirage.kit.http import limits as pool_limits
from mirage.providers import (
    BreakerPolicy,
    CircuitOpen,
    EvolutionGateway,
    GatewayDown,
    InstanceNotFound,
    MessageKey,
    NotConnected,
    Presence,
    RetryPolicy,
    SendOutcomeUnknown,
)
from mirage.simulator.testing import SimulatorHarness, eventually

GatewayFactory = Callable[..., EvolutionGateway]  # the ``make_gateway`` fixture (conftest.py)
PATIENT = RetryPolicy(attempts=12, initial_s=0.005, max_s=0.05, jitter_s=0.01)
NO_BREAKING = BreakerPolicy(instance_threshold=10_000, gateway_threshold=10_000)


class FlakyTransport(httpx.AsyncBaseTransport):
    """Scripted network trouble, one step per request: ``refuse`` (connection refused, nothing
    sent), ``lose_answer`` (the gateway did the work, the answer is lost), ``ok``."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan
        self.inner = httpx.AsyncHTTPTransport(limits=pool_limits())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        step = self.plan.pop(0) if self.plan else "ok"
        if step == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        response = await self.inner.handle_async_request(request)
        if step == "lose_answer":
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the answer never came", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def requests_to(sim: SimulatorHarness, route: str) -> int:
    count: int = (await sim.control.stats())["requests"].get(route, 0)
    return count


async def test_idempotent_calls_survive_a_flaky_gateway(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    a = await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.set_faults(errorRate=0.3, errorMode="mixed", spikeRate=0.1, spikeMs=400)
    gw = make_gateway(retry=PATIENT, breakers=NO_BREAKING, timeout_s=0.2)

    calls: list[Any] = []
    for _ in range(8):
        calls += [
            gw.connection_state("a"),
            gw.fetch_instances(name="b"),
            gw.check_numbers("a", [b["number"]]),
            gw.send_presence("a", b["number"], Presence.AVAILABLE),
            gw.connect("b"),
            gw.mark_read("b", [MessageKey(a["wuid"], "3EB0000000000000000000")]),
        ]
    results = await asyncio.gather(*calls)  # any failure would raise here
    assert len(results) == 48
    assert all(r.value == "open" for r in results[0::6])
    assert all(checks[0].exists for checks in results[2::6])

    stats = await sim.control.stats()
    assert sum(stats["requests"].values()) > 48  # some calls needed retries to succeed


async def test_send_text_is_at_most_once_under_faults(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.set_faults(errorRate=0.3, errorMode="mixed", spikeRate=0.15, spikeMs=400)
    gw = make_gateway(retry=PATIENT, breakers=NO_BREAKING, timeout_s=0.2)

    outcomes: dict[str, str] = {}
    for i in range(30):
        text = f"mensagem {i}"
        try:
            await gw.send_text("a", b["number"], text)
            outcomes[text] = "sent"
        except SendOutcomeUnknown:
            outcomes[text] = "unknown"
    await sim.control.clear_faults()

    # Never retried: exactly one request per send, whatever happened to it.
    assert await requests_to(sim, "POST /message/sendText") == 30
    assert "unknown" in outcomes.values() and "sent" in outcomes.values()

    # Count on the receiver's side: the simulator's network log and b's webhooks agree.
    network_log = [m["text"] for m in await sim.control.messages("b")]
    await sim.recorder.wait_for(
        lambda r: len(r.accepted(instance="b", event="messages.upsert")) == len(network_log),
        what="b's upserts",
    )
    received = Counter(
        d.data["message"]["conversation"]
        for d in sim.recorder.accepted(instance="b", event="messages.upsert")
    )
    assert max(received.values()) == 1, "a message was delivered twice"
    for text, outcome in outcomes.items():
        if outcome == "sent":
            assert received[text] == 1
    # Some "unknown" sends did go out (error after the work, or a late answer): that is why
    # the client must reconcile from webhooks instead of retrying.
    assert set(received) <= set(outcomes)


async def test_a_timed_out_send_raises_unknown_and_did_go_out(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.set_instance_faults("a", spikeRate=1.0, spikeMs=500)
    gw = make_gateway(retry=PATIENT, breakers=NO_BREAKING, timeout_s=0.1)
    with pytest.raises(SendOutcomeUnknown):
        await gw.send_text("a", b["number"], "talvez")
    assert await requests_to(sim, "POST /message/sendText") == 1
    # …and yet it was delivered, with a send.message to reconcile from.
    upsert = await sim.recorder.wait_event("b", "messages.upsert")
    sent = await sim.recorder.wait_event("a", "send.message")
    assert sent.data["key"]["id"] == upsert.data["key"]["id"]


async def test_a_send_that_never_left_is_retried(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    gw = make_gateway(transport=FlakyTransport(["refuse", "refuse", "ok"]), retry=PATIENT)
    sent = await gw.send_text("a", b["number"], "depois de duas recusas")
    assert sent.message_id
    assert await requests_to(sim, "POST /message/sendText") == 1
    assert len(await sim.control.messages("b")) == 1


async def test_a_lost_send_answer_is_not_retried(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    gw = make_gateway(transport=FlakyTransport(["lose_answer"]), retry=PATIENT)
    with pytest.raises(SendOutcomeUnknown):
        await gw.send_text("a", b["number"], "foi?")
    assert await requests_to(sim, "POST /message/sendText") == 1
    assert len(await sim.control.messages("b")) == 1


async def test_retried_create_logout_delete_are_idempotent(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    gw = make_gateway(transport=FlakyTransport(["lose_answer"]), retry=PATIENT)
    created = await gw.create_instance("a")  # attempt 1 created it; attempt 2 meets "in use"
    assert created.reconciled and created.name == "a"
    assert await requests_to(sim, "POST /instance/create") == 2
    assert await gw.connection_state("a", token=created.token) == "close"

    await sim.http.get("/instance/connect/a")
    await sim.control.scan("a")
    gw_logout = make_gateway(transport=FlakyTransport(["lose_answer"]), retry=PATIENT)
    await gw_logout.logout("a")  # attempt 2 meets "not connected": already done
    gw_delete = make_gateway(transport=FlakyTransport(["lose_answer"]), retry=PATIENT)
    await gw_delete.delete_instance("a")  # attempt 2 meets 404: already done
    with pytest.raises(InstanceNotFound):
        await gw.connection_state("a")


async def test_client_errors_are_never_retried(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    gw = make_gateway(retry=PATIENT)
    with pytest.raises(InstanceNotFound):
        await gw.connection_state("ghost")
    assert await requests_to(sim, "GET /instance/connectionState") == 1


async def test_instance_breaker_opens_refuses_and_closes_by_itself(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    policy = BreakerPolicy(instance_threshold=3, instance_cooldown_s=0.3, gateway_threshold=10_000)
    gw = make_gateway(retry=PATIENT, breakers=policy)
    await sim.control.set_instance_faults("a", zombie=True)  # "open" but cannot send

    for _ in range(3):
        with pytest.raises(NotConnected):
            await gw.send_text("a", b["number"], "x")
    assert gw.breaker_state("a") == "opened"
    before = await requests_to(sim, "POST /message/sendText")
    with pytest.raises(CircuitOpen) as refused:
        await gw.send_text("a", b["number"], "x")
    assert refused.value.scope == "instance"
    with pytest.raises(CircuitOpen):
        await gw.check_numbers("a", [b["number"]])
    assert await requests_to(sim, "POST /message/sendText") == before  # refused locally
    # Management calls still pass: they are how the instance gets repaired.
    assert await gw.connection_state("a") == "open"
    # Other instances and the gateway are unaffected.
    assert gw.breaker_state() == "closed" and gw.breaker_state("b") == "closed"
    await gw.send_text("b", (await sim.control.instance("a"))["number"], "tudo bem por aqui")

    # A trial after the cool-down that fails re-opens at once…
    await asyncio.sleep(0.35)
    assert gw.breaker_state("a") == "half-opened"
    with pytest.raises(NotConnected):
        await gw.send_text("a", b["number"], "x")
    assert gw.breaker_state("a") == "opened"

    # …and once the instance is healthy again, the next trial closes it.
    await sim.control.clear_instance_faults("a")
    await asyncio.sleep(0.35)
    sent = await gw.send_text("a", b["number"], "voltei")
    assert sent.message_id
    assert gw.breaker_state("a") == "closed"


async def test_gateway_breaker_opens_on_5xx_and_recovers(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    await sim.create("a")
    await sim.create("b")
    policy = BreakerPolicy(instance_threshold=10_000, gateway_threshold=4, gateway_cooldown_s=0.3)
    gw = make_gateway(retry=RetryPolicy(attempts=2, initial_s=0.005, max_s=0.01), breakers=policy)
    await sim.control.set_faults(errorRate=1.0, errorMode="before", errorStatus=502)

    with pytest.raises(GatewayDown):
        await gw.connection_state("a")  # two attempts, two failures
    with pytest.raises(GatewayDown):
        await gw.fetch_instances()  # four consecutive failures: open
    assert gw.breaker_state() == "opened"
    seen = sum((await sim.control.stats())["requests"].values())
    for call in (gw.connection_state("b"), gw.fetch_instances(), gw.create_instance("c")):
        with pytest.raises(CircuitOpen) as refused:
            await call
        assert refused.value.scope == "gateway"
    assert sum((await sim.control.stats())["requests"].values()) == seen  # nothing was sent

    await sim.control.clear_faults()

    async def recovered() -> bool:
        return gw.breaker_state() == "half-opened"

    await eventually(recovered, what="the cool-down")
    assert await gw.connection_state("b") == "close"
    assert gw.breaker_state() == "closed"


async def test_reset_breaker_after_repair(
    sim: SimulatorHarness, make_gateway: GatewayFactory
) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    policy = BreakerPolicy(instance_threshold=2, instance_cooldown_s=60, gateway_threshold=10_000)
    gw = make_gateway(retry=PATIENT, breakers=policy)
    await sim.control.disconnect("a", 401)  # logged out: sends fail until a new QR is scanned
    for _ in range(2):
        with pytest.raises(NotConnected):
            await gw.send_text("a", b["number"], "x")
    assert gw.breaker_state("a") == "opened"
    # The QR modal works while sends are refused; after the scan Mirage resets the breaker.
    qr = await gw.connect("a")
    assert qr.qr is not None and qr.qr.code
    await sim.control.scan("a")
    gw.reset_breaker("a")
    assert gw.breaker_state("a") == "closed"
    assert (await gw.send_text("a", b["number"], "de volta")).message_id
