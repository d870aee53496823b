"""Every dashboard form, every field, hostile values: never a 5xx, never the markup reflected.

Forms are discovered, not listed: every unsafe route of the routers the app mounts is posted,
with the fields its rendered forms carry (pages of every GET route, parameters set to real ids)
plus the form parameters the route declares. A new form or field is covered automatically.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import GatewayWorld
from tests.web.dashboard import (
    UNSAFE,
    asgi_get,
    client_for,
    fill,
    forms_in,
    get_paths,
    page_routes,
    route_for,
    seed,
)

XSS = "<img src=x onerror=alert(1)>"
SSTI = "{{7*'7'}}"
HOSTILE = [
    XSS,
    "5%",
    "%(x)s",
    "%s%d%n",
    SSTI,
    "9" * 5000,
    "x" * 5000,
    "١٢٣",  # Arabic-Indic digits: int() accepts them
    "５",  # full-width digit
    "",
    "-1",
    "1e309",
    "nan",
    "' or 1=1 --",
    "a\x00b\x1b[31m",  # NUL: PostgreSQL refuses it in text
    "\u202eevil\ufeff",
]


def _order(path: str) -> tuple[bool, bool, bool, str]:
    # Destructive actions last, so that the forms of the objects they remove are probed first.
    destructive = path.endswith(("/delete", "/logout", "/revoke", "/signout"))
    # Creating routes (a collection: "/conversations") just before them: each accepted variant
    # adds an object that every later probe's page would render (the calendar's 422 page draws
    # a week of every conversation), which made one shard take four times as long as the others.
    creates = path.count("/") == 1
    return (path == "/signout", destructive, creates, path)


def _check(path: str, data: dict[str, Any], status: int, ctype: str, text: str, loc: str) -> None:
    where = (path, {k: v[:40] for k, v in data.items()})
    assert status < 500, (where, status, text[:800])
    assert XSS not in loc and "<img" not in loc, where
    if "html" in ctype:
        assert XSS not in text, where
        assert "7777777" not in text, where  # the template engine never evaluates input


# The unsafe routes are probed in this many tests (pytest-xdist runs them in parallel), each
# with its own tenant and session; every route is probed by exactly one of them.
SHARDS = 3
# The week-grid schedule editor (conversations' calendar) repeats Monday's cells for six more
# days; every cell goes through the same parser, so each is probed alone only on Monday (all
# of them still get every hostile value at once, in the first variants).
REPEATED_CELL = re.compile(r"^w[1-6]_\d+_(start|end)$")


def _probed(fields: dict[str, str]) -> list[str]:
    """The fields that each get the hostile values alone."""
    return [name for name in fields if not REPEATED_CELL.match(name)]


def _shard(targets: dict[str, dict[str, str]], shard: int) -> list[str]:
    """This shard's paths, in probing order: routes dealt out largest first (by the number of
    posts they get) to the shard with the fewest posts so far, so the shards take about as
    long; every path is in exactly one shard."""
    load = [0] * SHARDS
    owner: dict[str, int] = {}
    for path in sorted(targets, key=lambda p: (-len(targets[p]), p)):
        k = load.index(min(load))
        owner[path] = k
        load[k] += (len(_probed(targets[path])) + 1) * len(HOSTILE)
    return sorted((p for p in targets if owner[p] == shard), key=_order)


@pytest.mark.parametrize("shard", range(SHARDS))
async def test_every_form_field_survives_hostile_values(
    gw: GatewayWorld, app: Any, shard: int
) -> None:
    async with client_for(app) as client:
        s = await seed(client)
        cookies = dict(client.cookies.items())
        rendered: dict[str, dict[str, str]] = {}
        for path in get_paths(s.ids):
            page = await asgi_get(app, path, cookies)
            assert page.status < 500, (path, page.status, page.body[:500])
            if page.content_type.startswith("text/html"):
                for form in forms_in(page.body.decode()):
                    rendered.setdefault(form.action.split("?")[0], {}).update(form.fields)
        routes = page_routes(UNSAFE)
        # Every form a page renders posts to a route we probe (nothing posts elsewhere).
        for action in rendered:
            assert route_for(action, routes) is not None, action
        # The pages we seeded do show the main forms (the discovery works).
        assert {"/personas", "/conversations", "/instances", "/settings/cadence"} <= set(rendered)
        assert "emoji_rate" in rendered["/personas"] and "delay_min_s" in rendered["/conversations"]

        targets: dict[str, dict[str, str]] = {}
        for route in routes:
            path = fill(route.path, s.ids)
            fields: dict[str, str] = {}
            for action, found in rendered.items():
                if route.path_regex.match(action):
                    fields.update(found)
            for param in route.dependant.body_params:
                fields.setdefault(param.alias, "")
            fields.pop("csrf_token", None)
            targets[path] = fields

        shards = [_shard(targets, k) for k in range(SHARDS)]
        assert sorted(p for paths in shards for p in paths) == sorted(targets)  # a partition
        probed = 0
        for path in shards[shard]:
            fields = targets[path]
            variants: list[dict[str, str]] = [dict.fromkeys(fields, v) for v in HOSTILE]
            for name in _probed(fields):
                variants += [{**fields, name: v} for v in HOSTILE]
            for data in variants:
                token = client.cookies.get("mirage_csrf") or s.csrf
                for headers in ({}, {"HX-Request": "true"}) if data is variants[0] else ({},):
                    r = await client.post(path, data={**data, "csrf_token": token}, headers=headers)
                    _check(
                        path,
                        data,
                        r.status_code,
                        r.headers.get("content-type", ""),
                        r.text,
                        r.headers.get("location", ""),
                    )
                    probed += 1
        assert probed > 100


async def test_error_messages_are_translated_and_escaped(gw: GatewayWorld, app: Any) -> None:
    """The reported case: a hostile value in a numeric field gives a readable, escaped message
    in the user's language (and in English), not the exception text."""
    async with client_for(app) as client:
        s = await seed(client)
        for lang, expected in (
            ("pt_BR", "Taxa de emojis: informe um número"),
            ("en", "Emoji rate: enter a number"),
        ):
            await client.post("/language", data={"lang": lang, "csrf_token": s.csrf})
            r = await client.post(
                "/personas",
                data={"name": "P", "style": "casual", "emoji_rate": XSS, "csrf_token": s.csrf},
            )
            assert r.status_code == 422 and expected in r.text, r.text[-2000:]
            assert XSS not in r.text
            r = await client.post(
                "/conversations",
                data={"name": "C", "topics": "a", "delay_min_s": "5%", "csrf_token": s.csrf},
            )
            assert r.status_code == 422, r.text[-2000:]
            r = await client.post(
                "/personas",
                data={
                    "name": "P",
                    "style": "casual",
                    "min_length": "9" * 400,
                    "csrf_token": s.csrf,
                },
            )
            assert r.status_code == 422 and "invalid literal" not in r.text
        # A declared form parameter that is too long: the form's own message, next to the
        # field (not FastAPI's error page), never the value.
        await client.post("/language", data={"lang": "pt_BR", "csrf_token": s.csrf})
        r = await client.post("/instances", data={"display_name": XSS * 40, "csrf_token": s.csrf})
        assert r.status_code == 422 and "o nome deve ter de 1 a 80 caracteres" in r.text, r.text
        assert 'aria-invalid="true"' in r.text
        assert XSS not in r.text
        # A time zone that does not exist: a translated hint, not the exception text.
        r = await client.post(
            "/settings/cadence", data={"timezone": XSS, "delay_min_s": "1", "csrf_token": s.csrf}
        )
        assert r.status_code == 422 and "Fuso horário: escolha um fuso da lista" in r.text, r.text[
            -3000:
        ]
        assert XSS not in r.text


async def test_every_page_survives_hostile_query_and_path_values(
    gw: GatewayWorld, app: Any
) -> None:
    """The GET side: each declared query parameter and each path parameter of every page gets
    the hostile values (pages, fragments and streams alike)."""
    from urllib.parse import quote

    from tests.web.dashboard import PARAM

    async with client_for(app) as client:
        s = await seed(client)
        cookies = dict(client.cookies.items())
        checked = 0
        for route in page_routes({"GET"}):
            base = fill(route.path, s.ids)
            for value in HOSTILE:
                urls = [f"{base}?{p.alias}={quote(value)}" for p in route.dependant.query_params]
                for name in PARAM.findall(route.path):
                    urls.append(fill(route.path, {**s.ids, name: quote(value, safe="")}))
                for url in urls:
                    page = await asgi_get(app, url, cookies)
                    text = page.body.decode(errors="replace")
                    _check(url, {}, page.status, page.content_type, text, "")
                    checked += 1
        assert checked > 20
