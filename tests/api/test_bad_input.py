"""Bad input gets a 4xx problem+json with a useful message, never a 500."""

from __future__ import annotations

import httpx

from tests.conftest import TenantFixture, make_token


async def test_malformed_json_wrong_types_unknown_fields_and_huge_bodies(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {
        "Authorization": f"Bearer {await make_token(tenant_a)}",
        "Content-Type": "application/json",
    }
    cases = [
        (b'{"name": "x", "scopes": ["read"]', 400, "Malformed JSON"),
        (b'{"name": 5, "scopes": "read"}', 422, "Validation failed"),
        (b'{"name": "x", "scopes": ["read"], "admin": true}', 422, "Validation failed"),
        (b"[]", 422, "Validation failed"),
        (b"", 422, "Validation failed"),
        (
            b'{"name": "x", "scopes": ["read"], "pad": "' + b"a" * 2_000_000 + b'"}',
            413,
            "Payload too large",
        ),
    ]
    for body, status, title in cases:
        r = await client.post("/api/v1/tokens", headers=auth, content=body)
        assert r.status_code == status, (body[:60], r.text[:300])
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["title"] == title and problem["status"] == status and problem["detail"]
    r = await client.post("/api/v1/tokens", headers=auth, content=b'{"name": 5, "scopes": "read"}')
    fields = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert ("body", "name") in fields and ("body", "scopes") in fields


async def test_bad_path_and_query_values(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    for path, status in (
        ("/api/v1/tokens/not-a-uuid", 422),
        ("/api/v1/audit-events?limit=-1", 422),
        ("/api/v1/audit-events?limit=abc", 422),
        ("/api/v1/nowhere", 404),
    ):
        r = await client.get(path, headers=auth)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.put("/api/v1/me", headers=auth)
    assert r.status_code == 405
