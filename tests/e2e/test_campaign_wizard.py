"""In real Chromium against Mirage and the simulator: the campaign wizard (a message with
spintax and a variable, previewed live for real contacts with the audience counted; a typo
shown at once), saving the draft, starting it from its page with a number, and the live funnel
filling as the simulated contacts receive and read — no reload. Screenshots of both pages."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import GatewayWorld
from tests.e2e.conftest import ARTIFACTS, step_up
from tests.outreach.conftest import campaign_world

pytestmark = pytest.mark.e2e


async def test_wizard_preview_start_and_live_funnel(
    page: Page, gw: GatewayWorld, client: httpx.AsyncClient
) -> None:
    w = await campaign_world(gw, client, numbers=1, contacts=[{"behavior": "ignore"}] * 3)
    base = gw.mirage_url
    await page.goto(base + "/signin")
    await page.get_by_label("E-mail").fill(w.tenant.email)
    await page.get_by_label("Senha").fill(w.tenant.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, SimpleNamespace(url=base), w.tenant)  # type: ignore[arg-type]

    await page.get_by_role("link", name="Campanhas", exact=True).click()
    await page.get_by_role("link", name="Nova campanha").click()
    await expect(page.get_by_role("heading", name="Nova campanha")).to_be_visible()
    preview = page.locator("#wizard-preview")
    # Before any message: the audience is already counted (no tag chosen: every contact).
    await expect(preview.locator("#preview-audience [data-count]")).to_have_text("3")

    await page.get_by_label("Nome").fill("Ofertas de dezembro")
    await page.get_by_label("Variante 1").fill("{Oi|Olá} {primeiro_nome}, temos novidades!")
    # Rendered for real contacts, with their names and a spintax choice — live, as typed.
    await expect(preview.locator(".preview-sample")).to_have_count(3)
    first = await preview.locator(".preview-sample .bubble").first.inner_text()
    assert first.endswith("Pessoa, temos novidades!") and first.split()[0] in ("Oi", "Olá")
    # A typo in a second variant is shown at once, with which variant it is.
    await page.get_by_label("Variante 2 (opcional)").fill("Oi {nome")
    await expect(preview.locator("#preview-problem")).to_contain_text("2")
    await page.get_by_label("Variante 2 (opcional)").fill("")
    await expect(preview.locator("#preview-problem")).to_have_count(0)
    await page.get_by_label("Política de envio").select_option(label="Aberta")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "campaign-wizard.png"), full_page=True)
    await page.get_by_role("button", name="Salvar e escolher números").click()

    # The draft's page: step 4, the number and the start.
    await expect(page.get_by_role("heading", name="Ofertas de dezembro")).to_be_visible()
    await page.get_by_label("N0").check()
    await page.get_by_role("button", name="Iniciar campanha").click()
    await expect(page.get_by_role("heading", name="Ofertas de dezembro")).to_be_visible()
    await page.evaluate("window.__noReload = 7")
    funnel = page.locator("#funnel-table")
    # The simulated contacts receive and read: the funnel fills over the live stream.
    await expect(funnel.locator("tr[data-status='read'] td.num")).to_have_text("3", timeout=60_000)
    await expect(funnel.locator("tr[data-status='sent'] td.num")).to_have_text("3")
    # The recipients table follows too: every row read, none left planned.
    table = page.locator("#recipients-table tbody")
    await expect(table.locator("tr[data-status='read']")).to_have_count(3, timeout=30_000)
    await expect(table.locator("tr[data-status='planned']")).to_have_count(0)
    # The controls follow the state over the same stream: a completed campaign has no Pause.
    await expect(page.locator(".badge[data-state='completed']")).to_be_visible(timeout=30_000)
    await expect(page.locator("#campaign-pause")).to_have_count(0)
    assert await page.evaluate("window.__noReload") == 7
    await page.screenshot(path=str(ARTIFACTS / "campaign-live.png"), full_page=True)
