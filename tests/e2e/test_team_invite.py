"""In real Chromium: an owner invites someone from the Team page, the link is opened in a fresh
browser (no session), the invitee creates an account and lands on the overview as a member
with the role chosen."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import LiveServer, make_tenant
from tests.e2e.conftest import ARTIFACTS, step_up

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


async def _shots(page: Page, name: str) -> None:
    """The page at desktop and phone width (test-artifacts/), nothing wider than the screen."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.set_viewport_size(DESKTOP)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name}: {overflow}px wider than a phone"
    await page.set_viewport_size(DESKTOP)


async def test_invite_accept_in_a_fresh_browser_and_land_on_the_overview(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    owner = await make_tenant(name="Agência Convite")
    await page.goto(live_server.url + "/signin")
    await page.get_by_label("E-mail").fill(owner.email)
    await page.get_by_label("Senha").fill(owner.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, live_server, owner)

    await page.get_by_role("link", name="Equipe", exact=True).click()
    await expect(page.get_by_role("heading", name="Equipe", exact=True)).to_be_visible()
    email = f"bia-{uuid.uuid4().hex[:6]}@example.com"
    invite = page.locator("#invite")
    await invite.get_by_label("E-mail").fill(email)
    await invite.get_by_label("Papel").select_option("operator")
    await invite.get_by_role("button", name="Criar link de convite").click()
    link_box = page.locator("#invite-link")
    await expect(link_box).to_be_visible()
    await expect(page.locator(".invite-link")).to_contain_text("só aparece esta vez")
    link = (await link_box.text_content() or "").strip()
    assert link.startswith(live_server.url + "/invite?token=mrgi_"), link
    await expect(page.locator("#invitations-table")).to_contain_text(email)
    await _shots(page, "team")

    # A fresh browser: no cookies, no session.
    context = await browser.new_context(viewport=DESKTOP, locale="pt-BR")
    try:
        guest = await context.new_page()
        await guest.goto(link)
        await expect(guest.get_by_role("heading", name="Entrar em Agência Convite")).to_be_visible()
        await expect(guest.locator(".accept-card")).to_contain_text(email)
        await expect(guest.locator(".accept-card")).to_contain_text("operador")
        await _shots(guest, "accept")
        await guest.get_by_label("Seu nome").fill("Bia Souza")
        await guest.get_by_label("Senha (pelo menos 10 caracteres)").fill("senha comprida 123")
        await guest.get_by_label("Repita a senha").fill("senha comprida 123")
        await guest.get_by_role("button", name="Criar conta e entrar").click()

        await expect(guest).to_have_url(re.compile(r"/$"))
        await expect(guest.get_by_role("heading", name="Visão geral")).to_be_visible()
        await expect(guest.locator(".topbar .role")).to_have_text(re.compile("^operador$", re.I))
        await expect(guest.locator("#alerts")).to_be_visible()
        await expect(guest.locator("#warmup")).to_be_visible()
        await _shots(guest, "overview-new-member")
        # The link was single-use.
        await guest.goto(link)
        await expect(guest.locator(".accept-card")).to_contain_text("já foi usado")
    finally:
        await context.close()

    # The owner sees the new member, and the invitation is no longer pending.
    await page.goto(live_server.url + "/team")
    await expect(page.locator("#members-table")).to_contain_text("Bia Souza")
    await expect(page.locator("#invitations-table")).not_to_contain_text(email)
