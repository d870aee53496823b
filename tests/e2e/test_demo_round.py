"""`mirage demo` from an empty data folder (embedded PostgreSQL): the banner, sign-in, the
seeded numbers; within two minutes a warm-up round runs by itself between two simulated
numbers and its transcript appears live in the dashboard (no reload); Ctrl-C stops everything,
PostgreSQL included; a second run reuses the data and the credentials.

One demo serves all of it: each start from scratch (a PostgreSQL cluster, migrations, four
processes) costs the suite more than any check made on it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from mirage.kit.http import limits as pool_limits
from tests.conftest import free_port
from tests.ops.test_demo_and_cli import _assert_seeded_numbers, _sign_in, _start_demo, _stop

pytestmark = pytest.mark.e2e


async def test_demo_from_scratch_runs_a_round_live_stops_cleanly_and_reuses_data(
    page: Page, tmp_path: Path
) -> None:
    data_dir = tmp_path / "demo"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, banner = _start_demo(data_dir, port)
    try:
        assert f"Open {base}" in banner
        assert f"A sandbox campaign to simulated people is running: {base}/campaigns" in banner
        email = re.search(r"e-mail:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        password = re.search(r"password:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        home, numbers = await asyncio.to_thread(_sign_in, base, email, password)
        assert home.status_code == 200 and "Visão geral" in home.text
        _assert_seeded_numbers(numbers)
        tenant_name = re.search(r'class="tenant-name">([^<]+)<', home.text).group(1)  # type: ignore[union-attr]
        assert await asyncio.to_thread(_ready, base)

        await page.goto(base + "/signin")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Senha").fill(password)
        await page.get_by_role("button", name="Entrar").click()
        await page.get_by_role("link", name="Conversas", exact=True).click()
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
        code = _stop(proc)
    assert code == 0
    pid_file = data_dir / "pg" / "postmaster.pid"
    assert await asyncio.to_thread(_gone, pid_file), "embedded PostgreSQL running after Ctrl-C"

    # Second run: same data, same credentials, same tenant.
    proc, banner2 = _start_demo(data_dir, port)
    try:
        assert f"password: {password}" in banner2
        home, numbers = await asyncio.to_thread(_sign_in, base, email, password)
        assert home.status_code == 200 and tenant_name in home.text
        _assert_seeded_numbers(numbers)  # the in-memory sandbox got its numbers back
    finally:
        assert _stop(proc) == 0
    creds = json.loads((data_dir / "demo-credentials.json").read_text())
    assert creds == {"email": email, "password": password}


def _gone(path: Path) -> bool:
    """``path`` disappears within 15 s."""
    deadline = time.monotonic() + 15
    while path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _ready(base: str) -> bool:
    """/health/ready answers 200 within 30 s (the worker's first heartbeat)."""
    deadline = time.monotonic() + 30
    with httpx.Client(limits=pool_limits(), timeout=5) as probe:
        while probe.get(base + "/health/ready").status_code != 200:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
    return True
