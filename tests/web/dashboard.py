"""Discovery helpers for the dashboard probes: routes from the app, forms from rendered pages.

A new page, form, field or stream is covered by the probes without editing them: routes come
from the routers the app mounts (``PAGE_ROUTERS``) and fields from the HTML the pages render.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi.routing import APIRoute

from mirage.app import PAGE_ROUTERS
from tests.conftest import TenantFixture, make_tenant, make_token, sign_in
from tests.conversations.conftest import PERSONA

PARAM = re.compile(r"\{(\w+)\}")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def page_routes(methods: Iterable[str]) -> list[APIRoute]:
    wanted = set(methods)
    return [
        r
        for router in PAGE_ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute) and set(r.methods or ()) & wanted
    ]


def fill(path: str, ids: dict[str, str]) -> str:
    """A route path with its parameters set to real ids of the seeded tenant (else random)."""
    return PARAM.sub(lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


def route_for(path: str, routes: Iterable[APIRoute]) -> APIRoute | None:
    return next((r for r in routes if r.path_regex.match(path.split("?")[0])), None)


def client_for(app: Any, ip: str | None = None) -> httpx.AsyncClient:
    """An ASGI client; its own client address keeps per-IP rate limits apart from other tests."""
    ip = ip or f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@dataclass
class Seeded:
    tenant: TenantFixture
    csrf: str
    ids: dict[str, str] = field(default_factory=dict)


async def seed(client: httpx.AsyncClient, role: str = "owner") -> Seeded:
    """A tenant with a row of every kind the pages show, signed in on ``client``."""
    t = await make_tenant(role)
    owner = t if role == "owner" else await make_tenant("owner")
    if owner is not t:
        from mirage.db.engine import session_scope
        from mirage.models.tenancy import Role
        from mirage.tenants import service

        async with session_scope() as session:
            await service.add_member(
                session, tenant_id=owner.tenant_id, user_id=t.user_id, role=Role(role)
            )
    auth = {"Authorization": f"Bearer {await make_token(owner)}"}
    ids: dict[str, str] = {}
    numbers = []
    for name in ("Probe A", "Probe B"):
        r = await client.post("/api/v1/instances", headers=auth, json={"display_name": name})
        assert r.status_code == 201, r.text
        numbers.append(r.json()["id"])
    r = await client.post("/api/v1/personas", headers=auth, json={"name": "Probe", **PERSONA})
    assert r.status_code == 201, r.text
    ids["persona_id"] = r.json()["id"]
    r = await client.post(
        "/api/v1/conversations",
        headers=auth,
        json={
            "name": "Probe talk",
            "participants": [{"instance_id": n, "persona_id": ids["persona_id"]} for n in numbers],
            "topics": ["futebol"],
            "state": "paused",
        },
    )
    assert r.status_code == 201, r.text
    ids["conversation_id"] = r.json()["id"]
    ids["instance_id"] = numbers[0]
    r = await client.get("/api/v1/tokens", headers=auth)
    ids["token_id"] = r.json()[0]["id"] if r.status_code == 200 and r.json() else ""
    ids.update(await _seed_contacts(client, auth))
    r = await client.post("/api/v1/outreach-policies", headers=auth, json={"name": "Probe policy"})
    assert r.status_code == 201, r.text
    ids["policy_id"] = r.json()["id"]
    r = await client.post(
        "/api/v1/campaigns",
        headers=auth,
        json={"name": "Probe campaign", "policy_id": ids["policy_id"], "variants": ["Oi {nome}"]},
    )
    assert r.status_code == 201, r.text
    ids["campaign_id"] = r.json()["id"]
    csrf = await sign_in(client, t)
    if owner is not t:
        await client.post("/tenant", data={"tenant_id": str(owner.tenant_id), "csrf_token": csrf})
    ids["tenant_id"] = str(owner.tenant_id)
    return Seeded(t, csrf, ids)


async def _seed_contacts(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    """A contact, a tag, a suppression and an uploaded (not yet started) CSV import."""
    r = await client.post(
        "/api/v1/contacts",
        headers=auth,
        json={
            "phone": "11987654321",
            "name": "Probe Contact",
            "legal_basis": "consent",
            "provenance_source": "probe",
            "tags": ["probe"],
        },
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    r = await client.post(
        "/api/v1/suppressions", headers=auth, json={"phone": "11912345678", "reason": "manual"}
    )
    assert r.status_code == 201, r.text
    suppression_id = r.json()["id"]
    csv = b"nome;celular;cidade\nAna;11987650001;Santos\n"
    r = await client.post(
        "/api/v1/contact-imports", headers=auth, files={"file": ("probe.csv", csv, "text/csv")}
    )
    assert r.status_code == 201, r.text
    return {
        "contact_id": contact["id"],
        "tag_id": contact["tags"][0]["id"],
        "suppression_id": suppression_id,
        "import_id": r.json()["import"]["id"],
    }


# --- forms in rendered HTML ----------------------------------------------------------------


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """Every form (method=post or hx-post) and every hx-post element, with its named fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._open: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = a.get("hx-post") or (a.get("action") if a.get("method") == "post" else "")
            self._open = Form(action) if action else None
            if self._open:
                self.forms.append(self._open)
            return
        if "hx-post" in a and tag != "form":
            self.forms.append(Form(a["hx-post"]))
        if self._open is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            if a.get("type") in ("checkbox", "radio"):
                self._open.fields.setdefault(name, a.get("value") or "on")
            else:
                self._open.fields[name] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self._open.fields[name] = ""
        elif tag == "select":
            self._select = name
            self._open.fields[name] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._open is not None and self._textarea:
            self._open.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


class _Options(HTMLParser):
    """The first (or selected) option of every select, by name."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "select":
            self._select = a.get("name")
        elif (
            tag == "option"
            and self._select
            and (self._select not in self.values or "selected" in a)
        ):
            self.values[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms_in(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    options = _Options()
    options.feed(html)
    for form in parser.forms:
        for name in form.fields:
            if name in options.values and not form.fields[name]:
                form.fields[name] = options.values[name]
    return parser.forms


# --- raw ASGI GET (a live stream's headers without waiting for its end) --------------------


@dataclass
class Probe:
    status: int
    content_type: str
    body: bytes


async def asgi_get(app: Any, path: str, cookies: dict[str, str], ip: str = "10.0.0.1") -> Probe:
    """GET ``path`` on the app; an event stream is cut as soon as its headers arrive (httpx's
    ASGI transport would wait for a stream to end)."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()),
        ],
        "client": (ip, 4321),
        "server": ("testserver", 80),
    }
    started: dict[str, Any] = {}
    body = bytearray()
    is_stream = asyncio.Event()
    disconnected = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not started.get("sent_request"):
            started["sent_request"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started["status"] = message["status"]
            headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            started["content_type"] = headers.get("content-type", "")
            if started["content_type"].startswith("text/event-stream"):
                is_stream.set()
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    task = asyncio.create_task(app(scope, receive, send))
    waiter = asyncio.create_task(is_stream.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        disconnected.set()
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    waiter.cancel()
    return Probe(started.get("status", 0), started.get("content_type", ""), bytes(body))


def get_paths(ids: dict[str, str]) -> list[str]:
    return sorted({fill(r.path, ids) for r in page_routes({"GET"})})
