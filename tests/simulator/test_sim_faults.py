"""Disconnects, bans, zombies, HTTP faults, the control plane, and 1,000 instances."""

from __future__ import annotations

import asyncio

import pytest

from mirage.simulator.testing import SimulatorHarness


def events(sim: SimulatorHarness, instance: str) -> list[tuple[str, object]]:
    return [(d.event or "", d.data) for d in sim.recorder.accepted(instance=instance)]


async def emitted(sim: SimulatorHarness, instance: str) -> list[str]:
    return [e["event"] for e in await sim.control.webhook_log(instance=instance)]


@pytest.mark.parametrize("code", [401, 403, 402, 406])
async def test_terminal_disconnect_needs_a_new_qr(sim: SimulatorHarness, code: int) -> None:
    view = await sim.pair("a")
    log_before = len(await emitted(sim, "a"))
    await sim.control.disconnect("a", code)
    assert (await emitted(sim, "a"))[log_before:] == [
        "status.instance",
        "logout.instance",
        "connection.update",
    ]
    closed = await sim.recorder.wait_event(
        "a", "connection.update", lambda d: d["state"] == "close"
    )
    assert closed.data == {"instance": "a", "state": "close", "statusReason": code}
    status = await sim.recorder.wait_event("a", "status.instance")
    assert status.data["disconnectionReasonCode"] == code
    (row,) = (await sim.http.get("/instance/fetchInstances")).json()
    assert row["connectionStatus"] == "close" and row["disconnectionReasonCode"] == code
    # Re-pairing: connect shows a QR again; the same phone scans it.
    qr = (await sim.http.get("/instance/connect/a")).json()
    assert qr["count"] == 1 and qr["code"]
    again = await sim.control.scan("a")
    assert again["number"] == view["number"]


@pytest.mark.parametrize("code", [408, 428, 440, 500, 515])
async def test_transient_disconnect_reconnects_silently(sim: SimulatorHarness, code: int) -> None:
    # A delivery the recorder answers late (a loaded machine stalls this loop) would be
    # retried after the 5 s default and arrive twice, out of order: this test is about the
    # reconnect, not retries (test_sim_webhooks covers those).
    await sim.reset(webhookTimeoutS=60.0)
    await sim.pair("a")
    log_before = len(await emitted(sim, "a"))
    await sim.recorder.wait_for(  # the pairing's own updates have all arrived
        lambda r: len(r.accepted(instance="a")) >= log_before, timeout_s=30.0
    )
    updates_before = len(sim.recorder.accepted(instance="a", event="connection.update"))
    await sim.control.disconnect("a", code)
    states = [e["event"] for e in (await sim.control.webhook_log(instance="a"))[log_before:]]
    assert states == ["connection.update", "connection.update"]
    # Webhooks go out concurrently (fire-and-forget, like Evolution's): the two updates of
    # one instant may arrive in either order. Both arrive; they were emitted connecting, then
    # open, and the instance ends open (Mirage orders updates by the event's own date).
    await sim.recorder.wait_for(
        lambda r: (
            len(r.accepted(instance="a", event="connection.update")) >= updates_before + 2 or False
        ),
        timeout_s=30.0,  # waits on the simulator's event loop, not a timing claim
        what="both connection updates",
    )
    last_two = [d.data for d in sim.recorder.accepted(instance="a", event="connection.update")]
    assert sorted(x["state"] for x in last_two[-2:]) == ["connecting", "open"]
    assert not [d for d in sim.recorder.accepted(instance="a") if d.event == "status.instance"]
    state = (await sim.http.get("/instance/connectionState/a")).json()
    assert state["instance"]["state"] == "open"


