"""/api/v1/docs in real Chromium, with every request off this server refused: Swagger UI's
assets are served by Mirage itself (vendored), so the page renders its operations offline."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Route, expect

from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


async def test_the_api_docs_render_without_a_cdn(page: Page, live_server: LiveServer) -> None:
    ours = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    async def only_ours(route: Route) -> None:
        if urlsplit(route.request.url).netloc == ours or route.request.url.startswith("data:"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_ours)
    await page.goto(live_server.url + "/api/v1/docs")
    # Swagger UI builds the page from a 1 MB bundle: at load 8 it took longer than the
    # default 5 s (a wait, not an assertion about speed).
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Mirage API", timeout=20_000
    )
    # Operations are listed (the schema was fetched from /api/v1/openapi.json and rendered).
    operation = page.locator(".opblock-summary-path", has_text="/instances").first
    await expect(operation).to_be_visible()
    assert await page.locator(".opblock").count() > 5
    assert elsewhere == [], f"the docs page asked other hosts: {elsewhere}"
