"""In real Chromium: the Numbers page in pages of 50 with counts by state, a number on the
second page paired and disconnected live (no reload), and the page on a phone."""

from __future__ import annotations

import re
import uuid

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect

from mirage.kit.http import limits as pool_limits
from tests.conftest import GatewayWorld, LiveServer, TenantFixture, make_token
from tests.e2e.conftest import ARTIFACTS, step_up

pytestmark = pytest.mark.e2e


def _seed(conninfo: str, t: TenantFixture, n: int) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for k in range(n):
            rid = uuid.uuid4()
            conn.execute(
                "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
                "webhook_secret_enc, state) values (%s, %s, %s, %s, 'x', 'x', %s)",
                (rid, t.tenant_id, f"Filial {k:02d}", f"e2e-{rid.hex}", "close"),
            )


async def _sign_in(page: Page, server: LiveServer, t: TenantFixture) -> None:
    await page.goto(server.url + "/signin")
    await page.get_by_label("E-mail").fill(t.email)
    await page.get_by_label("Senha").fill(t.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, server, t)


def _row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("#instances-table tr", has_text=name)


async def test_a_number_on_the_second_page_updates_live(
    page: Page,
    live_server: LiveServer,
    world: GatewayWorld,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    _seed(bootstrap_conninfo, tenant_a, 55)
    token = await make_token(tenant_a)
    async with httpx.AsyncClient(limits=pool_limits(), base_url=live_server.url) as api:
        r = await api.post(
            "/api/v1/instances",
            headers={"Authorization": f"Bearer {token}"},
            json={"display_name": "Matriz"},  # after every "Filial": on the second page
        )
        assert r.status_code == 201, r.text
        gateway_name = r.json()["gateway_name"]

    await _sign_in(page, live_server, tenant_a)
    await page.goto(live_server.url + "/instances")
    tabs = page.get_by_role("navigation", name="Números por estado da conexão")
    await expect(tabs.get_by_role("link", name="Todos 56")).to_have_attribute(
        "aria-current", "page"
    )
    await expect(tabs.get_by_role("link", name="Desconectados 56")).to_be_visible()
    await expect(page.locator("#instances-table tbody tr")).to_have_count(50)
    await expect(page.get_by_text("Mostrando 50 de 56")).to_be_visible()
    await expect(_row(page, "Matriz")).to_have_count(0)

    await page.get_by_role("link", name="Próxima página").click()
    await expect(page.locator("#instances-table tbody tr")).to_have_count(6)
    await expect(page.get_by_role("link", name="Página anterior")).to_be_visible()
    await expect(page.get_by_role("link", name="Próxima página")).to_have_count(0)
    await page.evaluate("window.__noReload = 42")

    # Paired from its row on the second page: the row turns "connected" by itself.
    await _row(page, "Matriz").get_by_role("button", name="Conectar").click()
    await expect(page.locator("#connect-modal img.qr")).to_be_visible()
    await page.get_by_role("button", name="Simular leitura").click()
    await expect(page.locator("#connect-modal")).to_have_count(0)
    # Live: the gateway's webhooks, then the stream (15 s: a loaded machine is slow, not wrong).
    await expect(_row(page, "Matriz").locator(".conn")).to_contain_text("conectado", timeout=15_000)
    # The tabs count it too, live: a "Connected" tab appears, "Disconnected" loses one.
    await expect(tabs.get_by_role("link", name="Conectados 1")).to_be_visible()
    await expect(tabs.get_by_role("link", name="Desconectados 55")).to_be_visible()
    await expect(tabs.get_by_role("link", name="Todos 56")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "numbers-tabs-live.png"))

    # Logged out from the phone, on the gateway's side: the live stream brings it.
    await world.sim.control.disconnect(gateway_name, 401)
    await expect(_row(page, "Matriz").locator(".conn")).to_contain_text(
        "precisa parear de novo", timeout=15_000
    )
    await expect(tabs.get_by_role("link", name="Desconectados 56")).to_be_visible()
    await expect(tabs.get_by_role("link", name=re.compile(r"^Conectados"))).to_have_count(0)
    assert await page.evaluate("window.__noReload") == 42

    # Filtered by state: the tab shows only the numbers in it, and stays selected when the
    # counts change live (a number added elsewhere).
    await page.goto(live_server.url + "/instances?state=open")
    await expect(page.locator("#instances-table tbody")).to_contain_text(
        "Nenhum número neste estado."
    )
    async with httpx.AsyncClient(limits=pool_limits(), base_url=live_server.url) as api:
        r = await api.post(
            "/api/v1/instances",
            headers={"Authorization": f"Bearer {token}"},
            json={"display_name": "Nova"},
        )
        assert r.status_code == 201, r.text
    await expect(tabs.get_by_role("link", name="Desconectados 57")).to_be_visible()
    await expect(tabs.get_by_role("link", name="Conectados 0")).to_have_attribute(
        "aria-current", "page"
    )
    await page.get_by_role("link", name="Todos 57").click()
    await expect(page.locator("#instances-table tbody tr")).to_have_count(50)


async def test_the_numbers_page_fits_a_phone(
    browser: Browser, live_server: LiveServer, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    _seed(bootstrap_conninfo, tenant_a, 60)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="pt-BR", is_mobile=True, has_touch=True
    )
    try:
        page = await context.new_page()
        await _sign_in(page, live_server, tenant_a)
        await page.goto(live_server.url + "/instances")
        await expect(page.locator("#instances-table tbody tr")).to_have_count(50)
        # Each row is a card (labelled cells), and nothing is wider than the screen.
        name_cell = _row(page, "Filial 00").locator("td").first
        label = await name_cell.evaluate("td => getComputedStyle(td, '::before').content")
        assert label == '"Nome"'
        wide = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert wide <= 0, wide
        await page.get_by_role("link", name="Próxima página").click()
        await expect(page.locator("#instances-table tbody tr")).to_have_count(10)
    finally:
        await context.close()
