"""In real Chromium against `mirage api`: the CSV import wizard (upload, detected settings and
preview, mapping, live progress with no reload, summary, rejected-rows download), then the
contacts list and a contact's page, on a desktop and on a phone.

Set MIRAGE_SHOT_DIR to also keep a screenshot of every contacts page there."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from mirage.kit.http import limits as pool_limits
from tests.conftest import GatewayWorld, LiveServer, TenantFixture, make_token
from tests.e2e.conftest import step_up

pytestmark = pytest.mark.e2e

MESSY = Path(__file__).resolve().parents[1] / "contacts" / "fixtures" / "messy_excel_ptbr.csv"


async def _shot(page: Page, name: str) -> None:
    where = os.environ.get("MIRAGE_SHOT_DIR")
    if where:
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=os.path.join(where, f"{name}.png"), full_page=True)


WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
  .slice(0, 8)"""


async def _fits(page: Page, width: int) -> None:
    """Nothing sticks out of a phone's screen (no sideways scrolling)."""
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, await page.evaluate(WIDEST)


async def _sign_in(page: Page, server: LiveServer, t: TenantFixture) -> None:
    await page.goto(server.url + "/signin")
    await page.get_by_label("E-mail").fill(t.email)
    await page.get_by_label("Senha").fill(t.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, server, t)


async def test_import_wizard_with_live_progress_and_rejected_rows(
    page: Page, live_server: LiveServer, world: GatewayWorld, tenant_a: TenantFixture
) -> None:
    await _sign_in(page, live_server, tenant_a)
    await page.locator("nav").get_by_role("link", name="Contatos").click()
    await expect(page.get_by_role("heading", name="Contatos", exact=True)).to_be_visible()
    await expect(page.locator("#contacts-count")).to_have_text("0 contatos")
    await page.get_by_role("link", name="Importar CSV").first.click()
    await expect(page.get_by_role("heading", name="Importar contatos")).to_be_visible()
    await _shot(page, "imports-upload")

    # 1. Upload: the encoding and separator are detected; the first rows are shown.
    await page.get_by_label("Arquivo CSV").set_input_files(str(MESSY))
    await page.get_by_role("button", name="Enviar e pré-visualizar").click()
    await expect(page.get_by_role("heading", name="messy_excel_ptbr.csv")).to_be_visible()
    await expect(page.locator("#detected-encoding")).to_have_text("Windows-1252")
    await expect(page.locator("#detected-delimiter")).to_have_text("ponto e vírgula (;)")
    await expect(page.locator("#preview-table")).to_contain_text("João da Silva")
    await expect(page.locator("#preview-table")).to_contain_text("(11) 98765-4321")

    # 2. Mapping: the guesses are pre-selected; the operator drops one column.
    await expect(page.locator('select[data-column="Celular"]')).to_have_value("phone")
    await expect(page.locator('select[data-column="Nome"]')).to_have_value("name")
    await expect(page.locator('select[data-column="Cidade"]')).to_have_value("custom.cidade")
    await page.locator('select[data-column="Data de cadastro"]').select_option("ignore")
    await page.get_by_label("Tags para todos os contatos importados").fill("feira")
    await page.get_by_label("Origem (de onde vieram estes contatos)").fill("Feira 2026")
    await _shot(page, "import-mapping")

    # 3. Start with the worker held back, so the page is seen running; then let it run and
    # watch the page follow live (the marker proves there was no reload).
    await world.stop_worker()
    try:
        await page.get_by_role("button", name="Iniciar importação").click()
        await expect(page.locator("#import-state")).to_have_text("importando")
        await expect(page.get_by_role("progressbar")).to_be_visible()
        await page.evaluate("window.__noReload = 7")
        await _shot(page, "import-running")
    finally:
        world.start_worker()
    await expect(page.locator("#import-state")).to_have_text("concluída", timeout=30_000)
    assert await page.evaluate("window.__noReload") == 7
    await expect(page.locator("#n-imported")).to_have_text("8")
    await expect(page.locator("#n-duplicates")).to_have_text("3")
    await expect(page.locator("#n-invalid")).to_have_text("4")
    await expect(page.locator("#invalid-reasons")).to_contain_text("telefone inválido 2")
    await expect(page.get_by_role("progressbar")).to_have_count(0)
    await _shot(page, "import-summary")

    # The rejected rows, with their reasons, as Excel pt-BR opens them.
    async with page.expect_download() as info:
        await page.locator("#rejected-download").click()
    download = await info.value
    body = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["linha", "motivo", "detalhe"] and len(rows) == 1 + 7
    assert {r[1] for r in rows[1:]} == {
        "duplicate_in_file",
        "invalid_phone",
        "invalid_email",
        "missing_phone",
    }

    # The list and one contact.
    await page.get_by_role("link", name="Ver os contatos").click()
    await expect(page.locator("#contacts-count")).to_have_text("8 contatos")
    await expect(page.locator("#contacts-table tbody tr")).to_have_count(8)
    await page.get_by_label("Busca").fill("joao")
    await page.get_by_role("button", name="Filtrar").click()
    await expect(page.locator("#contacts-count")).to_have_text("1 contato neste filtro")
    await page.get_by_role("link", name="João da Silva").click()
    await expect(page.get_by_role("heading", name="João da Silva")).to_be_visible()
    ledger = page.locator("#ledger")
    await expect(ledger).to_contain_text("Base legal registrada")
    await expect(ledger).to_contain_text("(import)")
    await expect(page.locator(".facts").first).to_contain_text("feira")
    await expect(page.get_by_text("Feira 2026", exact=True)).to_be_visible()
    await _shot(page, "contact-detail")


