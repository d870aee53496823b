"""Dashboard sign-in, sessions, CSRF, rate limits and the tenant switcher (over HTTP)."""

from __future__ import annotations

import httpx
import psycopg

from mirage.models.tenancy import Role
from tests.conftest import TenantFixture, make_tenant, sign_in


async def test_sign_in_shows_dashboard_and_sign_out_revokes(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    csrf = await sign_in(client, tenant_a)
    cookie = client.cookies.get("mirage_session")
    r = await client.get("/")
    assert r.status_code == 200 and "Visão geral" in r.text
    with psycopg.connect(bootstrap_conninfo) as conn:
        stored = conn.execute(
            "select token_hash from user_sessions where user_id = %s", (tenant_a.user_id,)
        ).fetchone()[0]  # type: ignore[index]
    assert cookie not in stored  # only a hash of the cookie is stored

    r = await client.post("/signout", data={"csrf_token": csrf})
    assert r.status_code == 303
    # Re-using the old cookie after sign-out does not work: the session is revoked server-side.
    client.cookies.set("mirage_session", cookie)
    assert (await client.get("/")).status_code == 303


async def test_wrong_password_gets_a_clear_message(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await client.get("/signin")
    csrf = client.cookies.get("mirage_csrf")
    r = await client.post(
        "/signin", data={"email": tenant_a.email, "password": "wrong-password", "csrf_token": csrf}
    )
    assert r.status_code == 401
    assert "E-mail ou senha incorretos." in r.text
    assert "mirage_session" not in r.cookies


async def test_unsafe_requests_without_csrf_are_refused(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await sign_in(client, tenant_a)
    for data, headers in (
        ({}, {}),
        ({"csrf_token": "forged.token"}, {}),
        ({}, {"X-CSRF-Token": "abc"}),
    ):
        r = await client.post(
            "/settings/tokens", data={"name": "x", "scopes": "read", **data}, headers=headers
        )
        assert r.status_code == 403, r.text
        assert "Verificação de segurança falhou" in r.text
    # A signed token that is valid but is not this browser's cookie is refused as well.
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await other.get("/signin")
    foreign = other.cookies.get("mirage_csrf")
    r = await client.post("/settings/tokens", data={"name": "x", "csrf_token": foreign})
    assert r.status_code == 403
    # The sign-in form itself is protected.
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    r = await fresh.post("/signin", data={"email": "a@b.c", "password": "x"})
    assert r.status_code == 403


async def test_sign_in_is_rate_limited_per_address_and_account(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await client.get("/signin")
    csrf = client.cookies.get("mirage_csrf")
    statuses = []
    for _ in range(7):
        r = await client.post(
            "/signin", data={"email": tenant_a.email, "password": "bad", "csrf_token": csrf}
        )
        statuses.append(r.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["RateLimit-Remaining"] == "0"
    # Even the right password is refused from this address (no known-device cookie here).
    r = await client.post(
        "/signin", data={"email": tenant_a.email, "password": tenant_a.password, "csrf_token": csrf}
    )
    assert r.status_code == 429


async def test_tenant_switcher(
    client: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    from mirage.db.engine import session_scope
    from mirage.tenants import service

    async with session_scope() as session:
        await service.add_member(
            session, tenant_id=tenant_b.tenant_id, user_id=tenant_a.user_id, role=Role.VIEWER
        )
    csrf = await sign_in(client, tenant_a)
    home = await client.get("/")
    assert str(tenant_b.tenant_id) in home.text  # offered in the switcher
    r = await client.post(
        "/tenant", data={"tenant_id": str(tenant_b.tenant_id), "csrf_token": csrf}
    )
    assert r.status_code == 303
    page = await client.get("/settings")
    assert tenant_b.slug in page.text and "observador" in page.text
    # A tenant the user does not belong to is "not found".
    stranger = await make_tenant()
    r = await client.post(
        "/tenant", data={"tenant_id": str(stranger.tenant_id), "csrf_token": csrf}
    )
    assert r.status_code == 404


async def test_language_from_header_cookie_and_choice(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    r = await client.get("/signin", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Sign in" in r.text and 'lang="en"' in r.text
    r = await client.get("/signin", headers={"Accept-Language": "fr-FR, pt;q=0.5"})
    assert "Entrar" in r.text and 'lang="pt-BR"' in r.text
    csrf = await sign_in(client, tenant_a)
    r = await client.post("/language", data={"lang": "en", "csrf_token": csrf, "next": "/settings"})
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    assert "API tokens" in (await client.get("/settings")).text
    # Open redirects are not possible through `next`.
    r = await client.post(
        "/language", data={"lang": "pt_BR", "csrf_token": csrf, "next": "//evil.example"}
    )
    assert r.headers["location"] == "/"


def test_every_state_changing_page_route_is_csrf_protected() -> None:
    """A new dashboard router cannot forget CSRF: every unsafe route must carry the check."""
    from fastapi.routing import APIRoute

    from mirage.app import PAGE_ROUTERS
    from mirage.web.csrf import csrf_protect

    unsafe = 0
    for router in PAGE_ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.methods <= {"GET", "HEAD", "OPTIONS"}:
                continue
            unsafe += 1
            calls = {d.call for d in route.dependant.dependencies}
            assert csrf_protect in calls, f"{route.methods} {route.path} lacks CSRF protection"
    assert unsafe >= 5
