"""The simulator's degradation: a number that writes to too many strangers gets rising
failures, then the 463 time lock (existing chats still work), then a ban."""

from __future__ import annotations

import pytest

from mirage.simulator.degradation import Degradation, DegradationPlan, plan_from_json
from mirage.simulator.errors import SimError
from mirage.simulator.testing import SimulatorHarness


def test_stages_come_in_order_and_existing_chats_keep_working() -> None:
    deg = Degradation(
        DegradationPlan(free_strangers=2, failure_step=0.5, time_lock_after=4, ban_after=6)
    )
    verdicts = [deg.verdict(True) for _ in range(9)]
    assert verdicts == ["ok", "ok", "ok", "fail", "fail", "time_lock", "time_lock", "ban", "ban"]
    # Under the time lock a chat where the other side wrote first still goes out.
    assert deg.verdict(False) == "ok"


def test_the_failure_rate_rises_with_each_stranger() -> None:
    deg = Degradation(
        DegradationPlan(free_strangers=0, failure_step=0.1, time_lock_after=40, ban_after=40)
    )
    verdicts = [deg.verdict(True) for _ in range(30)]
    first, last = verdicts[:10].count("fail"), verdicts[20:].count("fail")
    assert first < last == 10


def test_the_control_api_refuses_a_bad_plan() -> None:
    assert plan_from_json({}) == DegradationPlan()
    assert plan_from_json({"banDelayS": 30}).ban_delay_s == 30.0
    for body in (
        {"freeStrangers": -1},
        {"failureStep": 2},
        {"timeLockAfter": 9, "banAfter": 3},
        {"banDelayS": "soon"},
        {"banAfter": True},
    ):
        with pytest.raises(SimError) as exc:
            plan_from_json(body)
        assert exc.value.status == 400


async def test_the_time_lock_spares_existing_chats_and_the_ban_follows_it(
    sim: SimulatorHarness,
) -> None:
    await sim.pair("a")
    await sim.control.degrade(
        "a", freeStrangers=0, failureStep=0.0, timeLockAfter=1, banAfter=100, banDelayS=5
    )
    # Someone who wrote first is no stranger: the chat goes on.
    await sim.control.inbound("a", sender="5521977770001", text="Oi, tudo bem?")
    r = await sim.http.post("/message/sendText/a", json={"number": "5521977770001", "text": "Oi!"})
    assert r.status_code == 201, r.text
    # A stranger meets the time lock; the ban follows (the test's time scale makes it at once).
    r = await sim.http.post("/message/sendText/a", json={"number": "5521977770002", "text": "Oi"})
    assert r.status_code == 400 and "463" in r.text
    closed = await sim.recorder.wait_event(
        "a", "connection.update", lambda d: d["state"] == "close"
    )
    assert closed.data["statusReason"] == 403
