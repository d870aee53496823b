"""Settings page: API tokens created and revoked from the dashboard, role limits."""

from __future__ import annotations

import re

import httpx

from tests.conftest import TenantFixture, make_tenant, make_token, sign_in, sql


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
    # Next to the field, with what was typed.
    assert r.status_code == 422 and "informe um número inteiro" in r.text, r.text
    assert 'id="token-expires-error"' in r.text and 'value="lots"' in r.text
    r = await client.post(
        "/settings/tokens",
        data={"name": "x", "scopes": ["read"], "expires_in_days": "900", "csrf_token": csrf},
    )
    assert r.status_code == 422 and "informe um valor de 0 a 730" in r.text
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
    # (Each in words: its reason's label and its detail, in the reader's language.)
    from mirage.policy import engine

    for t, reason, detail in (
        (tenant_a, "number_paused", engine.D_PAUSED),
        (tenant_b, "kill_switch_tenant", engine.D_TENANT_KILL),
    ):
        await sql(
            bootstrap_conninfo,
            "insert into policy_decisions (id, tenant_id, action, reason, detail) "
            "values (gen_random_uuid(), %s, 'deny', %s, %s)",
            t.tenant_id,
            reason,
            detail,
        )
    await sign_in(client, tenant_a)
    page = await client.get("/settings")
    assert page.status_code == 200
    assert 'data-reason="number_paused"' in page.text
    assert "Número pausado" in page.text and "O número está pausado." in page.text
    assert 'data-reason="kill_switch_tenant"' not in page.text


# One settings model for the API, the form and the policy (tenants.settings.CadenceSettings).
SETTINGS_OK = {
    "timezone": "America/Sao_Paulo",
    "delay_min_s": 5,
    "delay_max_s": 30,
    "quiet_start": "22:00",
    "quiet_end": "07:00",
    "hourly_cap_per_number": 20,
    "daily_cap_per_number": 100,
    "burst_per_hour": 300,
    "min_gap_seconds": 30,
    "reply_timeout_s": 600,
}


async def test_every_bound_of_the_settings_model_is_refused_alike_by_the_api_and_the_form(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    from mirage.tenants.settings import CadenceSettings

    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    csrf = await sign_in(client, tenant_a)
    bounded = {
        name: field.metadata
        for name, field in CadenceSettings.model_fields.items()
        if any(hasattr(m, "le") for m in field.metadata) and field.annotation is int
    }
    assert {"delay_min_s", "hourly_cap_per_number", "reply_timeout_s"} <= set(bounded)
    for name, metadata in bounded.items():
        top = next(m.le for m in metadata if hasattr(m, "le"))
        api = await client.put(
            "/api/v1/settings", headers=auth, json={**SETTINGS_OK, name: top + 1}
        )
        assert api.status_code == 422, (name, api.text)
        form = {**{k: str(v) for k, v in SETTINGS_OK.items()}, name: str(top + 1)}
        page = await client.post("/settings/cadence", data={**form, "csrf_token": csrf})
        assert page.status_code == 422, (name, page.text[:300])
        assert "cadence" in page.text  # the settings page again, with its message
    # And the value at the bound is accepted by both.
    ok = await client.put("/api/v1/settings", headers=auth, json=SETTINGS_OK)
    assert ok.status_code == 200, ok.text


def test_the_policy_reads_every_cadence_field_of_the_stored_settings() -> None:
    import dataclasses
    from datetime import time

    from mirage.models import TenantSettings
    from mirage.policy import TenantPolicy
    from mirage.tenants.settings import ROW_FIELDS, as_policy

    row = TenantSettings(
        delay_min_s=3,
        delay_max_s=9,
        quiet_start=time(21, 0),
        quiet_end=time(8, 0),
        hourly_cap_per_number=7,
        daily_cap_per_number=70,
        burst_per_hour=77,
        min_gap_seconds=45,
        reply_timeout_s=300,
        kill_switch=True,
        band_new_contacts_per_day=9,  # a number-safety setting (its own form and API)
    )
    policy = as_policy(row, "America/Manaus")
    assert policy.band_new_contacts_per_day == 9
    assert policy.timezone == "America/Manaus"
    for f in dataclasses.fields(TenantPolicy):
        if f.name in ROW_FIELDS:
            assert getattr(policy, f.name) == getattr(row, f.name), f.name
    # Every policy field comes from the settings (none left at a silent default).
    assert {f.name for f in dataclasses.fields(TenantPolicy)} <= set(ROW_FIELDS) | {
        "timezone",
        "band_new_contacts_per_day",
    }


async def test_the_tenants_country_is_a_setting_of_the_api_and_the_form(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.put("/api/v1/settings", headers=auth, json={**SETTINGS_OK, "country": "pt"})
    assert r.status_code == 200 and r.json()["country"] == "PT", r.text
    bad = await client.put("/api/v1/settings", headers=auth, json={**SETTINGS_OK, "country": "XX"})
    assert bad.status_code == 422 and "country" in bad.text
    csrf = await sign_in(client, tenant_a)
    form = {**{k: str(v) for k, v in SETTINGS_OK.items()}, "country": "ZZ", "csrf_token": csrf}
    page = await client.post("/settings/cadence", data=form)
    assert page.status_code == 422 and "ISO 3166-1" in page.text
    form["country"] = "BR"
    assert (await client.post("/settings/cadence", data=form)).status_code == 303
    assert (await client.get("/api/v1/settings", headers=auth)).json()["country"] == "BR"
