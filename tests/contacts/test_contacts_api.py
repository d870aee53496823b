"""/api/v1/contacts and /api/v1/tags: CRUD, validation (4xx problem+json, never 500), roles,
filters, keyset pagination, bulk tagging."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import TenantFixture, make_tenant, make_token

pytestmark = pytest.mark.usefixtures("database")


def contact_body(phone: str, **extra: Any) -> dict[str, Any]:
    return {
        "phone": phone,
        "legal_basis": "consent",
        "provenance_source": "formulário do site",
        **extra,
    }


async def _auth(
    t: TenantFixture, scopes: tuple[str, ...] = ("read", "write", "admin")
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(t, scopes)}"}


async def test_crud_roundtrip(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    auth = await _auth(tenant_a)
    r = await client.post(
        "/api/v1/contacts",
        headers=auth,
        json=contact_body(
            "(11) 8765-4321",
            name="  Ana   Souza ",
            email="Ana@Example.COM",
            language="pt-BR",
            custom_fields={"plano": "ouro", "pontos": 12},
            tags=["VIP", "sp", "vip"],
        ),
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["phone_e164"] == "+5511987654321"  # ninth digit restored
    assert c["name"] == "Ana Souza" and c["email"] == "ana@example.com"
    assert c["consent_state"] == "granted" and c["opted_out_at"] is None
    assert c["suppressed"] is False and c["wa_jid"] is None
    assert {t["name"] for t in c["tags"]} == {"sp", "VIP"}

    dup = await client.post("/api/v1/contacts", headers=auth, json=contact_body("11987654321"))
    assert dup.status_code == 409 and dup.headers["content-type"] == "application/problem+json"

    r = await client.patch(
        f"/api/v1/contacts/{c['id']}",
        headers=auth,
        json={"name": "Ana S.", "tags": ["sp"], "legal_basis": "legitimate_interest",
              "li_assessment_ref": "LIA-2026-01"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Ana S." and [t["name"] for t in r.json()["tags"]] == ["sp"]
    assert r.json()["legal_basis"] == "legitimate_interest"

    events = await client.get(f"/api/v1/contacts/{c['id']}/consent-events", headers=auth)
    assert [e["kind"] for e in events.json()] == [
        "basis_recorded",
        "consent_granted",
        "basis_recorded",
    ]
    got = await client.get(f"/api/v1/contacts/{c['id']}", headers=auth)
    assert got.status_code == 200 and got.json()["custom_fields"] == {"plano": "ouro", "pontos": 12}

    tags = (await client.get("/api/v1/tags", headers=auth)).json()
    assert {t["name"]: t["contacts"] for t in tags} == {"sp": 1, "VIP": 0}

    assert (await client.delete(f"/api/v1/contacts/{c['id']}", headers=auth)).status_code == 204
    assert (await client.get(f"/api/v1/contacts/{c['id']}", headers=auth)).status_code == 404
    assert (await client.delete(f"/api/v1/contacts/{c['id']}", headers=auth)).status_code == 404


BAD_CONTACTS: list[dict[str, Any]] = [
    contact_body(""),
    contact_body("abc"),
    contact_body("123"),
    contact_body("+999 1234 5678"),
    contact_body("9" * 200),
    contact_body("11\x0098765-4321"),
    contact_body("١١٩٨٧٦٥٤٣٢١"),
    contact_body("11987654321", legal_basis="because"),
    contact_body("11987654321", legal_basis="legitimate_interest"),  # no LIA reference
    contact_body("11987654321", provenance_source="   "),
    contact_body("11987654321", provenance_at="2026-01-01T10:00:00"),  # naive
    contact_body("11987654321", email="not-an-email"),
    contact_body("11987654321", email="ä@ö.de"),
    contact_body("11987654321", name="x" * 121),
    contact_body("11987654321", name="a\x00b"),
    contact_body("11987654321", language="português do brasil"),
    contact_body("11987654321", custom_fields={"1bad": "x"}),
    contact_body("11987654321", custom_fields={"k": "x" * 501}),
    contact_body("11987654321", custom_fields={"k": {"nested": 1}}),
    contact_body("11987654321", custom_fields={f"k{i}": i for i in range(51)}),
    contact_body("11987654321", custom_fields={"k": 1e300}),
    contact_body("11987654321", tags=["x" * 41]),
    contact_body("11987654321", unknown=1),
    {"phone": "11987654321"},
    {"phone": 11987654321, "legal_basis": "consent", "provenance_source": "x"},
]


async def test_bad_input_is_4xx_problem_json(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = await _auth(tenant_a)
    for body in BAD_CONTACTS:
        r = await client.post("/api/v1/contacts", headers=auth, json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"]
    r = await client.post("/api/v1/contacts", headers=auth, json=contact_body("abc"))
    assert r.json().get("reason") in ("invalid_characters", None)
    r = await client.post("/api/v1/contacts", headers=auth, content=b"{not json")
    assert r.status_code == 422
    hostile_queries = [
        {"q": "%"},
        {"q": "_"},
        {"q": "\\"},
        {"q": "'; drop table contacts; --"},
        {"q": "x" * 101},
        {"q": "a\x00b"},
        {"tag_id": "not-a-uuid"},
        {"basis": "x"},
        {"consent": "maybe"},
        {"opted_out": "perhaps"},
        {"cursor": "!!!"},
        {"cursor": "W10"},  # "[]" base64
        {"cursor": "x" * 300},
        {"limit": "0"},
        {"limit": "100000"},
    ]
    for params in hostile_queries:
        r = await client.get("/api/v1/contacts", headers=auth, params=params)
        assert r.status_code in (200, 422), (params, r.status_code, r.text)
        if r.status_code == 422:
            assert r.headers["content-type"] == "application/problem+json"
    for bad in ({"name": ""}, {"color": "red"}, {"name": "a", "color": "#12345g"}, {"x": 1}):
        r = await client.post("/api/v1/tags", headers=auth, json=bad)
        assert r.status_code == 422, (bad, r.text)
    r = await client.post(
        f"/api/v1/tags/{uuid.uuid4()}/apply", headers=auth, json={"contact_ids": [], "filter": {}}
    )
    assert r.status_code == 422


async def test_viewer_reads_but_cannot_write(client: httpx.AsyncClient) -> None:
    owner = await make_tenant()
    owner_auth = await _auth(owner)
    r = await client.post("/api/v1/contacts", headers=owner_auth, json=contact_body("21987654321"))
    cid = r.json()["id"]
    reader = await _auth(owner, ("read",))
    assert (await client.get("/api/v1/contacts", headers=reader)).status_code == 200
    assert (await client.get(f"/api/v1/contacts/{cid}", headers=reader)).status_code == 200
    writes = [
        ("POST", "/api/v1/contacts", contact_body("21987654322")),
        ("PATCH", f"/api/v1/contacts/{cid}", {"name": "x"}),
        ("DELETE", f"/api/v1/contacts/{cid}", None),
        ("POST", f"/api/v1/contacts/{cid}/consent", {"action": "revoke"}),
        ("POST", "/api/v1/tags", {"name": "x"}),
        ("POST", "/api/v1/suppressions", {"phone": "21987654321"}),
        ("POST", "/api/v1/data-requests/find", {"phone": "21987654321"}),
        ("POST", "/api/v1/data-requests/export", {"phone": "21987654321"}),
        ("POST", "/api/v1/data-requests/erase", {"phone": "21987654321", "confirm": True}),
    ]
    for method, url, body in writes:
        r = await client.request(method, url, headers=reader, json=body)
        assert r.status_code == 403, (method, url, r.status_code)
    # A viewer member's token has only what the viewer role grants.
    viewer = await make_tenant("viewer")
    vauth = await _auth(viewer)
    r = await client.post("/api/v1/contacts", headers=vauth, json=contact_body("21987654321"))
    assert r.status_code == 403


async def test_filters_and_text_search(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    auth = await _auth(tenant_a)
    made = {}
    for phone, name, basis, extra in [
        ("11911110001", "Maria Silva", "consent", {}),
        ("11911110002", "João Pereira", "consent", {"email": "joao@example.org"}),
        ("11911110003", "Maria_Underscore", "legitimate_interest", {"li_assessment_ref": "L1"}),
        ("+351912345678", "Zé 100%", "consent", {}),
    ]:
        r = await client.post(
            "/api/v1/contacts",
            headers=auth,
            json=contact_body(phone, name=name, legal_basis=basis, **extra),
        )
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]

    async def names(**params: Any) -> set[str]:
        r = await client.get("/api/v1/contacts", headers=auth, params=params)
        assert r.status_code == 200, r.text
        return {c["name"] for c in r.json()["items"]}

    assert await names(q="maria") == {"Maria Silva", "Maria_Underscore"}
    assert await names(q="MARIA_") == {"Maria_Underscore"}  # _ is literal, not a wildcard
    assert await names(q="100%") == {"Zé 100%"}
    assert await names(q="joao@") == {"João Pereira"}
    assert await names(q="(11) 91111-0002") == {"João Pereira"}  # a whole phone: exact
    # Digits: a prefix of the number, with or without the country code (trunk 0 ignored).
    assert await names(q="11 9111") == {"Maria Silva", "João Pereira", "Maria_Underscore"}
    assert await names(q="011 91111-000") == {"Maria Silva", "João Pereira", "Maria_Underscore"}
    assert await names(q="+351 91") == {"Zé 100%"}
    # Words: each must start a word of the name (first, second or last) or the e-mail.
    assert await names(q="silv") == {"Maria Silva"}
    assert await names(q="pereira joão") == {"João Pereira"}
    assert await names(q="maria pereira") == set()
    # Accents folded both ways: people type "joao" for "João".
    assert await names(q="joao") == {"João Pereira"}
    assert await names(q="ZÉ") == {"Zé 100%"}
    assert await names(q="ze") == {"Zé 100%"}
    assert await names(q="\U0010ffff") == set()  # no upper bound: still a valid query
    assert await names(basis="legitimate_interest") == {"Maria_Underscore"}
    assert await names(consent="none") == {"Maria_Underscore"}
    r = await client.post(
        f"/api/v1/contacts/{made['Maria Silva']}/consent", headers=auth, json={"action": "opt_out"}
    )
    assert r.status_code == 200 and r.json()["opted_out_at"] and r.json()["suppressed"]
    assert await names(opted_out=True) == {"Maria Silva"}
    assert "Maria Silva" not in await names(opted_out=False)

    # Bulk tag over a filter, then remove by ids; counts follow.
    body = {"name": "Marias", "color": "#AA00ff"}
    tag = (await client.post("/api/v1/tags", headers=auth, json=body)).json()
    assert tag["color"] == "#aa00ff"
    r = await client.post(
        f"/api/v1/tags/{tag['id']}/apply", headers=auth, json={"filter": {"q": "maria"}}
    )
    assert r.json() == {"affected": 2}
    r = await client.post(
        f"/api/v1/tags/{tag['id']}/apply", headers=auth, json={"filter": {"q": "maria"}}
    )
    assert r.json() == {"affected": 0}  # already tagged
    assert await names(tag_id=tag["id"]) == {"Maria Silva", "Maria_Underscore"}
    assert (await client.get(f"/api/v1/tags/{tag['id']}", headers=auth)).json()["contacts"] == 2
    r = await client.post(
        f"/api/v1/tags/{tag['id']}/remove",
        headers=auth,
        json={"contact_ids": [made["Maria Silva"]]},
    )
    assert r.json() == {"affected": 1}
    assert await names(tag_id=tag["id"]) == {"Maria_Underscore"}
    dup = await client.post("/api/v1/tags", headers=auth, json={"name": "marias"})
    assert dup.status_code == 409
    r = await client.patch(f"/api/v1/tags/{tag['id']}", headers=auth, json={"name": "Todas"})
    assert r.status_code == 200 and r.json()["name"] == "Todas"
    assert (await client.delete(f"/api/v1/tags/{tag['id']}", headers=auth)).status_code == 204


async def test_keyset_pagination_is_stable_under_inserts(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = await _auth(tenant_a)
    original = []
    for i in range(7):
        r = await client.post(
            "/api/v1/contacts", headers=auth, json=contact_body(f"3199100{i:04d}")
        )
        original.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    extra = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/contacts", headers=auth, params=params)).json()
        seen += [c["id"] for c in page["items"]]
        # New contacts arrive between pages: they sort before the cursor, never into a page.
        for _ in range(2):
            r = await client.post(
                "/api/v1/contacts", headers=auth, json=contact_body(f"3199200{extra:04d}")
            )
            assert r.status_code == 201
            extra += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(original))  # newest first, each exactly once
