"""/api/v1/outreach-policies: CRUD, every bound a 422 problem naming the field, tighten-only
against the tenant's own limits, names, roles, audit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantFixture, make_tenant, make_token, sql

URL = "/api/v1/outreach-policies"


async def _auth(
    t: TenantFixture, scopes: tuple[str, ...] = ("read", "write", "admin")
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(t, scopes)}"}


async def test_create_with_defaults_read_update_delete(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = await _auth(tenant_a)
    r = await client.post(URL, headers=auth, json={"name": "  Horário   comercial "})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["name"] == "Horário comercial"
    # The defaults: the safe product default (Mon–Fri 08–18 recipient-local, no holidays),
    # the number's own caps, a 4-hour validity, the duplicate guard, a pt-BR confirmation.
    assert p["weekdays"] == [0, 1, 2, 3, 4]
    assert p["dayparts"] == ["night", "morning", "afternoon", "evening"]
    assert (p["contact_start"], p["contact_end"], p["skip_holidays"]) == ("08:00", "18:00", True)
    assert p["number_hourly_cap"] is None and p["campaign_daily_cap"] is None
    assert (p["validity_minutes"], p["duplicate_limit"], p["duplicate_window_minutes"]) == (
        240,
        3,
        60,
    )
    assert "VOLTAR" in p["confirmation_text"]

    listed = (await client.get(URL, headers=auth)).json()
    assert [x["id"] for x in listed] == [p["id"]]
    assert (await client.get(f"{URL}/{p['id']}", headers=auth)).json() == p

    body = {
        "name": "Manhãs",
        "number_hourly_cap": 10,
        "number_daily_cap": 80,
        "campaign_hourly_cap": 50,
        "campaign_daily_cap": 400,
        "min_gap_seconds": 90,
        "weekdays": [4, 0, 2, 2],
        "dayparts": ["afternoon", "morning"],
        "contact_start": "09:30",
        "contact_end": "17:00",
        "skip_holidays": False,
        "optout_keywords": ["chega", "Não quero", "NAO QUERO", "parar", "  "],
        "confirmation_text": " Ok, não enviaremos mais. ",
        "validity_minutes": 90,
        "duplicate_limit": 5,
        "duplicate_window_minutes": 30,
    }
    r = await client.put(f"{URL}/{p['id']}", headers=auth, json=body)
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["weekdays"] == [0, 2, 4] and q["dayparts"] == ["morning", "afternoon"]
    assert (q["contact_start"], q["contact_end"]) == ("09:30", "17:00")
    # Keywords: blanks dropped, duplicates folded (case, accents), built-ins left out.
    assert q["optout_keywords"] == ["chega", "Não quero"]
    assert q["confirmation_text"] == "Ok, não enviaremos mais."
    assert q["updated_at"] >= p["updated_at"]

    assert (await client.delete(f"{URL}/{p['id']}", headers=auth)).status_code == 204
    assert (await client.get(f"{URL}/{p['id']}", headers=auth)).status_code == 404
    actions = await sql(
        bootstrap_conninfo,
        "select action from audit_events where tenant_id = %s and target_type = "
        "'outreach_policy' order by created_at",
        tenant_a.tenant_id,
    )
    assert [a for (a,) in actions] == [
        "outreach_policy.create",
        "outreach_policy.update",
        "outreach_policy.delete",
    ]


BAD: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 81}, "name"),
    ({"number_hourly_cap": 0}, "number_hourly_cap"),
    ({"number_daily_cap": -3}, "number_daily_cap"),
    ({"campaign_hourly_cap": 0}, "campaign_hourly_cap"),
    ({"campaign_daily_cap": "many"}, "campaign_daily_cap"),
    ({"min_gap_seconds": 86401}, "min_gap_seconds"),
    ({"weekdays": []}, "weekdays"),
    ({"weekdays": [7]}, "weekdays"),
    ({"dayparts": []}, "dayparts"),
    ({"dayparts": ["noon"]}, "dayparts"),
    ({"contact_start": "18:00", "contact_end": "08:00"}, "end must come after the start"),
    ({"contact_start": "25:00"}, "contact_start"),
    ({"contact_start": "08:00+03:00"}, "without a time zone"),
    ({"dayparts": ["night"]}, "overlaps the contact hours"),
    ({"optout_keywords": ["<script>"]}, "letters, digits and spaces"),
    ({"optout_keywords": ["x" * 41]}, "letters, digits and spaces"),
    ({"optout_keywords": ["k"] * 51}, "optout_keywords"),
    ({"confirmation_text": "   "}, "write the message sent after an opt-out"),
    ({"confirmation_text": "x" * 501}, "confirmation_text"),
    ({"validity_minutes": 1}, "validity_minutes"),
    ({"validity_minutes": 10081}, "validity_minutes"),
    ({"duplicate_limit": 0}, "duplicate_limit"),
    ({"duplicate_window_minutes": 0}, "duplicate_window_minutes"),
    ({"skip_holidays": "perhaps"}, "skip_holidays"),
    ({"surprise": 1}, "surprise"),
]


@pytest.mark.parametrize(("extra", "says"), BAD)
async def test_bad_input_is_a_problem_naming_what_is_wrong(
    client: httpx.AsyncClient, tenant_a: TenantFixture, extra: dict[str, Any], says: str
) -> None:
    auth = await _auth(tenant_a)
    r = await client.post(URL, headers=auth, json={"name": "Ok", **extra})
    assert r.status_code == 422, (extra, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    assert says in r.text, r.text
    assert (await client.get(URL, headers=auth)).json() == []  # nothing was stored


async def test_a_policy_can_only_tighten_the_tenants_limits(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = await _auth(tenant_a)
    limits = (await client.get("/api/v1/settings", headers=auth)).json()
    hourly, daily = limits["hourly_cap_per_number"], limits["daily_cap_per_number"]
    gap, burst = limits["min_gap_seconds"], limits["burst_per_hour"]
    r = await client.post(
        URL,
        headers=auth,
        json={
            "name": "Looser",
            "number_hourly_cap": hourly + 1,
            "number_daily_cap": daily + 1,
            "min_gap_seconds": max(gap - 1, 0),
            "campaign_hourly_cap": burst + 1,
        },
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    fields = [e["field"] for e in problem["errors"]]
    assert (
        fields
        == [
            "number_hourly_cap",
            "number_daily_cap",
            "min_gap_seconds",
            "campaign_hourly_cap",
        ]
        if gap > 0
        else ["number_hourly_cap", "number_daily_cap", "campaign_hourly_cap"]
    )
    first = problem["errors"][0]["detail"]
    assert f"at most {hourly}" in first and "only tighten" in first
    assert problem["detail"] == first
    # Equal to the tenant's own is fine (it tightens nothing, loosens nothing).
    r = await client.post(
        URL,
        headers=auth,
        json={
            "name": "Same",
            "number_hourly_cap": hourly,
            "number_daily_cap": daily,
            "min_gap_seconds": gap,
            "campaign_hourly_cap": burst,
        },
    )
    assert r.status_code == 201, r.text
    # An update is held to the same rule.
    r = await client.put(
        f"{URL}/{r.json()['id']}",
        headers=auth,
        json={"name": "Same", "number_daily_cap": daily + 50},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "number_daily_cap"


async def test_names_are_unique_per_tenant_whatever_the_case(
    client: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    auth = await _auth(tenant_a)
    first = await client.post(URL, headers=auth, json={"name": "Padrão"})
    assert first.status_code == 201
    r = await client.post(URL, headers=auth, json={"name": "PADRÃO"})
    assert r.status_code == 409 and r.json()["field"] == "name"
    other = await client.post(URL, headers=auth, json={"name": "Outra"})
    r = await client.put(f"{URL}/{other.json()['id']}", headers=auth, json={"name": "padrão"})
    assert r.status_code == 409
    # Renaming a policy to its own name (another case) is no conflict.
    r = await client.put(f"{URL}/{first.json()['id']}", headers=auth, json={"name": "padrão"})
    assert r.status_code == 200
    # Another tenant may use the same name, and sees none of A's policies.
    auth_b = await _auth(tenant_b)
    assert (await client.post(URL, headers=auth_b, json={"name": "Padrão"})).status_code == 201
    assert [p["name"] for p in (await client.get(URL, headers=auth_b)).json()] == ["Padrão"]


async def test_only_admins_change_policies(client: httpx.AsyncClient) -> None:
    owner = await make_tenant("owner")
    created = await client.post(URL, headers=await _auth(owner), json={"name": "P"})
    pid = created.json()["id"]
    operator_token = await _auth(owner, ("read", "write"))
    assert (await client.post(URL, headers=operator_token, json={"name": "Q"})).status_code == 403
    r = await client.put(f"{URL}/{pid}", headers=operator_token, json={"name": "Q"})
    assert r.status_code == 403
    assert (await client.delete(f"{URL}/{pid}", headers=operator_token)).status_code == 403
    reader = await _auth(owner, ("read",))
    assert (await client.get(URL, headers=reader)).status_code == 200
    assert (await client.get(f"{URL}/{pid}", headers=reader)).status_code == 200
    assert (await client.get(URL)).status_code == 401
