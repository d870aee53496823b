"""Nothing is left behind: a stranded send, a lost job, a number that cannot send, a pair
that cannot send. Each scenario is built on the real stack (API, worker, simulator) and then
broken the way production breaks it (a job that never ran, a send the gateway delivered while
its worker died); the repairs run as their periodic jobs would, at a later instant."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import psycopg

from mirage.conversations import engine
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.instances.gateway import get_gateway
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.models import Instance
from tests.conftest import GatewayWorld, eventually, sign_in, sql
from tests.conversations.conftest import (
    FAST_SETTINGS,
    WarmPair,
    conversation_body,
    put_settings,
    start_now,
)

T = TypeVar("T")


def _one(conninfo: str, query: str, *args: object) -> Any:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query, args).fetchone()
    return row[0] if row else None


def _all(conninfo: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query, args).fetchall()


async def _as_tenant(tenant_id: uuid.UUID, fn: Callable[[Any], Awaitable[T]]) -> T:
    with tenant_context(tenant_id):
        async with session_scope() as session:
            return await fn(session)


async def _repair_at(warm: WarmPair, now: datetime) -> list[str]:
    """What the every-minute planning job does first, at ``now``."""
    return await _as_tenant(
        warm.tenant.tenant_id, lambda s: engine.repair_tenant(s, now, random.Random(1))
    )


async def _plan_at(warm: WarmPair, now: datetime) -> int:
    return await _as_tenant(
        warm.tenant.tenant_id, lambda s: engine.plan_tenant(s, now, random.Random(1))
    )


async def _planned_turn(conninfo: str, conv_id: str, turn: int) -> tuple[Any, ...]:
    async def planned() -> object:
        rows = _all(
            conninfo,
            "select id, round_id, instance_id, to_number, text from outgoing_messages "
            "where conversation_id = %s and turn = %s and status = 'planned'",
            conv_id,
            turn,
        )
        return rows[0] if rows else None

    return await eventually(planned, timeout_s=60, what=f"turn {turn} planned", interval_s=0.1)  # type: ignore[no-any-return]


async def _wait_connected(client: httpx.AsyncClient, warm: WarmPair, connected: bool) -> None:
    async def settled() -> object:
        states = [
            (await client.get(f"/api/v1/instances/{n['id']}", headers=warm.auth)).json()
            for n in warm.numbers
        ]
        return all(s["connected"] is connected for s in states) or None

    await eventually(settled, timeout_s=30, what=f"both numbers connected={connected}")


async def test_a_pair_that_cannot_send_is_blocked_once_then_waits_and_resumes(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    # Both numbers banned by WhatsApp (403): neither can send.
    for n in warm.numbers:
        await gw.sim.control.ban(n["gateway_name"])
    await _wait_connected(client, warm, False)
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    await start_now(bootstrap_conninfo, conv["id"])

    async def waiting() -> object:
        return _one(
            bootstrap_conninfo,
            "select waiting_reason from conversations where id = %s",
            conv["id"],
        )

    reason = await eventually(waiting, timeout_s=30, what="the conversation waiting")
    assert "fewer than two of its numbers can send" in reason
    # Banned: quarantined at once (number safety), the policy's reason, per number.
    assert reason.count("number_quarantined") == 2
    rounds = _all(
        bootstrap_conninfo, "select state from rounds where conversation_id = %s", conv["id"]
    )
    assert rounds == [("blocked",)]
    # Minute after minute, the planner leaves it waiting: no round that would be blocked.
    for minutes in (1, 2, 3, 10):
        await _plan_at(warm, utcnow() + timedelta(minutes=minutes))
    assert (
        _one(
            bootstrap_conninfo, "select count(*) from rounds where conversation_id = %s", conv["id"]
        )
        == 1
    )
    # Shown where the operator looks.
    shown = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=warm.auth)).json()
    assert shown["waiting_reason"] == reason
    await sign_in(client, warm.tenant)
    page = await client.get(f"/conversations/{conv['id']}")
    assert page.status_code == 200 and 'id="waiting-reason"' in page.text
    assert "Aguardando seus números" in page.text and "bloqueada" in page.text

    # Unbanned and paired again, released from quarantine by an admin and resumed (a release
    # brings a number back paused): the next planning resumes the conversation by itself.
    for n in warm.numbers:
        await gw.sim.control.unban(n["gateway_name"])
        await client.post(f"/api/v1/instances/{n['id']}/connect", headers=warm.auth)
        await gw.sim.control.scan(
            n["gateway_name"], number=n["phone"], profile_name=n["display_name"]
        )
    await _wait_connected(client, warm, True)
    await _plan_at(warm, utcnow())
    assert "number_quarantined" in str(
        _one(
            bootstrap_conninfo, "select waiting_reason from conversations where id = %s", conv["id"]
        )
    ), "a quarantined number must not come back by itself"
    for n in warm.numbers:
        r = await client.post(
            f"/api/v1/instances/{n['id']}/release",
            headers=warm.auth,
            json={"reason": "appeal accepted"},
        )
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/instances/{n['id']}/resume", headers=warm.auth)
        assert r.status_code == 200, r.text
    await _plan_at(warm, utcnow())
    assert (
        _one(
            bootstrap_conninfo, "select waiting_reason from conversations where id = %s", conv["id"]
        )
        is None
    )
    assert _all(
        bootstrap_conninfo,
        "select state from rounds where conversation_id = %s order by created_at",
        conv["id"],
    ) == [("blocked",), ("planned",)]


async def test_a_round_held_by_a_number_that_cannot_send_ends_unsent_and_frees_both(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    body = conversation_body(warm, delay_min_s=1800, delay_max_s=3600)  # turn 1 planned ahead
    conv = (await client.post("/api/v1/conversations", headers=warm.auth, json=body)).json()
    await start_now(bootstrap_conninfo, conv["id"])
    msg_id, round_id, sender_id, _to, _text = await _planned_turn(bootstrap_conninfo, conv["id"], 1)
    r = await client.post(
        f"/api/v1/instances/{sender_id}/pause", headers=warm.auth, json={"reason": "teste"}
    )
    assert r.status_code == 200 and r.json()["paused"] is True, r.text

    # Within the hold limit the round keeps waiting for its number…
    assert await _repair_at(warm, utcnow() + timedelta(minutes=1)) == []
    assert _one(bootstrap_conninfo, "select state from rounds where id = %s", round_id) == "running"
    # …past it, the round ends with the real reason and lets go of both numbers.
    assert await _repair_at(warm, utcnow() + engine.HOLD_LIMIT + timedelta(minutes=1)) == ["held"]
    state, outcome = _all(
        bootstrap_conninfo, "select state, outcome from rounds where id = %s", round_id
    )[0]
    assert state == "unsent"
    assert outcome.endswith("cannot send: number_paused")
    assert (
        _one(bootstrap_conninfo, "select status from outgoing_messages where id = %s", msg_id)
        == "cancelled"
    )
    assert (
        _one(
            bootstrap_conninfo,
            "select count(*) from round_members where round_id = %s and active",
            round_id,
        )
        == 0
    )
    await client.post(f"/api/v1/instances/{sender_id}/resume", headers=warm.auth)


async def test_a_delivered_last_turn_whose_job_was_lost_is_reaped_and_ends_the_round(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    body = conversation_body(warm, delay_min_s=1800, delay_max_s=3600)
    conv = (await client.post("/api/v1/conversations", headers=warm.auth, json=body)).json()
    # A two-message round: its second turn is its last.
    await sql(
        bootstrap_conninfo, "update rounds set exchanges = 2 where conversation_id = %s", conv["id"]
    )
    await start_now(bootstrap_conninfo, conv["id"])
    first = await _planned_turn(bootstrap_conninfo, conv["id"], 1)
    await _send_now(bootstrap_conninfo, first[0])
    last_id, round_id, sender_id, to_number, text = await _planned_turn(
        bootstrap_conninfo, conv["id"], 2
    )

    # The last turn is claimed and handed to the gateway, which delivers it; then its worker
    # is shut down before it records anything, and its job is gone (aborted).
    await gw.stop_worker()
    try:
        gateway_name = _one(
            bootstrap_conninfo, "select gateway_name from instances where id = %s", sender_id
        )
        token = await _as_tenant(warm.tenant.tenant_id, lambda s: _token(s, sender_id))
        await sql(
            bootstrap_conninfo,
            "update outgoing_messages set status = 'sending', attempts = 1, "
            "claimed_at = now() - interval '10 minutes' where id = %s",
            last_id,
        )
        await get_gateway().send_text(gateway_name, to_number, text, token=token)
        await sql(
            bootstrap_conninfo,
            "delete from procrastinate_jobs where task_name = 'messaging.send_message' "
            "and args->>'outgoing_id' = %s",
            str(last_id),
        )

        async def recorded() -> object:  # the gateway's own record (SEND_MESSAGE webhook)
            return (
                _one(
                    bootstrap_conninfo,
                    "select count(*) from messages where instance_id = %s and from_me "
                    "and text = %s",
                    sender_id,
                    text,
                )
                or None
            )

        await eventually(recorded, timeout_s=30, what="the gateway's record of the send")
        rescheduled = await _as_tenant(warm.tenant.tenant_id, lambda s: messaging.reap(s, utcnow()))
        assert rescheduled == [last_id]
        # Reaping again finds the job it just gave the message: nothing twice.
        assert await _as_tenant(warm.tenant.tenant_id, lambda s: messaging.reap(s, utcnow())) == []
    finally:
        gw.start_worker()

    async def completed() -> object:
        return _one(
            bootstrap_conninfo,
            "select state from rounds where id = %s and state = 'completed'",
            round_id,
        )

    await eventually(completed, timeout_s=30, what="the round completed")
    assert (
        _one(bootstrap_conninfo, "select status from outgoing_messages where id = %s", last_id)
        == "sent"
    )
    # Sent once: the gateway has exactly one copy.
    copies = [m for m in await gw.sim.control.messages(gateway_name) if m.get("text") == text]
    assert len(copies) == 1, copies
    assert (
        _one(
            bootstrap_conninfo,
            "select count(*) from round_members where round_id = %s and active",
            round_id,
        )
        == 0
    )


async def test_a_round_whose_turn_failed_without_telling_it_ends_unsent(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    body = conversation_body(warm, delay_min_s=1800, delay_max_s=3600)
    conv = (await client.post("/api/v1/conversations", headers=warm.auth, json=body)).json()
    await start_now(bootstrap_conninfo, conv["id"])
    msg_id, round_id, *_ = await _planned_turn(bootstrap_conninfo, conv["id"], 1)
    # The gateway refused it and the outcome job was lost.
    await sql(
        bootstrap_conninfo,
        "update outgoing_messages set status = 'failed', last_error = 'NotConnected: 401' "
        "where id = %s",
        msg_id,
    )
    assert await _repair_at(warm, utcnow()) == ["unsent"]
    assert _all(
        bootstrap_conninfo, "select state, outcome from rounds where id = %s", round_id
    ) == [("unsent", "NotConnected: 401")]
    # The same with a send whose outcome is unknown: not "timed out", not "failed".
    conv2 = (
        await client.post(
            "/api/v1/conversations", headers=warm.auth, json={**body, "name": "Outra"}
        )
    ).json()
    await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)
    await start_now(bootstrap_conninfo, conv2["id"])
    msg2, round2, *_ = await _planned_turn(bootstrap_conninfo, conv2["id"], 1)
    await sql(
        bootstrap_conninfo, "update outgoing_messages set status = 'unknown' where id = %s", msg2
    )
    assert await _repair_at(warm, utcnow()) == ["unknown"]
    assert _one(bootstrap_conninfo, "select state from rounds where id = %s", round2) == "unknown"


async def _send_now(conninfo: str, outgoing_id: object) -> None:
    await sql(
        conninfo, "update outgoing_messages set planned_at = now() where id = %s", outgoing_id
    )
    await sql(
        conninfo,
        "update procrastinate_jobs set scheduled_at = now() where status = 'todo' "
        "and task_name = 'messaging.send_message' and args->>'outgoing_id' = %s",
        str(outgoing_id),
    )


async def _token(session: Any, instance_id: uuid.UUID) -> str:
    instance = await session.get(Instance, instance_id)
    return instances.instance_token(instance)


async def test_a_round_whose_turn_the_policy_moved_far_ahead_ends_and_the_next_waits_for_then(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    # The policy moves the first turn hours ahead (here quiet hours that began an hour ago;
    # bench/faults.py found it with brand-new numbers' daily warm-up cap, deferred to midnight).
    local = datetime.now(ZoneInfo("America/Sao_Paulo"))
    quiet = {
        "quiet_start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "quiet_end": (local + timedelta(hours=2)).strftime("%H:%M"),
    }
    await put_settings(client, warm, {**FAST_SETTINGS, **quiet})
    try:
        conv = (
            await client.post(
                "/api/v1/conversations", headers=warm.auth, json=conversation_body(warm)
            )
        ).json()
        await start_now(bootstrap_conninfo, conv["id"])

        async def deferred() -> object:
            rows = _all(
                bootstrap_conninfo,
                "select o.id, o.round_id, o.planned_at from outgoing_messages o "
                "join policy_decisions d on d.outgoing_message_id = o.id "
                "where o.conversation_id = %s and d.reason = 'quiet_hours' "
                "and o.status = 'planned'",
                conv["id"],
            )
            return rows[0] if rows else None

        msg_id, round_id, until = await eventually(
            deferred, timeout_s=60, what="the turn deferred by the quiet hours"
        )
        assert until > utcnow() + engine.HOLD_LIMIT
        # Within the hold limit the round waits; past it, it ends and frees both numbers.
        assert await _repair_at(warm, utcnow()) == []
        assert await _repair_at(warm, utcnow() + engine.HOLD_LIMIT + timedelta(minutes=1)) == [
            "deferred-far"
        ]
    finally:
        await client.put("/api/v1/settings", headers=warm.auth, json=FAST_SETTINGS)
    state, outcome = _all(
        bootstrap_conninfo, "select state, outcome from rounds where id = %s", round_id
    )[0]
    assert state == "blocked" and outcome.startswith("policy: quiet_hours (until ")
    assert _one(
        bootstrap_conninfo, "select status from outgoing_messages where id = %s", msg_id
    ) == ("cancelled")
    assert (
        _one(
            bootstrap_conninfo,
            "select count(*) from round_members where round_id = %s and active",
            round_id,
        )
        == 0
    )
    # The next round is planned from then on, not now (no round deferred the same way).
    nxt = _all(
        bootstrap_conninfo,
        "select planned_at from rounds where conversation_id = %s and state = 'planned'",
        conv["id"],
    )
    assert len(nxt) == 1 and nxt[0][0] >= until


async def test_a_number_paused_during_a_round_leaves_the_conversation_waiting_not_replanned(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    await start_now(bootstrap_conninfo, conv["id"])

    async def running() -> object:
        return _one(
            bootstrap_conninfo,
            "select id from rounds where conversation_id = %s and state = 'running'",
            conv["id"],
        )

    await eventually(running, timeout_s=60, what="the round running")
    paused = warm.numbers[0]
    r = await client.post(f"/api/v1/instances/{paused['id']}/pause", headers=warm.auth)
    assert r.status_code == 200, r.text

    async def waiting() -> object:
        return _one(
            bootstrap_conninfo,
            "select waiting_reason from conversations where id = %s",
            conv["id"],
        )

    # However the round ends (its next turn denied, or done before the pause reached it), the
    # conversation waits for its numbers instead of planning a round that would be blocked.
    reason = await eventually(waiting, timeout_s=60, what="the conversation waiting")
    assert "number_paused" in reason and paused["display_name"] in reason
    states = _all(
        bootstrap_conninfo, "select state from rounds where conversation_id = %s", conv["id"]
    )
    assert len(states) == 1 and states[0][0] not in ("planned", "running"), states
    for minutes in (1, 30):
        await _plan_at(warm, utcnow() + timedelta(minutes=minutes))
    assert (
        _all(bootstrap_conninfo, "select state from rounds where conversation_id = %s", conv["id"])
        == states
    )

    # Resumed: the next planning clears the wait and plans a round.
    r = await client.post(f"/api/v1/instances/{paused['id']}/resume", headers=warm.auth)
    assert r.status_code == 200, r.text
    await _plan_at(warm, utcnow())
    assert (
        _one(
            bootstrap_conninfo, "select waiting_reason from conversations where id = %s", conv["id"]
        )
        is None
    )
    planned = _all(
        bootstrap_conninfo,
        "select state from rounds where conversation_id = %s and state = 'planned'",
        conv["id"],
    )
    assert planned == [("planned",)]
    await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)
