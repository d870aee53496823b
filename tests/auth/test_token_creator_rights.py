"""An API token acts for its creator: it is re-checked against the creator's current
membership and role on every request (removed → 401; demoted → only what the role grants)."""

from __future__ import annotations

import re
import uuid

import httpx

from mirage.auth.principal import ROLE_SCOPES, SCOPES
from mirage.auth.service import token_principal
from mirage.models.tenancy import Role
from tests.conftest import TenantFixture, make_token, sql


async def _set_role(conninfo: str, t: TenantFixture, role: str | None) -> None:
    if role is None:
        await sql(
            conninfo,
            "delete from memberships where tenant_id = %s and user_id = %s",
            t.tenant_id,
            t.user_id,
        )
    else:
        await sql(
            conninfo,
            "insert into memberships (id, tenant_id, user_id, role, created_at) "
            "values (%s, %s, %s, %s, now()) on conflict (tenant_id, user_id) "
            "do update set role = excluded.role",
            uuid.uuid4(),
            t.tenant_id,
            t.user_id,
            role,
        )


async def _statuses(client: httpx.AsyncClient, token: str) -> dict[str, int]:
    auth = {"Authorization": f"Bearer {token}"}
    read = await client.get("/api/v1/personas", headers=auth)
    # write: deleting a persona that does not exist is 404 when allowed, 403 when not.
    write = await client.delete(f"/api/v1/personas/{uuid.uuid4()}", headers=auth)
    admin = await client.post(
        "/api/v1/tokens", headers=auth, json={"name": "x", "scopes": ["read"]}
    )
    for r in (read, write, admin):
        assert r.headers["content-type"].startswith("application/"), r.text
    return {"read": read.status_code, "write": write.status_code, "admin": admin.status_code}


async def test_removed_creator_makes_the_token_401_and_restoring_brings_it_back(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)
    assert await _statuses(client, token) == {"read": 200, "write": 404, "admin": 201}

    await _set_role(bootstrap_conninfo, tenant_a, None)
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert "no longer a member" in r.json()["detail"]
    assert await _statuses(client, token) == {"read": 401, "write": 401, "admin": 401}

    await _set_role(bootstrap_conninfo, tenant_a, "owner")
    assert await _statuses(client, token) == {"read": 200, "write": 404, "admin": 201}


async def test_demoted_creator_limits_the_token_to_the_new_role(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)  # read, write, admin (created by an owner)

    await _set_role(bootstrap_conninfo, tenant_a, "viewer")
    assert await _statuses(client, token) == {"read": 200, "write": 403, "admin": 403}
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["scopes"] == ["read"] and me["role"] == "viewer"

    await _set_role(bootstrap_conninfo, tenant_a, "operator")
    assert await _statuses(client, token) == {"read": 200, "write": 404, "admin": 403}

    await _set_role(bootstrap_conninfo, tenant_a, "admin")
    assert await _statuses(client, token) == {"read": 200, "write": 404, "admin": 201}


async def test_a_deactivated_creator_makes_the_token_401(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a, ("read",))
    await sql(
        bootstrap_conninfo, "update users set is_active = false where id = %s", tenant_a.user_id
    )
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_effective_scopes_are_token_scopes_within_the_current_role() -> None:
    tenant, token_id = uuid.uuid4(), uuid.uuid4()
    subsets = [frozenset(s for i, s in enumerate(SCOPES) if mask >> i & 1) for mask in range(8)]
    for role in Role:
        for scopes in subsets:
            p = token_principal(
                tenant_id=tenant,
                token_id=token_id,
                created_by=None,
                token_scopes=scopes,
                creator_role=role,
                ip=None,
            )
            assert p.scopes == scopes & ROLE_SCOPES[role]
            assert role.at_least(p.role)
            assert all(p.can(s) == (s in scopes and s in ROLE_SCOPES[role]) for s in SCOPES)


def _api_routes() -> list[tuple[str, str]]:
    """Every /api/v1 route that takes an API token (discovered, so a new one is covered; a
    public route — accepting an invitation — says so in OpenAPI: ``security: []``), path ids
    filled in."""
    from fastapi.routing import APIRoute

    from mirage.app import API_ROUTERS

    found = []
    for router in API_ROUTERS:
        for route in router.routes:
            public = (
                (route.openapi_extra or {}).get("security") == []
                if isinstance(route, APIRoute)
                else False
            )
            if isinstance(route, APIRoute) and not public:
                path = re.sub(r"\{\w+(?::\w+)?\}", str(uuid.uuid4()), route.path)
                found += [(method, "/api/v1" + path) for method in sorted(route.methods)]
    assert len(found) > 10
    return found


async def test_every_api_route_refuses_a_token_whose_creator_left(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)
    await _set_role(bootstrap_conninfo, tenant_a, None)
    auth = {"Authorization": f"Bearer {token}"}
    for method, path in _api_routes():
        r = await client.request(method, path, headers=auth, json={})
        assert r.status_code == 401, (method, path, r.status_code)


async def test_every_api_write_route_refuses_a_demoted_creators_token(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)
    await _set_role(bootstrap_conninfo, tenant_a, "viewer")
    auth = {"Authorization": f"Bearer {token}"}
    for method, path in _api_routes():
        if method in ("GET", "HEAD"):
            continue
        r = await client.request(method, path, headers=auth, json={})
        # 422: the body was refused before any permission check could run; never a success.
        assert r.status_code in (403, 422), (method, path, r.status_code)
