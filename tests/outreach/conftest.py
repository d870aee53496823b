"""A tenant ready to run campaigns against the simulator: connected numbers, fast cadence,
an outreach policy open at every hour, and simulated external contacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import GatewayWorld, TenantFixture, eventually, make_tenant, make_token, sql
from tests.conversations.conftest import FAST_SETTINGS, connect_number

OPEN_POLICY = {
    "weekdays": [0, 1, 2, 3, 4, 5, 6],
    "contact_start": "00:00",
    "contact_end": "00:00",
    "skip_holidays": False,
    "duplicate_limit": 1000,
    "validity_minutes": 600,
}


@dataclass
class CampaignWorld:
    tenant: TenantFixture
    auth: dict[str, str]
    numbers: list[dict[str, Any]]
    policy: dict[str, Any]
    contacts: list[dict[str, Any]] = field(default_factory=list)


def _digits(t: TenantFixture, salt: int) -> str:
    return str((int(t.tenant_id.hex[:8], 16) + salt) % 10_000_000).zfill(7)


async def campaign_world(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    *,
    numbers: int = 2,
    contacts: Sequence[dict[str, Any]] = (),
    settings: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
) -> CampaignWorld:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    r = await client.put(
        "/api/v1/settings", headers=auth, json={**FAST_SETTINGS, **(settings or {})}
    )
    assert r.status_code == 200, r.text
    nums = [
        await connect_number(gw, client, auth, f"N{i}", f"55119{_digits(t, i)}{i}")
        for i in range(numbers)
    ]
    r = await client.post(
        "/api/v1/outreach-policies",
        headers=auth,
        json={"name": "Aberta", **OPEN_POLICY, **(policy or {})},
    )
    assert r.status_code == 201, r.text
    world = CampaignWorld(t, auth, nums, r.json())
    for i, spec in enumerate(contacts):
        phone = f"+55219{_digits(t, 100 + i)}{i % 10}"
        sim = {k: v for k, v in spec.items() if k in ("behavior", "reads", "exists", "replyText")}
        await gw.sim.control.set_contact(phone.lstrip("+"), name=f"C{i}", **sim)
        body = {
            "phone": phone,
            "name": f"Pessoa {i}",
            "legal_basis": "consent",
            "provenance_source": "test",
        }
        r = await client.post("/api/v1/contacts", headers=auth, json=body)
        assert r.status_code == 201, r.text
        world.contacts.append(r.json())
    return world


async def draft(world: CampaignWorld, client: httpx.AsyncClient, name: str = "Camp") -> str:
    body = {
        "name": name,
        "policy_id": world.policy["id"],
        "variants": ["{Oi|Olá} {primeiro_nome}, novidades {hoje|esta semana}!", "E aí {nome}?"],
    }
    r = await client.post("/api/v1/campaigns", headers=world.auth, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def recipients(conninfo: str, campaign_id: str) -> list[dict[str, Any]]:
    rows = await sql(
        conninfo,
        "select phone_e164, status, reason, sender_id::text, reassigned_from::text, "
        "outgoing_id::text from campaign_recipients where campaign_id = %s order by phone_e164",
        campaign_id,
    )
    keys = ("phone", "status", "reason", "sender_id", "reassigned_from", "outgoing_id")
    return [dict(zip(keys, r, strict=True)) for r in rows]


async def sends(conninfo: str, tenant: TenantFixture) -> dict[str, list[tuple[str, str]]]:
    """Every message to a recipient the tenant sent (or may have; test sends aside):
    to → [(number id, status)]."""
    rows = await sql(
        conninfo,
        "select to_number, instance_id::text, status from outgoing_messages "
        "where tenant_id = %s and purpose = 'campaign' and turn >= 0 "
        "and status in ('sent', 'sending', 'unknown')",
        tenant.tenant_id,
    )
    out: dict[str, list[tuple[str, str]]] = {}
    for to, inst, status in rows:
        out.setdefault(to, []).append((inst, status))
    return out


async def wait_all(
    conninfo: str, campaign_id: str, statuses: set[str], timeout_s: float = 60
) -> list[dict[str, Any]]:
    async def done() -> list[dict[str, Any]] | None:
        rows = await recipients(conninfo, campaign_id)
        return rows if rows and all(r["status"] in statuses for r in rows) else None

    return await eventually(done, timeout_s=timeout_s, what=f"every recipient {statuses}")  # type: ignore[no-any-return]
