"""In real Chromium: an owner opens Auditoria from the navigation, filters by an action, sees
the change as before → after in the tenant's zone, and downloads the filtered CSV."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from mirage.kit.http import limits as pool_limits
from tests.conftest import LiveServer, make_tenant, make_token
from tests.conversations.conftest import PERSONA
from tests.e2e.conftest import ARTIFACTS, step_up

pytestmark = pytest.mark.e2e


async def test_audit_page_filters_and_exports(page: Page, live_server: LiveServer) -> None:
    owner = await make_tenant(name="Agência Auditoria")
    auth = {"Authorization": f"Bearer {await make_token(owner)}"}
    async with httpx.AsyncClient(
        limits=pool_limits(), base_url=live_server.url, headers=auth, timeout=30
    ) as api:
        r = await api.post("/api/v1/personas", json={**PERSONA, "name": "Lia"})
        assert r.status_code == 201, r.text
        changed = {**PERSONA, "name": "Lia", "emoji_rate": 0.42}
        r = await api.put(f"/api/v1/personas/{r.json()['id']}", json=changed)
        assert r.status_code == 200, r.text

    await page.goto(live_server.url + "/signin")
    await page.get_by_label("E-mail").fill(owner.email)
    await page.get_by_label("Senha").fill(owner.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, live_server, owner)

    await page.get_by_role("link", name="Auditoria", exact=True).click()
    await expect(page.get_by_role("heading", name="Auditoria", exact=True)).to_be_visible()
    table = page.locator("#audit-table")
    await expect(table.locator('tr[data-action="auth.sign_in"]')).to_have_count(1)

    await page.get_by_label("Ação", exact=True).select_option("persona.update")
    await page.get_by_role("button", name="Filtrar").click()
    await expect(table.locator("tbody tr")).to_have_count(1)
    row = table.locator('tr[data-action="persona.update"]')
    await expect(row).to_contain_text("Persona alterada")
    await expect(row).to_contain_text("Taxa de emojis")
    await expect(row.locator("ins")).to_have_text("0.42")
    await expect(row.locator("time")).to_be_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "audit-page-desktop.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(ARTIFACTS / "audit-page-phone.png"), full_page=True)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than a phone"
    await page.set_viewport_size({"width": 1280, "height": 800})
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Exportar CSV").click()
    download = await info.value
    text = (await download.path()).read_text(encoding="utf-8-sig")  # type: ignore[union-attr]
    lines = text.strip().splitlines()
    assert lines[0].startswith("time,action,action_label")
    assert len(lines) == 2 and "persona.update" in lines[1] and "Persona alterada" in lines[1]
    assert "0.42" in lines[1]
