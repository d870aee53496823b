"""Settings page: API tokens created and revoked from the dashboard, role limits."""

from __future__ import annotations

import re

import httpx

from tests.conftest import TenantFixture, make_tenant, sign_in, sql


async def test_create_and_revoke_token_from_dashboard(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    csrf = await sign_in(client, tenant_a)
    r = await client.post(
        "/settings/tokens",
        data={
            "name": "Zapier",
            "scopes": ["read", "write"],
            "expires_in_days": "30",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 201, r.text
    secret = re.search(r'id="new-token-value">(mrg_[^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and set(me.json()["scopes"]) == {"read", "write"}

    token_id = re.search(r"/settings/tokens/([0-9a-f-]{36})/revoke", r.text).group(1)  # type: ignore[union-attr]
    r = await client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 401
    page = await client.get("/settings")
    assert "api_token.revoke" in page.text and "api_token.create" in page.text


async def test_bad_token_form_input_is_explained(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    csrf = await sign_in(client, tenant_a)
    r = await client.post(
        "/settings/tokens",
        data={"name": "x", "scopes": ["read"], "expires_in_days": "lots", "csrf_token": csrf},
    )
    assert r.status_code == 422 and "entre 0 e 730" in r.text
    r = await client.post("/settings/tokens", data={"name": "x", "csrf_token": csrf})
    assert r.status_code == 422 and "escolha ao menos uma permissão" in r.text


async def test_viewer_cannot_create_tokens(client: httpx.AsyncClient) -> None:
    viewer = await make_tenant(role="viewer")
    csrf = await sign_in(client, viewer)
    page = await client.get("/settings")
    assert 'action="/settings/tokens"' not in page.text
    r = await client.post(
        "/settings/tokens", data={"name": "x", "scopes": ["read"], "csrf_token": csrf}
    )
    assert r.status_code == 403


async def test_overview_polls_worker_status(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await sign_in(client, tenant_a)
    home = await client.get("/")
    assert 'hx-get="/partials/worker-status"' in home.text
    part = await client.get("/partials/worker-status", headers={"HX-Request": "true"})
    assert part.status_code == 200 and 'id="worker-status"' in part.text
    assert "<html" not in part.text  # a fragment, swapped in place
    client.cookies.clear()
    r = await client.get(
        "/partials/worker-status",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/settings"},
    )
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/signin?next=/settings"


async def test_settings_page_lists_the_tenants_recent_policy_decisions(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    # A decision of each tenant; the page shows its own only (messaging's section, registered
    # by the app at start-up).
    for t, detail in ((tenant_a, "ours-quiet"), (tenant_b, "theirs-cap")):
        await sql(
            bootstrap_conninfo,
            "insert into policy_decisions (id, tenant_id, action, reason, detail) "
            "values (gen_random_uuid(), %s, 'defer', 'quiet_hours', %s)",
            t.tenant_id,
            detail,
        )
    await sign_in(client, tenant_a)
    page = await client.get("/settings")
    assert page.status_code == 200
    assert "ours-quiet" in page.text and "quiet_hours" in page.text
    assert "theirs-cap" not in page.text
