"""Webhook delivery: at-least-once with Evolution's retry schedule, and delivery faults."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from mirage.simulator.testing import SimulatorHarness, eventually
from mirage.simulator.webhooks import retry_delay_s


def test_retry_schedule_is_evolutions() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        base = min(5 * 2 ** (attempt - 1), 300)
        for _ in range(200):
            delay = retry_delay_s(attempt, rng, 1.0)
            assert max(5.0, base * 0.8) <= delay <= base * 1.2
            assert delay >= 5.0
    assert retry_delay_s(3, random.Random(1), 0.001) == pytest.approx(
        retry_delay_s(3, random.Random(1), 1.0) / 1000
    )


async def delivery_log(sim: SimulatorHarness, event: str) -> list[dict[str, object]]:
    return await sim.control.webhook_log(event=event)


async def test_failed_deliveries_are_retried_until_accepted(sim: SimulatorHarness) -> None:
    sim.recorder.script[:] = [500, 503, 429]
    await sim.create("a", events=["INSTANCE_CREATE"])
    await sim.recorder.wait_event("a", "instance.create")
    statuses = [d.status for d in sim.recorder.deliveries]
    assert statuses == [500, 503, 429, 200]
    (entry,) = await delivery_log(sim, "instance.create")
    assert entry["attempts"] == 4 and entry["state"] == "delivered"
    # Every retry carries the same body: receivers dedupe on content ids.
    assert len({d.raw for d in sim.recorder.deliveries}) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_non_retryable_statuses_drop_the_event(sim: SimulatorHarness, status: int) -> None:
    sim.recorder.script[:] = [status]
    await sim.create("a", events=["INSTANCE_CREATE", "CONNECTION_UPDATE"])
    await sim.http.get("/instance/connect/a")  # a later event proves the first is settled
    await sim.recorder.wait_event("a", "connection.update")
    (entry,) = await delivery_log(sim, "instance.create")
    assert entry["attempts"] == 1 and entry["state"] == "dropped"
    assert [d.status for d in sim.recorder.deliveries if d.event == "instance.create"] == [status]


async def test_attempts_are_bounded(sim: SimulatorHarness) -> None:
    await sim.reset(webhookMaxAttempts=3)
    sim.recorder.script[:] = [500, 500, 500]
    await sim.create("a", events=["INSTANCE_CREATE"])
    await sim.recorder.wait_for(lambda r: len(r.deliveries) == 3, what="three attempts")

    async def settled() -> bool:  # the third answer may still be on its way back
        return (await delivery_log(sim, "instance.create"))[0]["state"] != "pending"

    await eventually(settled, what="the last attempt to settle")
    log = await delivery_log(sim, "instance.create")
    assert log[0]["state"] == "failed" and log[0]["attempts"] == 3
    stats = await sim.control.stats()
    assert stats["webhooks"]["exhausted"] == 1 and stats["webhooks"]["delivered"] == 0


async def test_a_slow_success_is_delivered_again(sim: SimulatorHarness) -> None:
    # Evolution's timeout fires before the receiver answers: the event is sent again even
    # though the receiver got it (at-least-once, reference §5.3).
    await sim.reset(webhookTimeoutS=0.1)
    sim.recorder.holds[:] = [0.3]
    await sim.create("a", events=["INSTANCE_CREATE"])
    await sim.recorder.wait_for(lambda r: len(r.deliveries) == 2, what="a duplicate")
    assert len({d.raw for d in sim.recorder.deliveries}) == 1


async def test_duplicate_and_reordering_faults(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.set_faults(webhookDuplicateRate=1.0, webhookReorderMs=30)
    sent = await sim.http.post("/message/sendText/a", json={"number": b["number"], "text": "x"})
    key_id = sent.json()["key"]["id"]

    def updates() -> Counter[str]:
        return Counter(
            d.data["status"]
            for d in sim.recorder.accepted(instance="a", event="messages.update")
            if d.data["keyId"] == key_id
        )

    await sim.recorder.wait_for(
        lambda _: updates() == Counter({"SERVER_ACK": 2, "DELIVERY_ACK": 2, "READ": 2}),
        what="every ack twice",
    )
    await sim.recorder.wait_for(
        lambda r: len(r.accepted(instance="b", event="messages.upsert")) == 2, what="2 upserts"
    )
    stats = await sim.control.stats()
    assert stats["webhooks"]["duplicated"] >= 4


async def test_envelope_options(sim: SimulatorHarness) -> None:
    await sim.reset(exposeInstanceToken=False, localTzOffsetMin=-180)
    await sim.create("a", events=["INSTANCE_CREATE"])
    delivery = await sim.recorder.wait_event("a", "instance.create")
    assert delivery.body["apikey"] is None  # AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES=false
    # São Paulo wall-clock time written with a ``Z`` suffix, like Evolution in a UTC-3 container.
    stamped = datetime.strptime(delivery.body["date_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    skew = datetime.now(UTC).replace(tzinfo=None) - stamped
    assert timedelta(hours=2, minutes=55) < skew < timedelta(hours=3, minutes=5)


async def test_webhook_set_replaces_the_configuration(sim: SimulatorHarness) -> None:
    await sim.create("a", events=["INSTANCE_CREATE"])
    await sim.recorder.wait_event("a", "instance.create")
    body = {
        "webhook": {
            "enabled": True,
            "url": sim.hook_url("a2"),
            "byEvents": True,
            "events": ["CONNECTION_UPDATE"],
        }
    }
    assert (await sim.http.post("/webhook/set/a", json=body)).status_code == 201
    await sim.http.get("/instance/connect/a")
    delivery = await sim.recorder.wait_event("a", "connection.update")
    assert delivery.path == "/hooks/a2/connection-update"
    # enabled:false clears the events: nothing more is delivered
    body["webhook"]["enabled"] = False
    row = (await sim.http.post("/webhook/set/a", json=body)).json()
    assert row["enabled"] is False and row["events"] == []
    before = len(sim.recorder.deliveries)
    await sim.http.delete("/instance/logout/a")
    await sim.http.get("/instance/connectionState/a")
    assert len(sim.recorder.deliveries) == before
    log = await sim.control.webhook_log(instance="a", event="connection.update")
    assert len(log) == 1  # the close was never even attempted
