"""The numbers page and the API read from the database in a fixed number of statements,
whatever the number of numbers (no per-row queries, no gateway calls), and set the tenant
context once per request: the first page, a page further on, a filtered page alike."""

from __future__ import annotations

import re

import httpx
import psycopg

from mirage.db.engine import Database
from tests import factories
from tests.conftest import TenantFixture, make_token, sign_in, sql
from tests.statement_cost import warm_cost


def _add_numbers(conninfo: str, t: TenantFixture, n: int) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for _ in range(n):
            factories.instances(conn, t.tenant_id)


async def _connect_some(conninfo: str, t: TenantFixture) -> None:
    """About half of the numbers connected days ago: their warm-up stage reads the days they
    sent on (in bulk, then from the cache the send decisions share)."""
    await sql(
        conninfo,
        "update instances set first_connected_at = now() - interval '12 days' where tenant_id "
        "= %s and first_connected_at is null and get_byte(uuid_send(id), 15) %% 2 = 0",
        t.tenant_id,
    )


def _href(html: str, rel: str) -> str:
    match = re.search(rf'href="([^"]+)" rel="{rel}"', html)
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def _next_href(html: str) -> str:
    return _href(html, "next")


def _prev_href(html: str) -> str:
    return _href(html, "prev")


def _contexts(seen: list[str]) -> int:
    return sum("set_config('app.tenant_id'" in s for s in seen)


async def test_the_numbers_page_costs_the_same_statements_for_2_or_40_numbers(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    database: Database,
    bootstrap_conninfo: str,
) -> None:
    await sign_in(client, tenant_a)
    _add_numbers(bootstrap_conninfo, tenant_a, 2)
    await _connect_some(bootstrap_conninfo, tenant_a)
    few = await warm_cost(client, database, "/instances")
    _add_numbers(bootstrap_conninfo, tenant_a, 38)
    await _connect_some(bootstrap_conninfo, tenant_a)
    many = await warm_cost(client, database, "/instances")
    # Context (session, user and role cached), counts by state, the page, the page's numbers'
    # sends today and in the hour (one statement), their risk signals (one; the tenant's
    # settings and zone come from the cache).
    assert len(many) == len(few) <= 5, many
    assert _contexts(many) == 1, many


async def test_every_page_of_the_numbers_page_costs_the_same_statements(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    database: Database,
    bootstrap_conninfo: str,
) -> None:
    await sign_in(client, tenant_a)
    _add_numbers(bootstrap_conninfo, tenant_a, 120)  # three pages of 50
    first = await warm_cost(client, database, "/instances")
    page = await client.get("/instances")
    second_url = _next_href(page.text)
    second = await warm_cost(client, database, second_url)
    third = await warm_cost(client, database, _next_href((await client.get(second_url)).text))
    back = await warm_cost(client, database, _prev_href((await client.get(second_url)).text))
    filtered = await warm_cost(client, database, "/instances?state=close")
    assert len(first) == len(second) == len(third) == len(back) == len(filtered) <= 5, second
    assert all(_contexts(s) == 1 for s in (first, second, third, back, filtered))


async def test_the_api_costs_the_same_statements_for_2_or_40_numbers(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    database: Database,
    bootstrap_conninfo: str,
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    _add_numbers(bootstrap_conninfo, tenant_a, 2)
    await _connect_some(bootstrap_conninfo, tenant_a)
    few = await warm_cost(client, database, "/api/v1/instances", headers=auth)
    _add_numbers(bootstrap_conninfo, tenant_a, 38)
    await _connect_some(bootstrap_conninfo, tenant_a)
    many = await warm_cost(client, database, "/api/v1/instances", headers=auth)
    # Context, token (with its creator's role), the list, the listed numbers' sends today and
    # in the hour (one statement) and their risk signals (one; settings and zone cached).
    assert len(many) == len(few) == 5, many
    assert _contexts(many) == 1, many
    me = await warm_cost(client, database, "/api/v1/me", headers=auth)
    assert len(me) == 3 and _contexts(me) == 1, me  # context, token, tenant and user


async def test_every_page_of_the_api_list_costs_the_same_statements(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    database: Database,
    bootstrap_conninfo: str,
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    _add_numbers(bootstrap_conninfo, tenant_a, 250)
    url: str | None = "/api/v1/instances?limit=100"
    costs = []
    while url:
        seen = await warm_cost(client, database, url, headers=auth)
        costs.append(len(seen))
        assert _contexts(seen) == 1, seen
        url = (await client.get(url, headers=auth)).links.get("next", {}).get("url")
    # 100 + 100 + 50, each: context, token, the page, its sends and its signals.
    assert costs == [5, 5, 5], costs
