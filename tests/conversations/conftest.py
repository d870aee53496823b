"""A tenant with two connected simulated numbers, two personas and fast test cadence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mirage.tenants.settings import SETTINGS_CHANGED_JOBS
from tests.conftest import GatewayWorld, TenantFixture, eventually, make_tenant, make_token, sql

PERSONA = {
    "style": "casual",
    "vocabulary": ["top", "massa"],
    "emoji_rate": 0.3,
    "typo_rate": 0.05,
    "min_length": 10,
    "max_length": 120,
    "greetings": {"morning": ["Bom dia!"], "afternoon": ["Boa tarde!"], "night": ["Boa noite!"]},
}

FAST_SETTINGS = {
    "timezone": "America/Sao_Paulo",
    "delay_min_s": 1,
    "delay_max_s": 2,
    "quiet_start": None,
    "quiet_end": None,
    "hourly_cap_per_number": 100,
    "daily_cap_per_number": 500,
    "burst_per_hour": 1000,
    "min_gap_seconds": 0,
    "reply_timeout_s": 60,
    "kill_switch": False,
}


@dataclass
class WarmPair:
    tenant: TenantFixture
    token: str
    numbers: list[dict[str, Any]]
    personas: list[dict[str, Any]]
    conninfo: str  # the bootstrap role's: to watch the tenant's jobs

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def connect_number(
    gw: GatewayWorld, client: httpx.AsyncClient, auth: dict[str, str], name: str, phone: str
) -> dict[str, Any]:
    r = await client.post("/api/v1/instances", headers=auth, json={"display_name": name})
    assert r.status_code == 201, r.text
    inst = r.json()
    await client.post(f"/api/v1/instances/{inst['id']}/connect", headers=auth)
    await gw.sim.control.scan(inst["gateway_name"], number=phone, profile_name=name)

    async def opened() -> dict[str, Any] | None:
        cur = (await client.get(f"/api/v1/instances/{inst['id']}", headers=auth)).json()
        return cur if cur["connected"] else None

    return await eventually(opened, what=f"{name} open")  # type: ignore[no-any-return]


async def put_settings(client: httpx.AsyncClient, w: WarmPair, body: dict[str, Any]) -> None:
    """Change the tenant's settings and wait until they have been applied to what was planned.

    A change defers jobs that re-plan rounds and re-decide deferred turns under the new rules
    (tenants.settings.SETTINGS_CHANGED_JOBS). Run late — after a conversation the test creates
    next — they would move its first round out of the quiet hours the test just set, and the
    turn the test waits for would never be decided: the cause of intermittent "no turn within
    60 s" failures. So a test acts only once they have run."""
    r = await client.put("/api/v1/settings", headers=w.auth, json=body)
    assert r.status_code == 200, r.text

    async def applied() -> bool:
        pending = await sql(
            w.conninfo,
            "select 1 from procrastinate_jobs where task_name = any(%s) "
            "and status in ('todo', 'doing') and args->>'tenant_id' = %s",
            list(SETTINGS_CHANGED_JOBS),
            str(w.tenant.tenant_id),
        )
        return not pending

    await eventually(applied, timeout_s=60, what="the settings change applied by its jobs")


@pytest.fixture
async def warm(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> AsyncIterator[WarmPair]:
    t = await make_tenant()
    token = await make_token(t)
    auth = {"Authorization": f"Bearer {token}"}
    suffix = t.tenant_id.hex[:6]
    digits = str(int(t.tenant_id.hex[:7], 16) % 10_000_000).zfill(7)
    numbers = [
        await connect_number(gw, client, auth, "Ana", f"55119{digits}1"),
        await connect_number(gw, client, auth, "Bia", f"55119{digits}2"),
    ]
    personas = []
    for name in (f"Carla {suffix}", f"Duda {suffix}"):
        r = await client.post("/api/v1/personas", headers=auth, json={"name": name, **PERSONA})
        assert r.status_code == 201, r.text
        personas.append(r.json())
    pair = WarmPair(t, token, numbers, personas, bootstrap_conninfo)
    await put_settings(client, pair, FAST_SETTINGS)
    yield pair
    # Stop this tenant's conversations: their rounds would keep the shared worker busy.
    for conv in (await client.get("/api/v1/conversations", headers=auth)).json():
        await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=auth)
    # And whatever it still has planned (a message deferred to a window's opening, past a
    # cap): its job would send it during a later test of this worker — under that test's
    # stand-in owner, counted by that test's gateway (tests/ops/test_scale_out.py saw one).
    await sql(
        bootstrap_conninfo,
        "update outgoing_messages set status = 'cancelled', last_error = 'the test ended' "
        "where tenant_id = %s and status = 'planned'",
        t.tenant_id,
    )


def conversation_body(w: WarmPair, **extra: Any) -> dict[str, Any]:
    return {
        "name": extra.pop("name", "Aquecimento"),
        "participants": [
            {"instance_id": w.numbers[0]["id"], "persona_id": w.personas[0]["id"]},
            {"instance_id": w.numbers[1]["id"], "persona_id": w.personas[1]["id"]},
        ],
        "topics": ["futebol"],
        "windows": {str(d): [["00:00", "00:00"]] for d in range(7)},
        **extra,
    }


async def start_now(conninfo: str, conversation_id: str) -> None:
    """Skip the first round's human-like start delay (5–25 s) in tests: the planned round
    and its start job are due now (a round planned later would otherwise wait for its time).

    The first round is planned by the planner, which may not have run yet on a loaded
    machine: wait (bounded) until the round and its start job exist, so they are moved, not
    missed; a conversation with no round to plan keeps the old no-op behaviour."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        ready = await sql(
            conninfo,
            "select 1 from rounds r join procrastinate_jobs j on j.args->>'round_id' = r.id::text "
            "where r.conversation_id = %s and r.state = 'planned' and j.status = 'todo' "
            "and j.task_name = 'conversations.start_round'",
            conversation_id,
        )
        if ready:
            break
        await asyncio.sleep(0.05)
    await move_now(conninfo, conversation_id)


async def move_now(conninfo: str, conversation_id: str) -> None:
    """The conversation's planned round, and its start job, due now (no wait: nothing
    happens when it has none yet)."""
    await sql(
        conninfo,
        "update rounds set planned_at = now() where state = 'planned' and conversation_id = %s",
        conversation_id,
    )
    await sql(
        conninfo,
        "update procrastinate_jobs set scheduled_at = now() where status = 'todo' "
        "and task_name = 'conversations.start_round' and args->>'round_id' in "
        "(select id::text from rounds where conversation_id = %s)",
        conversation_id,
    )
