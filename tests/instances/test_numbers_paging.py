"""Pages of numbers: `GET /api/v1/instances` (keyset, next page in `Link`) and the Numbers
page (50 a page, previous/next, counts by state)."""

from __future__ import annotations

import re
import uuid

import httpx
import psycopg

from tests.conftest import TenantFixture, make_token, sign_in, sql

STATES = ("open", "connecting", "close")


def _add(conninfo: str, t: TenantFixture, names: list[str], state: str = "close") -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name in names:
            rid = uuid.uuid4()
            conn.execute(
                "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
                "webhook_secret_enc, state) values (%s, %s, %s, %s, 'x', 'x', %s)",
                (rid, t.tenant_id, name, f"pg-{rid.hex}", state),
            )


async def _delete(conninfo: str, t: TenantFixture, name: str) -> None:
    await sql(
        conninfo,
        "delete from instances where tenant_id = %s and display_name = %s",
        t.tenant_id,
        name,
    )


async def _walk(client: httpx.AsyncClient, auth: dict[str, str], url: str) -> list[list[str]]:
    pages = []
    next_url: str | None = url
    while next_url:
        r = await client.get(next_url, headers=auth)
        assert r.status_code == 200, r.text
        assert isinstance(r.json(), list)  # still a list: existing callers keep working
        pages.append([n["display_name"] for n in r.json()])
        next_url = r.links.get("next", {}).get("url")
        if next_url:
            assert r.headers["X-Next-Cursor"] in next_url
        else:
            assert "X-Next-Cursor" not in r.headers
    return pages


