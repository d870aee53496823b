"""In real Chromium: an admin without two-factor authentication is refused adding a number and
led to enroll (QR code and key; the code computed with pyotp from the key shown, as an app
would), gets ten recovery codes once; after signing in again, adding a number
asks for a code first, a recovery code does, and the page comes back to add the number."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.async_api import Page, expect

from tests.conftest import GatewayWorld, LiveServer, make_tenant
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


async def test_admin_without_mfa_is_refused_then_enrolls_and_steps_up_with_a_recovery_code(
    page: Page, live_server: LiveServer, world: GatewayWorld, bootstrap_conninfo: str
) -> None:
    admin = await make_tenant("admin", name="Agência Duas Etapas", mfa=False)
    await page.goto(live_server.url + "/signin")
    await page.get_by_label("E-mail").fill(admin.email)
    await page.get_by_label("Senha").fill(admin.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await expect(page.locator("#mfa-banner")).to_contain_text("não está configurada")

    # "Admin não consegue criar instância sem MFA": looking is fine, adding is refused.
    await page.get_by_role("link", name="Números", exact=True).click()
    await page.get_by_label("Novo número").fill("Loja Segura")
    await page.get_by_role("button", name="Adicionar número").click()
    await expect(
        page.get_by_role("heading", name="Verificação em duas etapas obrigatória")
    ).to_be_visible()
    await page.get_by_role("link", name="Configurar a verificação em duas etapas").click()
    await expect(page).to_have_url(re.compile(r"/account/security\?next=/instances$"))
    await page.get_by_role("button", name="Configurar a verificação em duas etapas").click()

    # The QR code (inline SVG) and the key in text; the page is shot for review.
    qr = page.locator("#mfa-qr svg")
    await expect(qr).to_be_visible()
    secret = (await page.locator("#mfa-secret").inner_text()).strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "mfa-enrollment.png"), full_page=True)

    enroll_code = pyotp.TOTP(secret).now()
    await page.get_by_label("Código do autenticador").fill(enroll_code)
    await page.get_by_role("button", name="Ativar a verificação em duas etapas").click()
    # The next page, once it is there (the click submits a form).
    await expect(page.locator("#recovery-code-list code")).to_have_count(10)
    codes = await page.locator("#recovery-code-list code").all_inner_texts()
    assert len(set(codes)) == 10
    await expect(page.get_by_role("link", name="Continuar")).to_have_attribute("href", "/instances")
    await page.goto(live_server.url + "/account/security")
    await expect(page.locator("#recovery-code-list")).to_have_count(0)  # shown once
    await expect(page.locator("#mfa-banner")).to_have_count(0)

    # A new sign-in is a new session: a code is asked again before a sensitive operation.
    await page.get_by_role("button", name="Sair").click()
    await page.get_by_label("E-mail").fill(admin.email)
    await page.get_by_label("Senha").fill(admin.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await page.goto(live_server.url + "/instances")
    await page.get_by_label("Novo número").fill("Loja Segura")
    await page.get_by_role("button", name="Adicionar número").click()
    await expect(page.get_by_role("heading", name="Confirme que é você")).to_be_visible()
    await page.get_by_role("link", name="Confirmar com o código do autenticador").click()
    field = page.get_by_label("Código do autenticador ou de recuperação")
    # The code used to enroll is refused (never twice); a recovery code works, once.
    await field.fill(enroll_code)
    await page.get_by_role("button", name="Confirmar", exact=True).click()
    await expect(page.locator("#f-code-error")).to_be_visible()
    await page.get_by_label("Código do autenticador ou de recuperação").fill(codes[0])
    await page.get_by_role("button", name="Confirmar", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/instances$"))

    await page.get_by_label("Novo número").fill("Loja Segura")
    await page.get_by_role("button", name="Adicionar número").click()
    await expect(
        page.locator("#connect-modal").get_by_role("heading", name="Conectar Loja Segura")
    ).to_be_visible()
    await page.goto(live_server.url + "/account/security")
    await expect(page.locator("#status")).to_contain_text("9 de 10")
