"""`mirage demo` from scratch: within two minutes a warm-up round runs by itself between two
simulated numbers and its transcript appears live in the dashboard (no reload)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import free_port
from tests.ops.test_demo_and_cli import _start_demo

pytestmark = pytest.mark.e2e


async def test_demo_round_transcript_appears_live(page: Page, tmp_path: Path) -> None:
    port = free_port()
    proc, banner = _start_demo(tmp_path / "demo", port)
    try:
        email = re.search(r"e-mail:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        password = re.search(r"password:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        await page.goto(base + "/signin")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Senha").fill(password)
        await page.get_by_role("button", name="Entrar").click()
        await page.get_by_role("link", name="Conversas").click()
        await expect(page.get_by_role("heading", name="Conversas", exact=True)).to_be_visible()
        await page.get_by_role("link", name="Aquecimento Vendas").click()
        await page.evaluate("window.__noReload = 1")

        # The first round starts by itself; its messages appear as they are typed and sent.
        bubbles = page.locator(".transcript .bubble[data-status='sent']")
        await expect(bubbles.first).to_be_visible(timeout=120_000)
        await expect(page.locator(".round[data-state='completed']").first).to_be_visible(
            timeout=120_000
        )
        count = (
            await page.locator(".round[data-state='completed']").first.locator(".bubble").count()
        )
        assert 2 <= count <= 4
        meta = await page.locator(".bubble .meta").first.inner_text()
        assert "digitando" in meta and "leitura" in meta
        assert await page.evaluate("window.__noReload") == 1
        await page.screenshot(path=str(Path("test-artifacts") / "demo-round.png"), full_page=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
