"""In real Chromium: an 80-character name without spaces keeps the Numbers table (and its
actions) on screen, on a desktop and on a phone; the full name is in the cell's title; a profile
name equal to the display name is not repeated as its subtitle."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import LiveServer, TenantFixture, sql
from tests.e2e.conftest import step_up

pytestmark = pytest.mark.e2e

LONG = "Filial" + "X" * 74  # 80 characters, no space


async def _seed(conninfo: str, t: TenantFixture) -> None:
    rows = (
        (LONG, None, "close"),
        ("Vendas 01", "Vendas 01", "open"),
        ("Vendas 02", "Loja da Ana", "open"),
    )
    for name, profile, state in rows:
        rid = uuid.uuid4()
        await sql(
            conninfo,
            "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
            "webhook_secret_enc, state, profile_name, phone, owner_jid) "
            "values (%s, %s, %s, %s, 'x', 'x', %s, %s, %s, %s)",
            rid,
            t.tenant_id,
            name,
            f"e2e-{rid.hex}",
            state,
            profile,
            "5511900000001" if state == "open" else None,
            "5511900000001@s.whatsapp.net" if state == "open" else None,
        )


async def _sign_in(page: Page, server: LiveServer, t: TenantFixture) -> None:
    await page.goto(server.url + "/signin")
    await page.get_by_label("E-mail").fill(t.email)
    await page.get_by_label("Senha").fill(t.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, server, t)


@pytest.mark.parametrize("width", [1280, 390])
async def test_a_long_name_keeps_the_table_and_its_actions_on_screen(
    browser: Browser,
    live_server: LiveServer,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
    width: int,
) -> None:
    await _seed(bootstrap_conninfo, tenant_a)
    context = await browser.new_context(
        viewport={"width": width, "height": 900}, locale="pt-BR", is_mobile=width < 600
    )
    try:
        page = await context.new_page()
        await _sign_in(page, live_server, tenant_a)
        await page.goto(live_server.url + "/instances")
        table = page.locator("#instances-table")
        await expect(table.locator("tbody tr")).to_have_count(3)
        # Measured once the live rows are current (a resync would replace them mid-way).
        await expect(page.locator("[data-live=ready]")).to_have_count(1)
        # Nothing scrolls sideways: not the page, not the table's own wrapper.
        overflow = await page.evaluate(
            """() => {
              const d = document.documentElement, w = document.querySelector('.table-wrap');
              return [d.scrollWidth - d.clientWidth, w.scrollWidth - w.clientWidth];
            }"""
        )
        assert overflow[0] <= 0 and overflow[1] <= 0, overflow
        # Every action button of every row is inside the screen.
        for box in [await b.bounding_box() for b in await table.locator("button").all()]:
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        # The long name is cut with an ellipsis; its full text is in the title.
        name = table.locator("tr", has_text="FilialXXX").locator(".num-name strong")
        await expect(name).to_have_attribute("title", LONG)
        # A profile name equal to the display name is not its own subtitle; another one is.
        vendas1 = table.locator("tr", has_text="Vendas 01").locator("td").first
        assert (await vendas1.inner_text()).count("Vendas 01") == 1
        await expect(table.locator("tr", has_text="Vendas 02")).to_contain_text("Loja da Ana")
        await page.screenshot(path=f"test-artifacts/numbers-long-name-{width}.png", full_page=True)
    finally:
        await context.close()