async def test_contact_pages_on_a_phone(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture
) -> None:
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        limits=pool_limits(), base_url=live_server.url + "/api/v1", headers=auth
    ) as api:
        for i, (name, phone, tags) in enumerate(
            [
                ("Maria Conceição", "(11) 98765-4321", ["clientes", "sp"]),
                ("Pedro Álvares", "(21) 99876-5432", ["leads"]),
                ("Padaria Pão Quente", "(11) 3456-7890", []),
                ("John Smith", "+1 650 253 0000", ["exterior"]),
            ]
        ):
            r = await api.post(
                "/contacts",
                json={
                    "name": name,
                    "phone": phone,
                    "email": f"pessoa{i}@exemplo.com.br",
                    "tags": tags,
                    "legal_basis": "consent" if i != 2 else "legitimate_interest",
                    "li_assessment_ref": "LIA-2026-01" if i == 2 else None,
                    "provenance_source": "formulário do site",
                    "custom_fields": {"cidade": "São Paulo"},
                },
            )
            assert r.status_code == 201, r.text
            if i == 1:
                pedro = r.json()["id"]
        r = await api.post(f"/contacts/{pedro}/consent", json={"action": "opt_out"})
        assert r.status_code == 200
        r = await api.patch(
            "/tags/" + next(t["id"] for t in (await api.get("/tags")).json() if t["name"] == "sp"),
            json={"color": "#dc2626"},
        )
        assert r.status_code == 200
        r = await api.post("/suppressions", json={"phone": "11 91234-5678", "reason": "complaint"})
        assert r.status_code == 201

    await _sign_in(page, live_server, tenant_a)
    await page.goto(live_server.url + "/contacts")
    await expect(page.locator("#contacts-count")).to_have_text("4 contatos")
    await _shot(page, "contacts-list")
    await page.goto(live_server.url + "/contacts?opted_out=yes")
    await expect(page.locator("#contacts-table tbody tr")).to_have_count(1)
    await expect(page.locator("#contacts-table")).to_contain_text("descadastrado")
    for path, name in (
        ("/contacts/tags", "tags"),
        ("/contacts/suppressions", "suppressions"),
        ("/contacts/requests", "requests"),
    ):
        await page.goto(live_server.url + path)
        await _shot(page, name)
    await page.get_by_label("Telefone ou e-mail").fill("(21) 99876-5432")
    await page.get_by_role("button", name="Buscar").click()
    await expect(page.locator("#subject-result")).to_contain_text("Pedro Álvares")
    await _shot(page, "requests-found")

    # A phone: the list reads as cards, nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(live_server.url + "/contacts")
    await expect(page.locator("#contacts-table")).to_contain_text("Maria Conceição")
    await _fits(page, 390)
    await _shot(page, "contacts-list-phone")
    await page.get_by_role("link", name="Pedro Álvares").click()
    await expect(page.get_by_role("heading", name="Pedro Álvares")).to_be_visible()
    await expect(page.locator("#ledger")).to_contain_text("Descadastrado")
    await _fits(page, 390)
    await _shot(page, "contact-detail-phone")
    await page.goto(live_server.url + "/contacts/imports")
    await _fits(page, 390)
    await _shot(page, "imports-phone")
    await expect(page.get_by_role("heading", name="Importar contatos")).to_be_visible()
    assert re.search(r"/contacts/imports$", page.url)
