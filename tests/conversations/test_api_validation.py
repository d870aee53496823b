"""Personas, conversations and settings through the API: validation, roles, conflicts."""

from __future__ import annotations

import httpx

from tests.conftest import GatewayWorld, TenantFixture, make_token
from tests.conversations.conftest import FAST_SETTINGS, PERSONA, WarmPair, conversation_body


async def test_persona_crud_and_bad_input(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    r = await client.post("/api/v1/personas", headers=auth, json={"name": "Lia", **PERSONA})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    dup = await client.post("/api/v1/personas", headers=auth, json={"name": "lia", **PERSONA})
    assert dup.status_code == 409
    bad_cases = [
        {"style": "rude"},
        {"emoji_rate": 1.5},
        {"min_length": 50, "max_length": 20},
        {"min_length": 10, "max_length": 15},  # the generator needs some room
        {"greetings": {"morning": ["Boa noite!"], "afternoon": ["Oi"], "night": ["Oi"]}},
        {"greetings": {"morning": [], "afternoon": ["Oi"], "night": ["Oi"]}},
        {"unknown": 1},
    ]
    for extra in bad_cases:
        r = await client.post(
            "/api/v1/personas", headers=auth, json={"name": "X", **PERSONA, **extra}
        )
        assert r.status_code == 422, (extra, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.put(
        f"/api/v1/personas/{pid}",
        headers=auth,
        json={"name": "Lia 2", **PERSONA, "style": "formal"},
    )
    assert r.status_code == 200 and r.json()["style"] == "formal"
    assert (await client.delete(f"/api/v1/personas/{pid}", headers=auth)).status_code == 204


async def test_viewer_token_cannot_write(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a, ('read',))}"}
    r = await client.post("/api/v1/personas", headers=auth, json={"name": "Z", **PERSONA})
    assert r.status_code == 403
    r = await client.put("/api/v1/settings", headers=auth, json=FAST_SETTINGS)
    assert r.status_code == 403
    assert (await client.get("/api/v1/settings", headers=auth)).status_code == 200


async def test_settings_validation(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    for extra in (
        {"timezone": "Mars/Olympus"},
        {"delay_min_s": 50, "delay_max_s": 10},
        {"quiet_start": "22:00", "quiet_end": None},
        {"quiet_start": "22:00", "quiet_end": "22:00"},
        {"ai_base_url": "ftp://x"},
        {"hourly_cap_per_number": -1},
    ):
        r = await client.put("/api/v1/settings", headers=auth, json={**FAST_SETTINGS, **extra})
        assert r.status_code == 422, (extra, r.text)
    ok = {**FAST_SETTINGS, "quiet_start": "22:00", "quiet_end": "07:30", "ai_api_key": "sk-test"}
    r = await client.put("/api/v1/settings", headers=auth, json=ok)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["quiet_start"] == "22:00:00" and body["ai_key_set"] is True
    assert "sk-test" not in r.text  # the key is never shown again


async def test_conversation_validation_and_pause(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair
) -> None:
    bad = [
        {"participants": conversation_body(warm)["participants"][:1]},
        {"topics": []},
        {"delay_min_s": 10},
        {"delay_min_s": 10, "delay_max_s": 5},
        {"windows": {"9": [["08:00", "12:00"]]}},
        {"windows": {"0": [["12:00", "08:00"]]}},
        {"windows": {"0": [["8h", "12:00"]]}},
        {"windows": {}},
    ]
    for extra in bad:
        r = await client.post(
            "/api/v1/conversations", headers=warm.auth, json={**conversation_body(warm), **extra}
        )
        assert r.status_code == 422, (extra, r.text)
    twice = conversation_body(warm)
    twice["participants"] = [twice["participants"][0], twice["participants"][0]]
    assert (
        await client.post("/api/v1/conversations", headers=warm.auth, json=twice)
    ).status_code == 422
    r = await client.post(
        "/api/v1/conversations", headers=warm.auth, json=conversation_body(warm, state="paused")
    )
    assert r.status_code == 201 and r.json()["next_round_at"] is None
    cid = r.json()["id"]
    r = await client.post(f"/api/v1/conversations/{cid}/resume", headers=warm.auth)
    assert r.json()["state"] == "active" and r.json()["next_round_at"] is not None
    r = await client.post(f"/api/v1/conversations/{cid}/pause", headers=warm.auth)
    assert r.json()["state"] == "paused"
    rounds = (await client.get(f"/api/v1/conversations/{cid}/rounds", headers=warm.auth)).json()
    assert all(x["state"] not in ("planned", "running") for x in rounds)
