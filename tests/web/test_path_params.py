"""A path that names nothing is a 404 page, on every dashboard route with a path parameter.

Routes are discovered from the routers the app mounts (``PAGE_ROUTERS``): a new route with a
path parameter is covered without editing this test. ``/conversations/999999`` was a 400
"Formulário inválido" (the id did not parse as a UUID, and that was reported as a form error).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import make_tenant, sign_in
from tests.web.dashboard import PARAM, client_for, page_routes

BAD_IDS = ("999999", "not-an-id", "00000000-0000-0000-0000-00000000000g")


async def test_every_route_with_an_unparsable_path_parameter_is_a_404_page(app: Any) -> None:
    routes = [
        r for r in page_routes({"GET", "POST", "PUT", "PATCH", "DELETE"}) if PARAM.search(r.path)
    ]
    assert len(routes) > 10  # the discovery works
    t = await make_tenant("owner")
    async with client_for(app) as client:
        csrf = await sign_in(client, t)
        await client.post("/language", data={"lang": "pt_BR", "csrf_token": csrf})
        checked = []
        for route in routes:
            for bad in BAD_IDS:
                path = PARAM.sub(bad, route.path)
                for method in sorted(route.methods or ()):
                    if method == "HEAD":
                        continue
                    data = {"csrf_token": csrf} if method != "GET" else None
                    for headers in ({}, {"HX-Request": "true"}):
                        r = await client.request(method, path, data=data, headers=headers)
                        where = (method, path, headers, r.status_code, r.text[:300])
                        assert r.status_code == 404, where
                        if not headers:
                            assert "Não encontrado" in r.text or "não existe" in r.text, where
                            assert "Formulário inválido" not in r.text, where
                    checked.append((method, route.path))
        assert ("GET", "/conversations/{conversation_id}") in checked
