"""The round hears what became of its messages through its outcome job: a send the policy
denies ends the round as blocked, with the policy's reason."""

from __future__ import annotations

import httpx
import psycopg

from tests.conftest import GatewayWorld, eventually, sql
from tests.conversations.conftest import FAST_SETTINGS, WarmPair, conversation_body, start_now


def _one(conninfo: str, sql: str, *args: object) -> object:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(sql, args).fetchone()
    return row[0] if row else None


async def test_a_denied_send_blocks_its_round_through_the_outcome_job(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    body = conversation_body(warm, delay_min_s=1800, delay_max_s=3600)  # planned well ahead
    conv = (await client.post("/api/v1/conversations", headers=warm.auth, json=body)).json()
    await start_now(bootstrap_conninfo, conv["id"])

    async def planned() -> object:
        return _one(
            bootstrap_conninfo,
            "select id from outgoing_messages where conversation_id = %s and status = 'planned'",
            conv["id"],
        )

    msg_id = await eventually(planned, timeout_s=30, what="a planned message")
    r = await client.put(
        "/api/v1/settings", headers=warm.auth, json={**FAST_SETTINGS, "kill_switch": True}
    )
    assert r.status_code == 200, r.text
    await sql(
        bootstrap_conninfo, "update outgoing_messages set planned_at = now() where id = %s", msg_id
    )
    await sql(
        bootstrap_conninfo,
        "update procrastinate_jobs set scheduled_at = now() where status = 'todo' "
        "and task_name = 'messaging.send_message' and args->>'outgoing_id' = %s",
        str(msg_id),
    )

    async def ended() -> object:
        return _one(
            bootstrap_conninfo,
            "select outcome from rounds where conversation_id = %s and state = 'blocked'",
            conv["id"],
        )

    assert await eventually(ended, timeout_s=30, what="the round blocked") == (
        "policy: kill_switch_tenant"
    )
    assert (
        _one(bootstrap_conninfo, "select status from outgoing_messages where id = %s", msg_id)
        == "cancelled"
    )
    assert (
        _one(
            bootstrap_conninfo,
            "select args->>'outcome' || ':' || (args->>'reason') from procrastinate_jobs "
            "where task_name = 'conversations.on_send_outcome' and args->>'outgoing_id' = %s",
            str(msg_id),
        )
        == "denied:kill_switch_tenant"
    )
    # The blocked round let go of its numbers.
    assert (
        _one(
            bootstrap_conninfo,
            "select count(*) from round_members m join rounds r on r.id = m.round_id "
            "where r.conversation_id = %s and r.state = 'blocked' and m.active",
            conv["id"],
        )
        == 0
    )
    await client.put("/api/v1/settings", headers=warm.auth, json=FAST_SETTINGS)
