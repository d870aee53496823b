"""Rounds end to end over real HTTP with the simulator: each reply is triggered by the real
inbound webhook on the receiving number; transcripts, timings and acks are recorded."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import psycopg

from tests.conftest import GatewayWorld, eventually, sql
from tests.conversations.conftest import WarmPair, conversation_body, start_now


async def _round_done(
    client: httpx.AsyncClient, w: WarmPair, cid: str, timeout_s: float = 240
) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        r = await client.get(f"/api/v1/conversations/{cid}/rounds", headers=w.auth)
        assert r.status_code == 200, r.text
        rounds = [x for x in r.json() if x["state"] not in ("planned", "running")]
        return rounds[-1] if rounds else None

    try:
        return await eventually(done, timeout_s=timeout_s, what="a finished round", interval_s=0.5)  # type: ignore[no-any-return]
    except AssertionError:
        r = await client.get(f"/api/v1/conversations/{cid}/rounds", headers=w.auth)
        raise AssertionError(f"no finished round: {r.text[:3000]}") from None


async def test_a_round_runs_by_itself_turn_by_turn(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    r = await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    assert r.status_code == 201, r.text
    conv = r.json()
    assert conv["next_round_at"] is not None and conv["state"] == "active"
    await start_now(bootstrap_conninfo, conv["id"])

    rnd = await _round_done(client, warm, conv["id"])
    assert rnd["state"] == "completed", (rnd["outcome"], rnd["decisions"])
    turns = rnd["turns"]
    assert len(turns) == rnd["exchanges"] and 2 <= rnd["exchanges"] <= 4
    senders = [t["sender_instance_id"] for t in turns]
    assert all(a != b for a, b in itertools.pairwise(senders))  # alternating
    for t in turns:
        assert t["status"] == "sent" and t["text"]
        assert t["typing_ms"] > 0 and t["generation_source"] in ("offline", "llm")
        assert 0 <= t["repetition_score"] <= 1
    for t in turns[1:]:
        assert t["read_ms"] > 0  # a reply reads the incoming message first

    with psycopg.connect(bootstrap_conninfo) as conn:
        # Every turn is stored on both numbers (sender's SEND_MESSAGE, receiver's UPSERT).
        rows = conn.execute(
            "select o.turn, count(m.id), bool_and(m.round_id is null) from outgoing_messages o "
            "join messages m on m.tenant_id = o.tenant_id "
            "and m.provider_message_id = o.provider_message_id "
            "where o.round_id = %s group by o.turn order by o.turn",
            (rnd["id"],),
        ).fetchall()
        replies = conn.execute(
            "select count(*) from procrastinate_jobs where task_name = 'conversations.on_inbound' "
            "and args->>'round_id' = %s and status = 'succeeded'",
            (rnd["id"],),
        ).fetchone()[0]  # type: ignore[index]
        members = conn.execute(
            "select count(*) from round_members where round_id = %s and active", (rnd["id"],)
        ).fetchone()[0]  # type: ignore[index]
    assert [(t, c) for t, c, _ in rows] == [(i, 2) for i in range(1, rnd["exchanges"] + 1)]
    # Each reply was planned by the real inbound webhook of the previous turn.
    assert replies == rnd["exchanges"] - 1
    assert members == 0  # the numbers are free again
    # And the next round is already planned.
    conv = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=warm.auth)).json()
    assert conv["next_round_at"] is not None and conv["last_round_at"] is not None


async def test_a_number_is_never_in_two_active_rounds(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    a = (
        await client.post(
            "/api/v1/conversations", headers=warm.auth, json=conversation_body(warm, name="Um")
        )
    ).json()
    b = (
        await client.post(
            "/api/v1/conversations", headers=warm.auth, json=conversation_body(warm, name="Dois")
        )
    ).json()
    await start_now(bootstrap_conninfo, a["id"])
    await start_now(bootstrap_conninfo, b["id"])

    async def one_busy() -> bool:
        with psycopg.connect(bootstrap_conninfo) as conn:
            busy = conn.execute(
                "select count(*) from procrastinate_jobs where task_name = "
                "'conversations.start_round' and status = 'succeeded' and args->>'round_id' in "
                "(select id::text from rounds where conversation_id in (%s, %s))",
                (a["id"], b["id"]),
            ).fetchone()[0]  # type: ignore[index]
        return bool(busy >= 2)

    await eventually(one_busy, timeout_s=30, what="both start jobs to run")
    with psycopg.connect(bootstrap_conninfo) as conn:
        running = conn.execute(
            "select count(*) from rounds where conversation_id in (%s, %s) and state = 'running'",
            (a["id"], b["id"]),
        ).fetchone()[0]  # type: ignore[index]
        per_number = conn.execute(
            "select instance_id, count(*) from round_members where active and instance_id in "
            "(%s, %s) group by instance_id",
            (warm.numbers[0]["id"], warm.numbers[1]["id"]),
        ).fetchall()
    assert running <= 1
    assert all(count == 1 for _, count in per_number)


async def test_a_round_whose_reply_never_arrives_times_out(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    # The receiving number drops off (its webhooks stop) right after pairing: no reply event.
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    # Both numbers drop off Mirage's view: the gateway stops delivering their webhooks (the
    # real Evolution call), so whichever receives the first turn, its reply never arrives.
    for number in warm.numbers:
        r = await gw.sim.http.post(
            f"/webhook/set/{number['gateway_name']}",
            json={"webhook": {"enabled": False, "url": "http://127.0.0.1:9/off"}},
        )
        assert r.status_code == 201, r.text
    await start_now(bootstrap_conninfo, conv["id"])

    async def reply_lost() -> object:
        # The reply is awaited for a turn that was sent (a turn still being sent is not "a
        # reply that never arrived": its own outcome decides); make its deadline overdue.
        rows = await sql(
            bootstrap_conninfo,
            "update rounds r set reply_deadline = now() - interval '1 second' "
            "where r.conversation_id = %s and r.awaiting_instance_id is not null and "
            "(select o.status from outgoing_messages o where o.round_id = r.id "
            " order by o.turn desc limit 1) = 'sent' returning r.id",
            conv["id"],
        )
        return rows[0][0] if rows else None

    round_id = await eventually(
        reply_lost, timeout_s=60, what="a round awaiting a reply to a sent turn", interval_s=0.1
    )
    await sql(
        bootstrap_conninfo,
        "update procrastinate_jobs set scheduled_at = now() where status = 'todo' "
        "and task_name = 'conversations.check_timeout' and args->>'round_id' = %s",
        str(round_id),
    )

    async def timed_out() -> object:
        with psycopg.connect(bootstrap_conninfo) as conn:
            row = conn.execute(
                "select state, outcome from rounds where id = %s", (round_id,)
            ).fetchone()
            return row if row and row[0] == "timed_out" else None

    _state, outcome = await eventually(
        timed_out,
        timeout_s=60,
        what="the timeout",  # type: ignore[misc]
        interval_s=0.2,
    )
    assert outcome == "the reply never arrived"
    with psycopg.connect(bootstrap_conninfo) as conn:
        active = conn.execute(
            "select count(*) from round_members where round_id = %s and active", (round_id,)
        ).fetchone()[0]  # type: ignore[index]
    assert active == 0