async def test_the_api_pages_through_every_number_in_name_order(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    # Names that sort around each other, with accents, quotes and a '%' (all in the cursor).
    names = [f"Loja {i:02d}" for i in range(23)] + ['Zé "da" esquina', "Ação 100%", "ábaco"]
    _add(bootstrap_conninfo, tenant_a, names)
    everything = (await client.get("/api/v1/instances", headers=auth)).json()
    assert len(everything) == 26  # the default page holds them all
    in_order = [n["display_name"] for n in everything]
    pages = await _walk(client, auth, "/api/v1/instances?limit=7")
    assert [len(p) for p in pages] == [7, 7, 7, 5]
    assert [n for p in pages for n in p] == in_order  # no number skipped or repeated
    exact = await _walk(client, auth, "/api/v1/instances?limit=13")
    assert [len(p) for p in exact] == [13, 13]  # a full last page has no next link


async def test_a_page_holds_when_numbers_come_and_go_between_pages(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    _add(bootstrap_conninfo, tenant_a, [f"N{i:02d}" for i in range(10)])
    first = await client.get("/api/v1/instances?limit=4", headers=auth)
    assert [n["display_name"] for n in first.json()] == ["N00", "N01", "N02", "N03"]
    # The row the cursor points at is deleted, one is added before it and one after.
    await _delete(bootstrap_conninfo, tenant_a, "N03")
    _add(bootstrap_conninfo, tenant_a, ["N015", "N055"])
    second = await client.get(first.links["next"]["url"], headers=auth)
    assert [n["display_name"] for n in second.json()] == ["N04", "N05", "N055", "N06"]


async def test_the_api_filters_by_state_and_keeps_the_filter_in_the_next_link(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    _add(bootstrap_conninfo, tenant_a, [f"Open {i}" for i in range(5)], "open")
    _add(bootstrap_conninfo, tenant_a, [f"Closed {i}" for i in range(5)], "close")
    pages = await _walk(client, auth, "/api/v1/instances?state=open&limit=2")
    assert pages == [["Open 0", "Open 1"], ["Open 2", "Open 3"], ["Open 4"]]


async def test_bad_paging_parameters_are_a_422_problem(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    _add(bootstrap_conninfo, tenant_a, ["Um", "Dois"])
    bad = [
        "cursor=nonsense",
        "cursor=%25%25%25",
        "cursor=" + "A" * 700,
        "cursor=WyJhIl0",  # base64 of ["a"]: one of two parts
        "cursor=WyJhIiwgIm5vdC1hbi1pZCJd",  # ["a", "not-an-id"]
        "cursor=WyJhXHUwMDAwIiwgIjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJd",  # NUL
        "cursor=eyJhIjogMX0",  # {"a": 1}
        "limit=0",
        "limit=201",
        "limit=many",
        "state=asleep",
    ]
    for query in bad:
        r = await client.get(f"/api/v1/instances?{query}", headers=auth)
        assert r.status_code == 422, (query, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), query


async def test_the_openapi_schema_documents_the_pages(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    op = spec["paths"]["/instances"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert {"cursor", "limit", "state"} <= params.keys()
    assert params["limit"]["schema"]["maximum"] == 200
    assert params["limit"]["schema"]["default"] == 100
    headers = op["responses"]["200"]["headers"]
    assert {"Link", "X-Next-Cursor"} <= headers.keys()


# --- the Numbers page ---------------------------------------------------------------------


def _names(html: str) -> list[str]:
    return re.findall(
        r'<td data-label="[^"]*"><div class="num-name"><strong[^>]*>([^<]+)</strong>', html
    )


def _link(html: str, rel: str) -> str | None:
    match = re.search(rf'href="([^"]+)" rel="{rel}"', html)
    return match.group(1).replace("&amp;", "&") if match else None


async def test_the_numbers_page_shows_50_a_page_with_previous_and_next(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    await sign_in(client, tenant_a)
    names = [f"Loja {i:03d}" for i in range(120)]
    _add(bootstrap_conninfo, tenant_a, names)
    first = await client.get("/instances")
    assert first.status_code == 200
    assert _names(first.text) == names[:50]
    assert _link(first.text, "prev") is None
    assert "Mostrando 50 de 120" in first.text
    second = await client.get(_link(first.text, "next") or "")
    assert _names(second.text) == names[50:100]
    third = await client.get(_link(second.text, "next") or "")
    assert _names(third.text) == names[100:]
    assert _link(third.text, "next") is None
    back = await client.get(_link(third.text, "prev") or "")
    assert _names(back.text) == names[50:100]
    start = await client.get(_link(back.text, "prev") or "")
    assert _names(start.text) == names[:50]
    assert _link(start.text, "prev") is None  # the first page again, not an empty one


async def test_the_numbers_page_counts_by_state_and_filters(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    await sign_in(client, tenant_a)
    _add(bootstrap_conninfo, tenant_a, [f"Aberto {i}" for i in range(3)], "open")
    _add(bootstrap_conninfo, tenant_a, [f"Fechado {i}" for i in range(2)], "close")
    page = (await client.get("/instances")).text
    tabs = re.search(r'<nav class="tabs".*?</nav>', page, re.S)
    assert tabs
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", tabs.group(0)))
    assert "Todos 5" in text and "Conectados 3" in text and "Desconectados 2" in text
    assert "Conectando" not in text  # a state with no number has no tab
    assert 'aria-current="page">Todos' in page
    opened = await client.get("/instances?state=open")
    assert _names(opened.text) == ["Aberto 0", "Aberto 1", "Aberto 2"]
    assert 'href="/instances?state=open" class="tab active" aria-current="page"' in opened.text
    none = await client.get("/instances?state=connecting")
    assert _names(none.text) == [] and "Nenhum número neste estado." in none.text


async def test_the_numbers_page_shrugs_off_edited_links(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    await sign_in(client, tenant_a)
    _add(bootstrap_conninfo, tenant_a, ["Um", "Dois"])
    for query in ("after=nonsense", "before=%25%25", "state=asleep", "connect=not-an-id"):
        r = await client.get(f"/instances?{query}")
        assert r.status_code == 200, query
        assert _names(r.text) == ["Dois", "Um"], query
    r = await client.get(f"/instances?connect={uuid.uuid4()}")
    assert r.status_code == 200 and 'hx-trigger="load" hx-target="#modal-root"' not in r.text


async def test_a_new_number_opens_its_pairing_modal_whatever_its_page(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    await sign_in(client, tenant_a)
    _add(bootstrap_conninfo, tenant_a, [f"A{i:02d}" for i in range(60)] + ["Zeta"])
    r = await client.get(
        "/api/v1/instances?state=close&limit=200",
        headers={"Authorization": f"Bearer {await make_token(tenant_a)}"},
    )
    zeta = next(n["id"] for n in r.json() if n["display_name"] == "Zeta")
    page = await client.get(f"/instances?connect={zeta}")
    assert "Zeta" not in _names(page.text)  # on the second page
    assert f'hx-get="/instances/{zeta}/connect" hx-trigger="load"' in page.text
