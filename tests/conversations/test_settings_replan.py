"""A change of the tenant's rules re-decides what the old rules moved to later, both ways.

Quiet hours changed to cover now defer a round's turn until they end (hours away); changed
back, the turn goes out at once instead of at the old time. A round that the policy held too
long ends blocked and the next one is planned from the deferral's end; a change of rules plans
it again from now. (Issue 9, dashboard defect 2.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from mirage.kit.clock import utcnow
from tests.conftest import GatewayWorld, eventually
from tests.conversations.conftest import (
    FAST_SETTINGS,
    WarmPair,
    conversation_body,
    put_settings,
    start_now,
)
from tests.conversations.test_repairs import _all, _one, _repair_at


def _quiet_now() -> dict[str, Any]:
    """Quiet hours from an hour ago to three hours from now, in the tenant's zone."""
    local = datetime.now(ZoneInfo(FAST_SETTINGS["timezone"]))
    start, end = local - timedelta(hours=1), local + timedelta(hours=3)
    return {**FAST_SETTINGS, "quiet_start": f"{start:%H:%M}", "quiet_end": f"{end:%H:%M}"}


def _turn_one(conninfo: str, conv_id: str) -> str:
    """What happened to the conversation's first turn (for a failure's message)."""
    rows = _all(
        conninfo,
        "select o.status, o.planned_at, d.action, d.reason, d.created_at from outgoing_messages o "
        "left join policy_decisions d on d.outgoing_message_id = o.id "
        "where o.conversation_id = %s and o.turn = 1 order by d.created_at",
        conv_id,
    )
    rounds = _all(
        conninfo,
        "select state, planned_at, outcome from rounds where conversation_id = %s",
        conv_id,
    )
    waiting = _one(conninfo, "select waiting_reason from conversations where id = %s", conv_id)
    jobs = _all(
        conninfo,
        "select task_name, status, count(*), min(scheduled_at) from procrastinate_jobs "
        "where status in ('todo', 'doing') group by 1, 2 order by 3 desc limit 8",
    )
    return (
        f"turn 1 and its decisions: {rows}; rounds: {rounds}; waiting: {waiting!r}; "
        f"jobs not done: {jobs}"
    )


async def _put(client: httpx.AsyncClient, warm: WarmPair, body: dict[str, Any]) -> None:
    await put_settings(client, warm, body)


async def test_quiet_hours_set_then_lifted_release_the_deferred_turn_at_once(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    await _put(client, warm, _quiet_now())
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    await start_now(bootstrap_conninfo, conv["id"])

    async def deferred() -> Any:
        return _one(
            bootstrap_conninfo,
            "select o.planned_at from outgoing_messages o join policy_decisions d "
            "on d.outgoing_message_id = o.id where o.conversation_id = %s and o.turn = 1 "
            "and o.status = 'planned' and d.action = 'defer' and d.reason = 'quiet_hours'",
            conv["id"],
        )

    until = await eventually(
        deferred,
        timeout_s=60,
        what=lambda: (
            "the first turn deferred by quiet hours; " + _turn_one(bootstrap_conninfo, conv["id"])
        ),
    )
    assert until > utcnow() + timedelta(hours=2)

    # Quiet hours lifted: the turn is decided again now and goes out, hours before `until`.
    await _put(client, warm, FAST_SETTINGS)

    async def sent() -> Any:
        return _one(
            bootstrap_conninfo,
            "select sent_at from outgoing_messages where conversation_id = %s and turn = 1 "
            "and status = 'sent'",
            conv["id"],
        )

    sent_at = await eventually(sent, timeout_s=60, what="the deferred turn sent")
    assert sent_at < until - timedelta(hours=2)
    await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)


async def test_a_round_planned_after_a_long_deferral_is_planned_again_from_now(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    await _put(client, warm, _quiet_now())
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    await start_now(bootstrap_conninfo, conv["id"])

    async def deferred() -> Any:
        return _one(
            bootstrap_conninfo,
            "select planned_at from outgoing_messages where conversation_id = %s and turn = 1 "
            "and status = 'planned' and planned_at > now() + interval '1 hour'",
            conv["id"],
        )

    until = await eventually(
        deferred,
        timeout_s=60,
        what=lambda: (
            "the first turn deferred for hours; " + _turn_one(bootstrap_conninfo, conv["id"])
        ),
    )
    # Minutes later the held round ends blocked; the next round is planned from `until`.
    await _repair_at(warm, utcnow() + timedelta(minutes=4))
    rounds = _all(
        bootstrap_conninfo,
        "select state, outcome, planned_at from rounds where conversation_id = %s "
        "order by created_at",
        conv["id"],
    )
    assert [r[0] for r in rounds] == ["blocked", "planned"], rounds
    assert rounds[0][1].startswith("policy: quiet_hours")
    assert rounds[1][2] >= until

    # Quiet hours lifted: that round is planned again from now, and its start job with it.
    await _put(client, warm, FAST_SETTINGS)

    async def replanned() -> Any:
        at = _one(
            bootstrap_conninfo,
            "select planned_at from rounds where conversation_id = %s and state = 'planned'",
            conv["id"],
        )
        return at if at is not None and at < until - timedelta(hours=1) else None

    at = await eventually(replanned, timeout_s=30, what="the round planned again")
    jobs = _all(
        bootstrap_conninfo,
        "select scheduled_at from procrastinate_jobs where task_name = 'conversations.start_round' "
        "and status = 'todo' and args->>'round_id' = (select id::text from rounds "
        "where conversation_id = %s and state = 'planned')",
        conv["id"],
    )
    assert at in [j[0] for j in jobs]
    await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)
