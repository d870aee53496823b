"""In real Chromium (issue 9, the weekly calendar): create a conversation, open its week in
the calendar, edit its windows in the grid (a mistake first: the message is on its cell, in
pt-BR, and what was typed stays), save, and see its planned rounds move into the new windows.
On a phone the days stack, each with its list of rounds."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from mirage.kit.http import limits as pool_limits
from tests.conftest import LiveServer, TenantFixture, make_token, sql
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_numbers_conversation_form import PERSONA, _sign_in

pytestmark = pytest.mark.e2e
ZONE = ZoneInfo("America/Sao_Paulo")


async def _seed(conninfo: str, t: TenantFixture, api: httpx.AsyncClient, token: str) -> None:
    for name, phone in (("Vendas A", "5511900000301"), ("Vendas B", "5511900000302")):
        rid = uuid.uuid4()
        await sql(
            conninfo,
            "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
            "webhook_secret_enc, state, phone, owner_jid, first_connected_at) "
            "values (%s, %s, %s, %s, 'x', 'x', 'open', %s, %s, '2026-01-01T00:00:00Z')",
            rid,
            t.tenant_id,
            name,
            f"e2e-{rid.hex}",
            phone,
            f"{phone}@s.whatsapp.net",
        )
    auth = {"Authorization": f"Bearer {token}"}
    for name in ("Carla", "Duda"):
        r = await api.post("/api/v1/personas", headers=auth, json={"name": name, **PERSONA})
        assert r.status_code == 201, r.text
    # Quiet hours around now: no round starts while the test runs, and the grid shows them.
    now = datetime.now(ZONE)
    r = await api.put(
        "/api/v1/settings",
        headers=auth,
        json={
            "timezone": "America/Sao_Paulo",
            "delay_min_s": 20,
            "delay_max_s": 90,
            "quiet_start": f"{(now - timedelta(hours=1)):%H}:00",
            "quiet_end": f"{(now + timedelta(hours=2)):%H}:00",
            "hourly_cap_per_number": 20,
            "daily_cap_per_number": 120,
            "burst_per_hour": 200,
            "min_gap_seconds": 15,
        },
    )
    assert r.status_code == 200, r.text


async def _planned(page: Page, url: str, cid: str) -> list[tuple[str | None, str | None]]:
    """This conversation's planned rounds this week and the next (local HH:MM); the page is
    left on this week's calendar."""
    found = []
    next_week = datetime.now(ZONE).date() + timedelta(days=7)
    calendar = f"{url}/conversations/calendar?conversation={cid}"
    for address in (f"{calendar}&week={next_week.isoformat()}", calendar):
        await page.goto(address)
        slots = page.locator(f'#week-grid .slot[data-conversation="{cid}"][data-state="planned"]')
        for i in range(await slots.count()):
            s = slots.nth(i)
            found.append((await s.get_attribute("data-start"), await s.get_attribute("data-end")))
    return found


async def test_edit_a_conversations_windows_in_the_grid_and_its_rounds_move(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    token = await make_token(tenant_a)
    async with httpx.AsyncClient(limits=pool_limits(), base_url=live_server.url) as api:
        await _seed(bootstrap_conninfo, tenant_a, api, token)
    await _sign_in(page, live_server, tenant_a)

    # Create a conversation: it follows the default schedule.
    await page.goto(live_server.url + "/conversations")
    await page.get_by_label("Nome", exact=True).fill("Agenda E2E")
    await page.get_by_role("button", name="Criar conversa").click()
    await expect(page.get_by_role("heading", name="Agenda E2E")).to_be_visible()
    cid = page.url.rstrip("/").split("/")[-1]
    await expect(page.locator(".schedule-summary")).to_contain_text("a agenda padrão da conta")

    await page.locator("#calendar-link").click()
    await expect(page.get_by_role("heading", name="Agenda semanal")).to_be_visible()
    await expect(page.locator(".band-quiet").first).to_be_attached()
    before = await _planned(page, live_server.url, cid)
    assert before, "rounds planned in the default windows"

    # Its own windows: one range a day, two hours starting four hours from now.
    hour = (datetime.now(ZONE).hour + 4) % 24
    hour = 1 if hour > 21 else hour
    start, end = f"{hour:02d}:00", f"{hour + 2:02d}:00"
    form = page.locator("#schedule-form")
    await form.get_by_label("Agenda própria (abaixo)").check()
    for day in range(7):
        for i in range(3):
            await form.locator(f'input[name="w{day}_{i}_start"]').fill("")
            await form.locator(f'input[name="w{day}_{i}_end"]').fill("")
        await form.locator(f'input[name="w{day}_0_start"]').fill(start)
        await form.locator(f'input[name="w{day}_0_end"]').fill(end)
    # A mistake on Monday first: ends before it starts.
    await form.locator('input[name="w0_1_start"]').fill("23:00")
    await form.locator('input[name="w0_1_end"]').fill("22:00")
    await form.get_by_label("Rodadas por janela").fill("2")
    await form.get_by_role("button", name="Salvar a agenda").click()
    cell = page.locator('#week-editor tr[data-day="0"] td.has-error')
    await expect(cell).to_contain_text("Segunda-feira, faixa 2: o início deve ser antes do fim")
    await expect(page.locator('input[name="w0_1_start"]')).to_have_value("23:00")
    await expect(page.locator('input[name="w3_0_start"]')).to_have_value(start)

    await page.locator('input[name="w0_1_start"]').fill("")
    await page.locator('input[name="w0_1_end"]').fill("")
    await page.locator("#schedule-form").get_by_role("button", name="Salvar a agenda").click()
    await expect(page.locator(".field-error")).to_have_count(0)
    await expect(page.locator("#week-grid .band-window").first).to_have_attribute(
        "data-start", start
    )

    after = await _planned(page, live_server.url, cid)
    assert after and after != before
    assert all(start <= (s or "") and (e or "~") <= end for s, e in after), (start, end, after)
    await page.screenshot(path=str(ARTIFACTS / "calendar-desktop.png"), full_page=True)

    # On a phone the days stack, each with its rounds listed under its bar.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    await expect(page.locator(".day-list").first).to_be_visible()
    box = await page.locator(".day").nth(1).bounding_box()
    first = await page.locator(".day").nth(0).bounding_box()
    assert box and first and box["y"] > first["y"] and abs(box["x"] - first["x"]) < 2
    await page.screenshot(path=str(ARTIFACTS / "calendar-phone.png"), full_page=True)
