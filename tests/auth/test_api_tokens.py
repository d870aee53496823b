"""/api/v1: bearer tokens (hashed, scoped, expiring, revocable) and /me."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from mirage.auth.service import _encode_token
from tests.conftest import TenantFixture, make_token, sql


async def test_me_with_token(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    token = await make_token(tenant_a, ("read",))
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"]["id"] == str(tenant_a.tenant_id)
    assert body["kind"] == "token" and body["scopes"] == ["read"] and body["role"] == "viewer"
    assert body["user"]["email"] == tenant_a.email
    assert r.headers["RateLimit-Limit"] and r.headers["RateLimit-Remaining"]
    assert r.headers["x-request-id"]


async def test_missing_bad_and_forged_tokens_are_401(
    client: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    token_b = await make_token(tenant_b, ("read",))
    # Claim tenant A in the prefix but carry B's secret: the hash never matches under A.
    forged = _encode_token(tenant_a.tenant_id, token_b[4 + 23 :])
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": "Bearer mrg_x_y"},
    ):
        r = await client.get("/api/v1/me", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 401 and r.json()["detail"]


async def test_token_lifecycle_and_storage(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    admin = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {admin}"}
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    r = await client.post(
        "/api/v1/tokens",
        headers=auth,
        json={"name": "ci", "scopes": ["read"], "expires_at": expires},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["token"]
    assert secret.startswith("mrg_") and created["hint"] == secret[-6:]

    # Hashed at rest: the secret itself is nowhere in the table.
    with psycopg.connect(bootstrap_conninfo) as conn:
        stored = conn.execute(
            "select token_hash from api_tokens where id = %s", (created["id"],)
        ).fetchone()[0]  # type: ignore[index]
    assert secret not in stored and len(stored) == 64

    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200
    listed = (await client.get("/api/v1/tokens", headers=auth)).json()
    row = next(t for t in listed if t["id"] == created["id"])
    assert row["last_used_at"] is not None and "token" not in row

    # A read-only token cannot manage tokens.
    r = await client.post(
        "/api/v1/tokens",
        headers={"Authorization": f"Bearer {secret}"},
        json={"name": "x", "scopes": ["read"]},
    )
    assert r.status_code == 403

    assert (await client.delete(f"/api/v1/tokens/{created['id']}", headers=auth)).status_code == 204
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401


async def test_expired_token_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a, ("read",))
    await sql(
        bootstrap_conninfo,
        "update api_tokens set expires_at = now() - interval '1 minute' where tenant_id = %s",
        tenant_a.tenant_id,
    )
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_token_cannot_exceed_creator_or_use_unknown_scopes(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    for body, status in (
        ({"name": "x", "scopes": ["root"]}, 422),
        ({"name": "x", "scopes": []}, 422),
        ({"name": "", "scopes": ["read"]}, 422),
        ({"name": "x", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}, 422),
        ({"name": "x", "scopes": ["read"], "expires_at": "2030-01-01T00:00:00"}, 422),
        ({"name": "x", "scopes": ["read"], "extra": 1}, 422),
    ):
        r = await client.post("/api/v1/tokens", headers=auth, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
