"""A round with the tenant's OpenAI-compatible endpoint stubbed (respx): the prompt carries
persona, topic and daypart; when the endpoint answers 429 the offline generator takes over
and the round still completes."""

from __future__ import annotations

import json

import httpx
import psycopg
import respx

import tests.ai.conftest  # noqa: F401 - registers respx's mocker for the SDK's httpcore2
from tests.ai.conftest import BASE_URL, completion
from tests.conftest import GatewayWorld
from tests.conversations.conftest import (
    FAST_SETTINGS,
    WarmPair,
    conversation_body,
    put_settings,
    start_now,
)
from tests.conversations.test_rounds_flow import _round_done


async def test_rate_limited_llm_falls_back_and_the_round_completes(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    settings = {
        **FAST_SETTINGS,
        "ai_base_url": BASE_URL,
        "ai_model": "gpt-test",
        "ai_api_key": "sk-test",
    }
    await put_settings(client, warm, settings)
    with respx.mock(using="httpcore2", base_url=BASE_URL, assert_all_called=False) as llm:
        route = llm.post("/chat/completions")
        route.side_effect = [
            httpx.Response(200, json=completion("E aí, viu o jogo de ontem? Que partida boa!")),
            *[
                httpx.Response(
                    429, headers={"retry-after": "0"}, json={"error": {"message": "rate limited"}}
                )
            ]
            * 50,
        ]
        conv = (
            await client.post(
                "/api/v1/conversations",
                headers=warm.auth,
                json=conversation_body(warm, topics=["futebol"]),
            )
        ).json()
        await start_now(bootstrap_conninfo, conv["id"])
        rnd = await _round_done(client, warm, conv["id"])

    assert rnd["state"] == "completed", rnd["outcome"]
    first = json.loads(route.calls[0].request.content)
    system = first["messages"][0]["content"]
    persona_names = {p["name"] for p in warm.personas}
    assert any(name in system for name in persona_names)
    assert "futebol" in system
    assert any(word in system.lower() for word in ("manhã", "tarde", "noite"))
    with psycopg.connect(bootstrap_conninfo) as conn:
        rows = conn.execute(
            "select turn, generation_source, fallback_reason from outgoing_messages "
            "where round_id = %s order by turn",
            (rnd["id"],),
        ).fetchall()
    assert len(rows) == rnd["exchanges"]
    later = rows[1:]
    assert later and all(src == "offline" for _, src, _ in later), rows
    assert any(reason == "rate_limited" for _, _, reason in later), rows