async def test_stuck_reconnect_is_fixed_by_restart(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.disconnect("a", 428, reconnect=False)
    state = (await sim.http.get("/instance/connectionState/a")).json()
    assert state["instance"]["state"] == "connecting"
    resp = await sim.http.post("/message/sendText/a", json={"number": b["number"], "text": "x"})
    assert resp.status_code == 500
    assert resp.json()["response"]["message"] == ["Error: Connection Closed"]
    await sim.http.post("/instance/restart/a")
    state = (await sim.http.get("/instance/connectionState/a")).json()
    assert state["instance"]["state"] == "open"
    resp = await sim.http.post("/message/sendText/a", json={"number": b["number"], "text": "x"})
    assert resp.status_code == 201


async def test_ban(sim: SimulatorHarness) -> None:
    a = await sim.pair("a")
    await sim.pair("b")
    await sim.control.ban("a")
    closed = await sim.recorder.wait_event(
        "a", "connection.update", lambda d: d["state"] == "close"
    )
    assert closed.data["statusReason"] == 403
    # The banned number no longer exists for others, and cannot pair again.
    checks = (
        await sim.http.post("/chat/whatsappNumbers/b", json={"numbers": [a["number"]]})
    ).json()
    assert checks[0]["exists"] is False
    await sim.http.get("/instance/connect/a")
    resp = await sim.http.post("/_sim/instances/a/scan", json={})
    assert resp.status_code == 403
    await sim.control.unban("a")
    assert (await sim.control.scan("a"))["number"] == a["number"]


async def test_zombie_instance_says_open_but_cannot_send(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.set_instance_faults("a", zombie=True)
    state = (await sim.http.get("/instance/connectionState/a")).json()
    assert state["instance"]["state"] == "open"
    resp = await sim.http.post("/message/sendText/a", json={"number": b["number"], "text": "x"})
    assert (resp.status_code, resp.json()["response"]["message"]) == (
        400,
        ["Error: Connection Closed"],
    )
    resp = await sim.http.post("/chat/whatsappNumbers/a", json={"numbers": [b["number"]]})
    assert resp.status_code == 400
    assert (
        resp.json()["response"]["message"][0]["output"]["payload"]["message"] == "Connection Closed"
    )
    await sim.http.post("/instance/restart/a")  # a fresh socket
    resp = await sim.http.post("/message/sendText/a", json={"number": b["number"], "text": "x"})
    assert resp.status_code == 201


async def test_http_errors_before_and_after_the_work(sim: SimulatorHarness) -> None:
    body = {"instanceName": "x", "integration": "WHATSAPP-BAILEYS"}
    await sim.control.set_faults(errorRate=1.0, errorMode="before", errorStatus=503)
    resp = await sim.http.post("/instance/create", json=body)
    assert resp.status_code == 503
    assert resp.json() == {
        "status": 503,
        "error": "Service Unavailable",
        "response": {"message": ["Service Unavailable"]},
    }
    await sim.control.set_faults(errorRate=1.0, errorMode="after")
    resp = await sim.http.post("/instance/create", json=body)
    assert resp.status_code == 500  # …but this time the instance was created
    await sim.control.clear_faults()
    assert (await sim.http.get("/instance/connectionState/x")).status_code == 200
    stats = await sim.control.stats()
    assert stats["requests"]["POST /instance/create"] == 2
    # Control-plane calls are never faulted or counted as Evolution traffic.
    assert not any(k.startswith(("GET /_sim", "POST /_sim")) for k in stats["requests"])


async def test_per_instance_faults_leave_others_alone(sim: SimulatorHarness) -> None:
    await sim.create("a")
    await sim.create("b")
    await sim.control.set_instance_faults("a", errorRate=1.0, errorMode="before", latencyMs=5)
    assert (await sim.http.get("/instance/connectionState/a")).status_code == 500
    assert (await sim.http.get("/instance/connectionState/b")).status_code == 200
    await sim.control.clear_instance_faults("a")
    assert (await sim.http.get("/instance/connectionState/a")).status_code == 200


async def test_control_plane_auth_info_and_reset(sim: SimulatorHarness) -> None:
    info = await sim.http.get("/_sim/info", headers={"apikey": ""})
    assert info.status_code == 200
    assert info.json()["simulator"] is True and info.json()["evolutionVersion"] == "2.3.6"
    assert await sim.control.is_simulator()
    for method, path in [
        ("GET", "/_sim/stats"),
        ("POST", "/_sim/reset"),
        ("POST", "/_sim/instances/a/scan"),
    ]:
        resp = await sim.http.request(method, path, headers={"apikey": "wrong"})
        assert resp.status_code == 401
    await sim.pair("a")
    await sim.control.set_faults(latencyMs=1)
    await sim.reset()
    assert (await sim.http.get("/instance/fetchInstances")).json() == []
    assert (await sim.http.get("/_sim/faults")).json()["latencyMs"] == 0
    bad = await sim.http.put("/_sim/faults", json={"errorRate": 2})
    assert bad.status_code == 400


async def test_a_thousand_instances(sim: SimulatorHarness) -> None:
    """1,000 instances pairing at once cost one timer each and no task; then they all talk."""
    net = sim.network
    sem = asyncio.Semaphore(50)

    async def create(i: int) -> None:
        async with sem:
            resp = await sim.http.post(
                "/instance/create",
                json={"instanceName": f"n{i:04d}", "integration": "WHATSAPP-BAILEYS"},
            )
            assert resp.status_code == 201

    await asyncio.gather(*(create(i) for i in range(1000)))
    for inst in net.instances.values():
        net.start_pairing(inst)  # what connect does, without rendering 1,000 PNGs
    assert net.scheduler.pending == 1000  # one QR-rotation timer per instance, no tasks
    for inst in list(net.instances.values()):
        net.scan(inst, None, None)
    assert net.scheduler.pending == 0
    assert all(i.state == "open" for i in net.instances.values())
    numbers = {i.name: i.number for i in net.instances.values()}
    assert len(set(numbers.values())) == 1000

    async def send(i: int) -> None:
        async with sem:
            resp = await sim.http.post(
                f"/message/sendText/n{i:04d}",
                json={"number": numbers[f"n{(i + 1) % 1000:04d}"], "text": f"oi {i}"},
            )
            assert resp.status_code == 201

    await asyncio.gather(*(send(i) for i in range(1000)))
    assert all(len(i.messages) == 2 for i in net.instances.values())  # one sent, one received
    rows = (await sim.http.get("/instance/fetchInstances")).json()
    assert len(rows) == 1000 and {r["_count"]["Message"] for r in rows} == {2}
