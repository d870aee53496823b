"""Playwright driving the system Chromium (Debian's /usr/bin/chromium) against `mirage api`."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import LiveServer, TenantFixture, totp_code

# How long an expectation waits for the page to get there: a bound for reporting a failure,
# not a speed assertion (Playwright's 5 s default failed full runs on a loaded machine, where
# the live server and the job worker share two cores with two other test processes).
expect.set_options(timeout=15_000)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_path() -> str:
    path = os.environ.get("MIRAGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Chromium not found: install it (apt-get install chromium) or set MIRAGE_CHROMIUM"
        )
    return path


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    # The async API shares pytest's event loop (the sync API would start a second one).
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")
    pg = await context.new_page()
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    await pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    await context.close()


async def step_up(page: Page, server: LiveServer, t: TenantFixture) -> None:
    """Confirm a code of the user's authenticator, as the user would before a sensitive
    operation (the code is computed from the secret enrolled by ``make_tenant``)."""
    if not t.mfa_secret:
        return
    await page.goto(server.url + "/account/security/verify")
    await page.get_by_label("Código do autenticador ou de recuperação").fill(await totp_code(t))
    await page.get_by_role("button", name="Confirmar", exact=True).click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
