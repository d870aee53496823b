"""The campaign page (pt-BR): start from the dashboard with a sender pool, the live funnel
over the stream, pause/resume/cancel buttons by state, the recipients table with its status
filter; an illegal action is refused (409)."""

from __future__ import annotations

import asyncio
import re

import httpx

from mirage.kit.http import limits as pool_limits
from tests.conftest import GatewayWorld, eventually, sign_in
from tests.outreach.conftest import campaign_world, draft, recipients, wait_all


async def test_campaign_page_starts_streams_the_funnel_and_filters_recipients(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    w = await campaign_world(gw, client, numbers=1, contacts=[{"behavior": "ignore"}] * 3)
    campaign_id = await draft(w, client)
    csrf = await sign_in(client, w.tenant)
    page = f"/campaigns/{campaign_id}"
    html = (await client.get(page)).text
    assert "Campanhas" in html and 'id="start-campaign"' in html
    assert 'id="campaign-pause"' not in html  # a draft cannot be paused
    lst = (await client.get("/campaigns")).text
    assert f'href="/campaigns/{campaign_id}"' in lst and "rascunho" in lst

    # The live stream, opened before the start: it carries the funnel as it changes.
    lines: list[str] = []
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())

    async def read() -> None:
        async with (
            httpx.AsyncClient(
                limits=pool_limits(), base_url=gw.mirage_url, timeout=httpx.Timeout(60)
            ) as c,
            c.stream("GET", "/campaigns-events", headers={"Cookie": cookies}) as r,
        ):
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                lines.append(line)

    reader = asyncio.create_task(read())
    try:
        # Refused form: no number chosen.
        r = await client.post(f"{page}/start", data={"csrf_token": csrf})
        assert r.status_code == 422 and 'id="f-sender_ids-error"' in r.text
        r = await client.post(
            f"{page}/start",
            data={"csrf_token": csrf, "sender_ids": w.numbers[0]["id"]},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        await wait_all(bootstrap_conninfo, campaign_id, {"read"}, timeout_s=60)

        async def streamed_read() -> bool:
            joined = "\n".join(lines)
            return (
                f"event: funnel-{campaign_id}" in joined
                and re.search(
                    r'data-status="read"><th scope="row">lida</th>\s*(data: )?\s*<td class="num" '
                    r'data-count="3"',
                    joined,
                )
                is not None
            )

        await eventually(streamed_read, timeout_s=30, what="the funnel on the stream")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)

    html = (await client.get(page)).text
    table = html.split('id="recipients-table"')[1]
    assert table.count('<tr data-status="read">') == 3
    filtered = (await client.get(page, params={"status": "failed"})).text
    assert 'data-status="read"' not in filtered.split('id="recipients-table"')[1]
    # Completed: no control is offered, and an action posted anyway is a 409.
    await eventually(lambda: _completed(client, page), timeout_s=20, what="the campaign completed")
    r = await client.post(f"{page}/pause", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert len(await recipients(bootstrap_conninfo, campaign_id)) == 3


async def _completed(client: httpx.AsyncClient, page: str) -> bool:
    html = (await client.get(page)).text
    return 'data-state="completed"' in html and 'id="campaign-cancel"' not in html
