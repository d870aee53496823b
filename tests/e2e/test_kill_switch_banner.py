"""In real Chromium: while a kill switch is on, every dashboard page says so in a banner (with
a way to turn it off for those allowed to), and the banner goes away when it is off."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from mirage.models.tenancy import Role
from tests.conftest import LiveServer, TenantFixture, make_tenant, sql
from tests.e2e.conftest import step_up

pytestmark = pytest.mark.e2e

PAGES = ("/", "/instances", "/conversations", "/personas", "/contacts", "/settings")
TENANT_TEXT = "Botão de parada ligado"


async def _sign_in(page: Page, server: LiveServer, t: TenantFixture) -> None:
    await page.goto(server.url + "/signin")
    await page.get_by_label("E-mail").fill(t.email)
    await page.get_by_label("Senha").fill(t.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page).to_have_url(re.compile(r"/$"))
    await step_up(page, server, t)


async def _set_kill_switch(conninfo: str, tenant_id: object, on: bool) -> None:
    await sql(
        conninfo,
        "insert into tenant_settings (id, tenant_id, kill_switch) "
        "values (gen_random_uuid(), %s, %s) "
        "on conflict (tenant_id) do update set kill_switch = excluded.kill_switch",
        tenant_id,
        on,
    )


async def test_banner_on_every_page_while_the_kill_switch_is_on(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    t = await make_tenant(name="Parada Total")
    await _sign_in(page, live_server, t)
    banner = page.locator(".kill-banner")
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await expect(banner).to_have_count(0)

    await _set_kill_switch(bootstrap_conninfo, t.tenant_id, True)
    for path in PAGES:
        await page.goto(live_server.url + path)
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text(TENANT_TEXT)
        link = banner.get_by_role("link", name="Desligar em Configurações")
        await expect(link).to_be_visible()
    # On a phone the banner fits the screen.
    await page.set_viewport_size({"width": 375, "height": 740})
    await page.goto(live_server.url + "/instances")
    box = await banner.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    await page.set_viewport_size({"width": 1280, "height": 800})

    # The link leads to the switch; turning it off there removes the banner.
    await banner.get_by_role("link", name="Desligar em Configurações").click()
    await expect(page).to_have_url(re.compile(r"/settings#cadence$"))
    switch = page.locator("input[name=kill_switch]")
    await expect(switch).to_be_checked()
    await switch.uncheck()
    await page.get_by_role("button", name="Salvar configurações").click()
    await expect(page.get_by_text("Configurações salvas.")).to_be_visible()
    await expect(banner).to_have_count(0)
    await page.goto(live_server.url + "/conversations")
    await expect(page.locator("#kill-switch-banner")).to_be_attached()
    await expect(banner).to_have_count(0)


async def test_a_viewer_sees_the_banner_without_the_link(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    from mirage.db.engine import session_scope
    from mirage.tenants import service

    owner = await make_tenant(name="Dona")
    viewer = await make_tenant(name="Visitante")
    async with session_scope() as session:
        await service.add_member(
            session, tenant_id=owner.tenant_id, user_id=viewer.user_id, role=Role.VIEWER
        )
    await _set_kill_switch(bootstrap_conninfo, owner.tenant_id, True)
    await _sign_in(page, live_server, viewer)
    await page.locator("#tenant-select").select_option(label="Dona")
    banner = page.locator(".kill-banner")
    await expect(banner).to_contain_text(TENANT_TEXT)
    await expect(banner).to_contain_text("Peça a um administrador")
    await expect(banner.get_by_role("link")).to_have_count(0)
