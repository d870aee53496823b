"""/api/v1/campaigns (drafts) and their preview: rendered for real contacts, audience counted,
recipients the engine would refuse marked, bad templates and references refused."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantFixture, make_token, sql

URL = "/api/v1/campaigns"


async def _auth(
    t: TenantFixture, scopes: tuple[str, ...] = ("read", "write", "admin")
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(t, scopes)}"}


async def _contact(
    client: httpx.AsyncClient, auth: dict[str, str], phone: str, name: str | None, **extra: Any
) -> dict[str, Any]:
    body = {"phone": phone, "legal_basis": "consent", "provenance_source": "test", **extra}
    if name is not None:
        body["name"] = name
    r = await client.post("/api/v1/contacts", headers=auth, json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _world(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    """A policy, and contacts: two VIPs (one in Recife, one without a city), a VIP who is
    suppressed, a VIP who revoked consent, a lead; tags vip, lead, no."""
    policy = (
        await client.post("/api/v1/outreach-policies", headers=auth, json={"name": "P"})
    ).json()
    ana = await _contact(
        client,
        auth,
        "+5581987650001",
        "Ana Souza",
        tags=["vip"],
        custom_fields={"cidade": "Recife"},
    )
    bia = await _contact(client, auth, "+5511987650002", "Bia", tags=["vip"])
    cau = await _contact(client, auth, "+5521987650003", "Caio", tags=["vip"])
    r = await client.post(
        "/api/v1/suppressions", headers=auth, json={"phone": "+5521987650003", "reason": "manual"}
    )
    assert r.status_code == 201, r.text
    dani = await _contact(client, auth, "+5531987650004", "Dani", tags=["vip", "no"])
    edu = await _contact(client, auth, "+5541987650005", "Edu", tags=["vip"])
    r = await client.post(
        f"/api/v1/contacts/{edu['id']}/consent", headers=auth, json={"action": "revoke"}
    )
    assert r.status_code in (200, 201), r.text
    await _contact(client, auth, "+5551987650006", "Fabi", tags=["lead"])
    tags = {t["name"]: t["id"] for t in (await client.get("/api/v1/tags", headers=auth)).json()}
    return {
        "policy": policy,
        "tags": tags,
        "ana": ana,
        "bia": bia,
        "cau": cau,
        "dani": dani,
        "edu": edu,
    }


async def test_draft_crud_and_its_preview(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = await _auth(tenant_a)
    w = await _world(client, auth)
    body = {
        "name": "Novidades",
        "policy_id": w["policy"]["id"],
        "variants": [
            "{Oi|Olá} {primeiro_nome}! Novidades em {cidade:sua cidade}.",
            "Bom dia, {nome}",
        ],
        "include_tag_ids": [w["tags"]["vip"]],
        "exclude_tag_ids": [w["tags"]["no"]],
    }
    r = await client.post(URL, headers=auth, json=body)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["state"] == "draft" and c["variants"][1] == "Bom dia, {nome}"

    p = (await client.get(f"{URL}/{c['id']}/preview?limit=10", headers=auth)).json()
    # vip minus "no": Ana, Bia, Caio (suppressed), Edu (revoked) — 4; Caio's suppression is a
    # manual block (no opt-out on the contact), so only Edu is not counted as reachable.
    assert (p["audience"], p["reachable"], p["more"]) == (4, 3, False)
    by_name = {s["name"]: s for s in p["samples"]}
    assert set(by_name) == {"Ana Souza", "Bia", "Caio", "Edu"}
    ana = by_name["Ana Souza"]
    assert ana["text"] in (
        "Oi Ana! Novidades em Recife.",
        "Olá Ana! Novidades em Recife.",
        "Bom dia, Ana Souza",
    )
    assert ana["skipped"] is None and ana["missing"] == []
    assert "sua cidade" in by_name["Bia"]["text"] or by_name["Bia"]["text"] == "Bom dia, Bia"
    assert by_name["Caio"]["skipped"] == "suppressed"
    assert by_name["Edu"]["skipped"] == "consent_revoked"
    assert [v["distinct_texts"] for v in p["variants"]] == [2, 1]
    assert p["variants"][0]["variables"] == ["cidade", "primeiro_nome"]
    assert p["distinct_texts"] == 3 and p["duplicate_warning"] is False  # 3 texts × 3 ≥ 3
    # The same campaign renders the same texts every time (its sends will too).
    again = (await client.get(f"{URL}/{c['id']}/preview?limit=10", headers=auth)).json()
    assert again["samples"] == p["samples"]

    body["variants"] = ["Só um texto para todos, {primeiro_nome:}"]
    r = await client.put(f"{URL}/{c['id']}", headers=auth, json=body)
    assert r.status_code == 200, r.text
    p = (await client.get(f"{URL}/{c['id']}/preview", headers=auth)).json()
    assert p["distinct_texts"] == 1 and p["duplicate_warning"] is False  # 1 × 3 ≥ 3 reachable
    assert len(p["samples"]) == 4

    listed = (await client.get(URL, headers=auth)).json()
    assert [x["id"] for x in listed] == [c["id"]]
    # A policy in use cannot be deleted.
    r = await client.delete(f"/api/v1/outreach-policies/{w['policy']['id']}", headers=auth)
    assert r.status_code == 409
    # Only a draft can change.
    await sql(bootstrap_conninfo, "update campaigns set state = 'running' where id = %s", c["id"])
    assert (await client.put(f"{URL}/{c['id']}", headers=auth, json=body)).status_code == 409
    assert (await client.delete(f"{URL}/{c['id']}", headers=auth)).status_code == 409
    await sql(bootstrap_conninfo, "update campaigns set state = 'draft' where id = %s", c["id"])
    assert (await client.delete(f"{URL}/{c['id']}", headers=auth)).status_code == 204
    assert (await client.get(f"{URL}/{c['id']}", headers=auth)).status_code == 404
    actions = await sql(
        bootstrap_conninfo,
        "select action from audit_events where tenant_id = %s and target_type = 'campaign' "
        "order by created_at",
        tenant_a.tenant_id,
    )
    assert [a for (a,) in actions] == ["campaign.create", "campaign.update", "campaign.delete"]


async def test_preview_before_saving_and_for_chosen_contacts(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = await _auth(tenant_a)
    w = await _world(client, auth)
    r = await client.post(
        f"{URL}/preview",
        headers=auth,
        json={
            "variants": ["Oi {primeiro_nome}, e {bairro}?"],
            "contact_ids": [w["bia"]["id"]],
            "policy_id": w["policy"]["id"],
        },
    )
    assert r.status_code == 200, r.text
    p = r.json()
    (only,) = p["samples"]
    assert only["text"] == "Oi Bia, e ?" and only["missing"] == ["bairro"]
    # Every contact (no tags given): 6, of whom 5 may be messaged (Edu revoked); one text and
    # a duplicate limit of 3 cannot cover 5: the guard would stretch the campaign.
    assert (p["audience"], p["reachable"], p["duplicate_warning"]) == (6, 5, True)


BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"variants": []}, 422, "variants"),
    ({"variants": ["   "]}, 422, "a variant is empty"),
    ({"variants": ["x"] * 11}, 422, "variants"),
    ({"variants": ["x" * 4097]}, 422, "at most 4096"),
    ({"variants": ["ok", "Oi {Nome Completo}"]}, 422, "variant 2"),
    ({"variants": ["Oi {a|b"]}, 422, "never closed"),
    ({"name": " "}, 422, "give the campaign a name"),
    ({"policy_id": "00000000-0000-0000-0000-000000000000"}, 422, "existing sending policy"),
    ({"include_tag_ids": ["00000000-0000-0000-0000-000000000000"]}, 422, "unknown tag"),
    ({"surprise": True}, 422, "surprise"),
]


async def test_bad_drafts_are_refused_with_what_and_where(
    client: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    auth = await _auth(tenant_a)
    policy = (
        await client.post("/api/v1/outreach-policies", headers=auth, json={"name": "P"})
    ).json()
    base = {"name": "C", "policy_id": policy["id"], "variants": ["Oi {nome}"]}
    for extra, status, says in BAD:
        r = await client.post(URL, headers=auth, json={**base, **extra})
        assert r.status_code == status and says in r.text, (extra, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.post(URL, headers=auth, json={**base, "variants": ["ok", "Oi {a|b"]})
    problem = r.json()
    assert (problem["variant"], problem["position"]) == (1, 3)
    # Another tenant's policy is no policy here.
    other = (
        await client.post(
            "/api/v1/outreach-policies", headers=await _auth(tenant_b), json={"name": "B"}
        )
    ).json()
    r = await client.post(URL, headers=auth, json={**base, "policy_id": other["id"]})
    assert r.status_code == 422
    assert (await client.post(URL, headers=auth, json=base)).status_code == 201
    assert (await client.post(URL, headers=auth, json={**base, "name": "c"})).status_code == 409
    assert (await client.get(URL, headers=await _auth(tenant_b))).json() == []


async def test_roles(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    auth = await _auth(tenant_a)
    policy = (
        await client.post("/api/v1/outreach-policies", headers=auth, json={"name": "P"})
    ).json()
    body = {"name": "C", "policy_id": policy["id"], "variants": ["Oi"]}
    reader = await _auth(tenant_a, ("read",))
    assert (await client.post(URL, headers=reader, json=body)).status_code == 403
    r = await client.post(f"{URL}/preview", headers=reader, json={"variants": ["Oi"]})
    assert r.status_code == 200
    operator = await _auth(tenant_a, ("read", "write"))
    assert (await client.post(URL, headers=operator, json=body)).status_code == 201
