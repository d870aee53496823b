"""No GET of the dashboard changes anything: every GET route (discovered from the app's routers,
parameters set to real ids, as a page and as an HTMX fragment) leaves the tenant's rows and the
gateway untouched. Connecting a number (asking the gateway for a QR) is a POST with CSRF."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.conftest import GatewayWorld
from tests.web.dashboard import asgi_get, client_for, get_paths, seed

# Gateway calls that only read (the worker's reconciliation may make them at any time).
READ_ONLY = ("connectionState", "fetchInstances", "findWebhook", "/_sim/")


def _rows(conninfo: str, tenant_id: str) -> dict[str, list[Any]]:
    with psycopg.connect(conninfo) as conn:
        return {
            table: conn.execute(
                f"select * from {table} where tenant_id = %s order by id",
                (tenant_id,),
            ).fetchall()
            for table in ("instances", "personas", "conversations", "api_tokens", "audit_events")
        }


async def _gateway_writes(gw: GatewayWorld) -> dict[str, int]:
    stats = (await gw.sim.control.stats())["requests"]
    return {k: v for k, v in stats.items() if not any(r in k for r in READ_ONLY)}


async def test_every_get_leaves_rows_and_gateway_unchanged(
    gw: GatewayWorld, app: Any, bootstrap_conninfo: str
) -> None:
    async with client_for(app) as client:
        s = await seed(client)
        cookies = dict(client.cookies.items())
        paths = get_paths(s.ids)
        assert any("/instances/" in p and p.endswith("/connect") for p in paths)
        # Background jobs (the periodic reconciliation) legitimately write: only the GETs run
        # while we compare.
        await gw.stop_worker()
        try:
            before = _rows(bootstrap_conninfo, s.ids["tenant_id"])
            calls = await _gateway_writes(gw)
            for path in paths:
                for _ in range(2):  # (the HTMX polling case: the same GET again)
                    probe = await asgi_get(app, path, cookies)
                    assert probe.status < 500, (path, probe.status)
            assert _rows(bootstrap_conninfo, s.ids["tenant_id"]) == before
            assert await _gateway_writes(gw) == calls
        finally:
            gw.start_worker()
        # Connecting is a POST (with CSRF): it does reach the gateway and shows the QR.
        iid = s.ids["instance_id"]
        r = await client.post(f"/instances/{iid}/connect", headers={"HX-Request": "true"})
        assert r.status_code == 403
        r = await client.post(
            f"/instances/{iid}/connect", data={"csrf_token": s.csrf}, headers={"HX-Request": "true"}
        )
        assert r.status_code == 200 and 'src="data:image/png;base64,' in r.text
        assert f'hx-post="/instances/{iid}/connect"' in r.text  # the polling is a POST too
        assert await _gateway_writes(gw) != calls
        assert (await client.get(f"/instances/{iid}/qr")).status_code in (404, 405)
