"""In real Chromium: sign in, dashboard, language switch, tenant switch, sign out, errors."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from mirage.models.tenancy import Role
from tests.conftest import LiveServer, TenantFixture, make_tenant
from tests.e2e.conftest import step_up

pytestmark = pytest.mark.e2e


@pytest.fixture
async def member_of_two() -> tuple[TenantFixture, TenantFixture]:
    from mirage.db.engine import session_scope
    from mirage.tenants import service

    a = await make_tenant(name="Agência Aurora")
    b = await make_tenant(name="Bravo Marketing")
    async with session_scope() as session:
        await service.add_member(
            session, tenant_id=b.tenant_id, user_id=a.user_id, role=Role.VIEWER
        )
    return a, b


async def _sign_in(
    page: Page, server: LiveServer, t: TenantFixture, password: str | None = None
) -> None:
    await page.goto(server.url + "/")
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await page.get_by_label("E-mail").fill(t.email)
    await page.get_by_label("Senha").fill(password or t.password)
    await page.get_by_role("button", name="Entrar").click()


async def test_sign_in_dashboard_language_switch_and_sign_out(
    page: Page, live_server: LiveServer, member_of_two: tuple[TenantFixture, TenantFixture]
) -> None:
    a, b = member_of_two
    await _sign_in(page, live_server, a)
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await expect(page.locator("nav")).to_contain_text("Números")
    await expect(page.locator("nav")).to_contain_text("Configurações")

    # Switch tenant with the switcher.
    await page.locator("#tenant-select").select_option(label="Bravo Marketing")
    await expect(page.locator("#tenant-select")).to_have_value(str(b.tenant_id))
    await expect(page.locator(".topbar .role")).to_have_text(re.compile("^observador$", re.I))

    # Switch language: the whole interface follows, and the choice sticks.
    await page.locator("#lang-select").select_option("en")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await page.get_by_role("link", name="Settings", exact=True).click()
    await expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await page.goto(live_server.url + "/settings")
    await expect(page).to_have_url(re.compile(r"/signin\?next=/settings$"))


async def test_wrong_password_shows_a_clear_message(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture
) -> None:
    await _sign_in(page, live_server, tenant_a, password="not-the-password")
    await expect(page.get_by_role("alert")).to_have_text("E-mail ou senha incorretos.")
    await expect(page.get_by_label("E-mail")).to_have_value(tenant_a.email)


async def test_form_without_csrf_token_is_refused(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture
) -> None:
    await _sign_in(page, live_server, tenant_a)
    await page.goto(live_server.url + "/settings")
    await page.get_by_label("Nome", exact=True).fill("Sem token")
    # Strip the token from the form, as a cross-site form would lack it.
    await page.evaluate(
        'document.querySelectorAll(\'form[action="/settings/tokens"] '
        "input[name=csrf_token]').forEach(e => e.remove())"
    )
    await page.get_by_role("button", name="Criar token").click()
    await expect(
        page.get_by_role("heading", name="Verificação de segurança falhou")
    ).to_be_visible()
    await page.goto(live_server.url + "/settings")
    await expect(page.locator("#tokens tbody")).not_to_contain_text("Sem token")


async def test_create_token_in_dashboard_and_mobile_layout(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture
) -> None:
    await _sign_in(page, live_server, tenant_a)
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, live_server, tenant_a)
    await page.goto(live_server.url + "/settings")
    await page.get_by_label("Nome", exact=True).fill("Integração CRM")
    await page.get_by_role("button", name="Criar token").click()
    secret = page.locator("#new-token-value")
    await expect(secret).to_have_text(re.compile(r"^mrg_"))
    await expect(page.locator("#tokens tbody")).to_contain_text("Integração CRM")

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(live_server.url + "/")
    await expect(page.locator(".sidebar")).not_to_be_in_viewport()
    await page.locator(".menu-btn").click()
    await expect(page.locator(".sidebar")).to_be_in_viewport()
