"""Composing a turn calls the LLM holding no transaction and no lock, and a turn whose round
moved on meanwhile is dropped, not sent."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest

from mirage.conversations import engine
from tests.conftest import GatewayWorld, eventually
from tests.conversations.conftest import WarmPair, conversation_body, start_now


async def test_the_llm_runs_outside_any_lock_and_a_moved_on_round_drops_the_turn(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    warm: WarmPair,
    bootstrap_conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = {p["name"] for p in warm.personas}
    entered, release = asyncio.Event(), asyncio.Event()
    real = engine.generate_reply

    async def slow_llm(req: Any, **kw: Any) -> Any:
        if req.persona.name in ours:
            entered.set()
            await asyncio.wait_for(release.wait(), timeout=30)
        return await real(req, **kw)

    monkeypatch.setattr(engine, "generate_reply", slow_llm)
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    await start_now(bootstrap_conninfo, conv["id"])
    await asyncio.wait_for(entered.wait(), timeout=30)  # the first turn is at the LLM

    with psycopg.connect(bootstrap_conninfo) as conn:
        row = conn.execute(
            "select id, state from rounds where conversation_id = %s", (conv["id"],)
        ).fetchone()
        assert row is not None and row[1] == "running"
        round_id = row[0]
        # Nothing the round's job touched is locked while the LLM thinks.
        conn.execute("set lock_timeout = '1s'")
        conn.execute("select 1 from rounds where id = %s for update nowait", (round_id,))
        conn.execute("select 1 from conversations where id = %s for update nowait", (conv["id"],))
        conn.execute(
            "select 1 from round_members where round_id = %s for update nowait", (round_id,)
        )
        conn.rollback()

    # Meanwhile the round moves on: the conversation is paused (this takes the round's lock).
    r = await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)
    assert r.status_code == 200, r.text
    release.set()

    async def composed() -> bool:
        with psycopg.connect(bootstrap_conninfo) as conn:
            found = conn.execute(
                "select status from procrastinate_jobs where task_name = "
                "'conversations.compose_turn' and args->>'round_id' = %s",
                (str(round_id),),
            ).fetchone()
        return bool(found and found[0] == "succeeded")

    await eventually(composed, timeout_s=30, what="the turn's job to finish")
    with psycopg.connect(bootstrap_conninfo) as conn:
        state = conn.execute("select state from rounds where id = %s", (round_id,)).fetchone()
        written = conn.execute(
            "select count(*) from outgoing_messages where round_id = %s", (round_id,)
        ).fetchone()
    assert state is not None and state[0] == "cancelled"
    assert written is not None and written[0] == 0  # the late text was dropped
