"""In real Chromium: a change committed after a live page was read and before its stream
listened still reaches the page (the stream opens with "resync" and the page reads its live
regions again). The stream's request is held in the browser while the change is made — the
window a busy machine opens by itself."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from playwright.async_api import Page, Route, expect

from tests.conftest import LiveServer, TenantFixture, sql
from tests.e2e.test_numbers_layout import _sign_in

pytestmark = pytest.mark.e2e


async def test_a_change_before_the_stream_listens_reaches_the_page(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    rid = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc, state) values (%s, %s, 'Antes', %s, 'x', 'x', 'close')",
        rid,
        tenant_a.tenant_id,
        f"e2e-{rid.hex}",
    )
    await _sign_in(page, live_server, tenant_a)

    held: asyncio.Future[Route] = asyncio.get_running_loop().create_future()

    async def hold(route: Route) -> None:
        if not held.done():
            held.set_result(route)  # released below, after the change
        else:
            await route.continue_()

    await page.route("**/instances/events*", hold)
    await page.goto(live_server.url + "/instances")
    row = page.locator(f"#instance-{rid}")
    await expect(row).to_contain_text("Antes")
    route = await asyncio.wait_for(held, 30)
    assert "live_since=" in route.request.url

    # Renamed (and announced) while the stream is not listening yet: no one hears it.
    await sql(
        bootstrap_conninfo,
        "update instances set display_name = 'Depois' where id = %s",
        rid,
    )
    payload = json.dumps({"t": str(tenant_a.tenant_id), "kind": "instance", "id": str(rid)})
    await sql(bootstrap_conninfo, "select pg_notify('mirage_live', %s)", payload)
    await route.continue_()

    await expect(row).to_contain_text("Depois")
    # The row read again is live like the first: a later change arrives by the stream.
    await sql(
        bootstrap_conninfo,
        "update instances set display_name = 'Mais tarde' where id = %s",
        rid,
    )
    await sql(bootstrap_conninfo, "select pg_notify('mirage_live', %s)", payload)
    await expect(row).to_contain_text("Mais tarde")
