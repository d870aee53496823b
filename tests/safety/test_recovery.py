"""The recovery ladder: a number connected but failing its sends is restarted, then logged
out to be paired again, then marked dead — bounded attempts, a doubling wait — and a flaky one
that a restart fixes ends its ladder as recovered. Against the simulator."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.kit.clock import utcnow
from mirage.models import Instance
from mirage.safety import service as safety
from mirage.safety.recovery import LADDER, Ladder, Rung
from mirage.safety.score import SignalKind
from tests.conftest import GatewayWorld, eventually, make_tenant, make_token, sql
from tests.conversations.conftest import connect_number


def test_the_ladder_is_bounded_and_waits_longer_each_time() -> None:
    ladder = Ladder()
    assert [ladder.rung(a) for a in range(5)] == [
        Rung.RESTART,
        Rung.RESTART,
        Rung.REPAIR,
        Rung.DEAD,
        Rung.DEAD,
    ]
    waits = [ladder.wait(a) for a in range(1, 12)]
    assert waits[:3] == [timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert waits == sorted(waits) and max(waits) == ladder.max_wait
    assert ladder.bound == 3


async def _failing(t: Any, iid: uuid.UUID) -> None:
    """Three sends in a row failed while the number was open: the ladder starts."""
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = await session.get(Instance, iid, with_for_update=True)
        assert inst is not None
        inst.consecutive_send_failures = 3
        inst.last_send_failure_at = utcnow()
        await safety.record(session, inst, SignalKind.SEND_FAILED, detail="Connection Closed")


async def _steps(conninfo: str, iid: uuid.UUID) -> list[str]:
    rows = await sql(
        conninfo,
        "select detail from number_signals where instance_id = %s and kind = 'recovery' "
        "order by seq",
        iid,
    )
    return [r[0] for r in rows]


async def _step(t: Any, iid: uuid.UUID) -> str:
    """The next look, as the job does it once its wait is over (called now: the waits are
    the job's schedule, not a rule of the step)."""
    with tenant_context(t.tenant_id):
        return (await instances.recovery_step(iid, utcnow())).outcome


async def test_a_flaky_number_recovers_and_a_dead_one_is_marked_dead(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    digits = str(int(t.tenant_id.hex[:7], 16) % 10_000_000).zfill(7)
    flaky = await connect_number(gw, client, auth, "Flaky", f"55118{digits}1")
    dead = await connect_number(gw, client, auth, "Dead", f"55118{digits}2")
    # Both are "open" but their sockets are dead; the gateway refuses every call of Dead.
    await gw.sim.control.set_instance_faults(flaky["gateway_name"], zombie=True)
    await gw.sim.control.set_instance_faults(
        dead["gateway_name"], zombie=True, errorRate=1.0, errorStatus=500
    )
    f_id, d_id = uuid.UUID(flaky["id"]), uuid.UUID(dead["id"])
    await _failing(t, f_id)
    await _failing(t, d_id)

    # The worker takes the first rung of each at once: a restart.
    async def restarted() -> bool:
        return bool(await _steps(bootstrap_conninfo, f_id)) and bool(
            await _steps(bootstrap_conninfo, d_id)
        )

    await eventually(restarted, timeout_s=30, what="the first rungs")
    assert await _steps(bootstrap_conninfo, f_id) == ["restart"]

    # The restart gave Flaky a fresh socket: it is open again; nothing failed since.
    async def reopened() -> bool:
        rows = await sql(bootstrap_conninfo, "select state from instances where id = %s", f_id)
        return rows == [("open",)]

    await eventually(reopened, timeout_s=30, what="Flaky open again")
    assert await _step(t, f_id) == "recovered"
    assert (await _steps(bootstrap_conninfo, f_id))[-1] == "recovered after 1"
    assert await _step(t, f_id) == "idle"  # the ladder is over

    # Dead: every rung fails at the gateway; after the last one it is marked dead.
    first = await _steps(bootstrap_conninfo, d_id)
    assert len(first) == 1 and first[0].startswith("restart failed: ")
    outcomes = [await _step(t, d_id) for _ in range(LADDER.bound + 1)]
    assert [o.split(":")[0] for o in outcomes] == [
        "restart failed",
        "repair failed",
        "dead",
        "idle",
    ]
    steps = await _steps(bootstrap_conninfo, d_id)
    assert len([s for s in steps if "failed" in s]) == LADDER.bound  # bounded: 3 attempts
    assert steps[-1] == "dead"
    rows = await sql(
        bootstrap_conninfo,
        "select health, recovery_attempts, recovery_at from instances where id = %s",
        d_id,
    )
    assert rows == [("quarantined", LADDER.bound, None)]
