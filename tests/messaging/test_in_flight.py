"""Waiting never holds a worker slot: a send job decides, claims and hands the gateway call
(held for the typing time) to the process's in-flight sends, and is done; the number's sends
still go out one at a time, serialized by the database, not by a queue lock."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import uuid
from typing import Any

import psycopg
import pytest

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.kit.inflight import InFlight
from mirage.messaging import service as messaging
from mirage.models import OutgoingMessage, Purpose
from tests.conftest import GatewayWorld, eventually
from tests.conversations.conftest import WarmPair
from tests.messaging.test_send_claim import CAMPAIGN_OUTCOME_JOB, _always


def _rows(conninfo: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query, args).fetchall()


async def _plan(warm: WarmPair, texts: list[str]) -> list[uuid.UUID]:
    sender, receiver = warm.numbers
    tenant_id = warm.tenant.tenant_id
    ids = []
    with tenant_context(tenant_id):
        async with session_scope() as session:
            for text in texts:
                msg = await messaging.plan_message(
                    session,
                    OutgoingMessage(
                        tenant_id=tenant_id,
                        purpose=Purpose.CAMPAIGN,
                        instance_id=uuid.UUID(sender["id"]),
                        to_number=receiver["phone"],
                        text=text,
                        turn=1,
                        planned_at=utcnow(),
                        typing_ms=2000,
                    ),
                )
                ids.append(msg.id)
    return ids


@pytest.fixture
def stand_in_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    # Campaigns do not exist yet: a stand-in owner of campaign messages.
    messaging.owner_of(Purpose.CAMPAIGN)  # the real owner loads first: the stand-in stays
    monkeypatch.setitem(
        messaging._OWNERS,
        Purpose.CAMPAIGN,
        messaging.Owner(outcome_job=CAMPAIGN_OUTCOME_JOB, policy_context=_always),
    )


async def test_the_send_job_is_done_while_the_gateway_still_holds_the_send(
    gw: GatewayWorld, warm: WarmPair, bootstrap_conninfo: str, stand_in_owner: None
) -> None:
    sender = warm.numbers[0]
    await gw.sim.control.set_instance_faults(sender["gateway_name"], latencyMs=3000)
    try:
        (msg_id,) = await _plan(warm, [f"segura {uuid.uuid4().hex[:6]}"])

        async def job_done_send_in_flight() -> object:
            jobs = _rows(
                bootstrap_conninfo,
                "select status from procrastinate_jobs where task_name = %s "
                "and args->>'outgoing_id' = %s",
                messaging.SEND_JOB,
                str(msg_id),
            )
            (status,) = _rows(
                bootstrap_conninfo, "select status from outgoing_messages where id = %s", msg_id
            )[0]
            return (jobs == [("succeeded",)] and status == "sending") or None

        await eventually(
            job_done_send_in_flight, timeout_s=20, what="the job done, the send in flight"
        )

        async def sent() -> object:
            rows = _rows(
                bootstrap_conninfo, "select status from outgoing_messages where id = %s", msg_id
            )
            return rows == [("sent",)] or None

        await eventually(sent, timeout_s=20, what="the handed-off send recorded")
    finally:
        await gw.sim.control.clear_instance_faults(sender["gateway_name"])


async def test_a_numbers_sends_go_out_one_at_a_time(
    gw: GatewayWorld, warm: WarmPair, bootstrap_conninfo: str, stand_in_owner: None
) -> None:
    sender = warm.numbers[0]
    await gw.sim.control.set_instance_faults(sender["gateway_name"], latencyMs=1500)
    try:
        tag = uuid.uuid4().hex[:6]
        ids = await _plan(warm, [f"primeira {tag}", f"segunda {tag}", f"terceira {tag}"])

        async def all_sent() -> object:
            rows = _rows(
                bootstrap_conninfo,
                "select claimed_at, sent_at from outgoing_messages where id = any(%s) "
                "and status = 'sent' order by claimed_at",
                ids,
            )
            return rows if len(rows) == 3 else None

        rows = await eventually(all_sent, timeout_s=40, what="three sends", interval_s=0.1)
    finally:
        await gw.sim.control.clear_instance_faults(sender["gateway_name"])
    # Each claim came after the previous send was out: never two in flight for one number.
    for (_, prev_sent), (next_claimed, _) in itertools.pairwise(rows):
        assert next_claimed >= prev_sent
    # In the order they were planned, and with one job run each: the second and third parked
    # while the first was typed, and each finished send claimed the next one itself — no job
    # woke again to find the number still busy.
    order = _rows(
        bootstrap_conninfo,
        "select id from outgoing_messages where id = any(%s) order by claimed_at",
        ids,
    )
    assert [r[0] for r in order] == ids
    runs = _rows(
        bootstrap_conninfo,
        "select count(*) from procrastinate_jobs where task_name = %s "
        "and args->>'outgoing_id' = any(%s)",
        messaging.SEND_JOB,
        [str(i) for i in ids],
    )
    assert runs == [(3,)]


async def test_in_flight_work_is_bounded_inherits_its_context_and_is_drained() -> None:
    group = InFlight(limit=2)
    where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="?")
    release = asyncio.Event()
    seen: list[str] = []

    async def work() -> None:
        seen.append(where.get())
        await release.wait()

    where.set("job-context")
    await group.spawn(work, name="a")
    await group.spawn(work, name="b")
    third = asyncio.create_task(group.spawn(work, name="c"))
    await asyncio.sleep(0.05)
    assert len(group) == 2 and not third.done()  # full: the third waits for room
    release.set()
    await third
    assert await group.drain(timeout_s=5) == 0
    assert seen == ["job-context"] * 3 and len(group) == 0
    # What outlives the drain's timeout is cut off, and said so.
    stuck = asyncio.Event()

    async def forever() -> None:
        await stuck.wait()

    await group.spawn(forever, name="d")
    assert await group.drain(timeout_s=0.05) == 1
    assert len(group) == 0


async def test_in_flight_work_uses_at_most_its_share_of_the_database() -> None:
    """The process's pool is shared with its job slots: in-flight work takes at most
    ``db_share`` connections at once, and the rest of it waits its turn here, in order."""
    group = InFlight(limit=10, db_share=2)
    inside: list[int] = []
    most = 0
    release = asyncio.Event()

    async def work() -> None:
        nonlocal most
        async with group.database():
            inside.append(1)
            most = max(most, len(inside))
            await release.wait()
            inside.pop()

    for n in range(5):
        await group.spawn(work, name=f"w{n}")
    await asyncio.sleep(0.05)
    assert len(inside) == 2 and len(group) == 5  # five in flight, two at the database
    release.set()
    assert await group.drain(timeout_s=5) == 0
    assert most == 2 and inside == []
    with pytest.raises(ValueError, match="share"):
        InFlight(limit=1, db_share=0)
