"""Every dashboard page renders, in both languages, for an owner and for a viewer (a broken
template or a translation with a stray % fails here, not in front of a user)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from mirage.app import PAGE_ROUTERS
from tests.conftest import GatewayWorld, make_tenant, sign_in

PARAM = re.compile(r"\{\w+\}")
# Pages only owners and admins may open (a viewer gets the 403 page).
ADMIN_ONLY = {"/audit", "/audit.csv"}


def _pages() -> list[str]:
    return sorted(
        route.path
        for router in PAGE_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and not PARAM.search(route.path)
        and not route.path.endswith("events")
        and route.path not in ("/signin",)
    )


@pytest.mark.parametrize("role", ["owner", "viewer"])
@pytest.mark.parametrize("lang", ["pt_BR", "en"])
async def test_every_page_renders(
    gw: GatewayWorld, client: httpx.AsyncClient, role: str, lang: str
) -> None:
    t = await make_tenant(role)
    csrf = await sign_in(client, t)
    await client.post("/language", data={"lang": lang, "csrf_token": csrf})
    pages = _pages()
    assert {"/", "/instances", "/personas", "/conversations", "/settings"} <= set(pages)
    for path in pages:
        r = await client.get(path)
        if role == "viewer" and path in ADMIN_ONLY:
            assert r.status_code == 403, (path, r.status_code)
            continue
        assert r.status_code in (200, 303), (path, r.status_code, r.text[:500])
        if r.status_code == 200 and "text/html" in r.headers["content-type"]:
            assert "Algo deu errado" not in r.text and "Something went wrong" not in r.text
