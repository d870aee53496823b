"""Every dashboard form, posted with invalid values: every message is in the reader's language
(pt-BR, and English when English is chosen), shown next to its field (aria-invalid and
aria-describedby), and the form comes back with the values typed.

Forms are discovered, not listed: the pages of every GET route (parameters set to real ids)
are rendered and each form with a field a person types or chooses is posted, with an invalid
value for every field chosen from the field's own markup (its type, list, options). A new
form or field is covered without editing this test; a form that cannot be checked this way
is in EXEMPT, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from importlib import resources
from typing import Any

from babel.messages.pofile import read_po

from tests.conftest import GatewayWorld
from tests.web.dashboard import (
    UNSAFE,
    asgi_get,
    client_for,
    get_paths,
    page_routes,
    route_for,
    seed,
)

# Route paths (as declared) of forms this test does not post, and why.
EXEMPT = {
    "/signin": "credentials: one message for both fields, by design (never which one is wrong)",
    "/language": "a choice from a fixed list; an unknown value falls back to the default",
    "/tenant": "a choice of the user's own tenants; another id is a 403/404 page",
    "/instances/{instance_id}/pairing-code": (
        "HTMX: only its result area is replaced, so the form stays as typed; the input's "
        "aria-describedby points at that area"
    ),
}
TYPED = ("text", "number", "email", "tel", "url", "search", "time", "color", "textarea")


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    action: str
    fields: list[Node] = field(default_factory=list)


class Page(HTMLParser):
    """The forms (with their fields), and the text of every element that has an id."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "option"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.by_id: dict[str, Node] = {}
        self.alerts: list[str] = []
        self._form: Form | None = None
        self._open: list[Node] = []
        self._select: Node | None = None
        self._alert_depth: list[Node] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        node = Node(tag, a)
        if tag == "form":
            action = a.get("hx-post") or (a.get("action") if a.get("method") == "post" else "")
            self._form = Form(action) if action else None
            if self._form:
                self.forms.append(self._form)
        if tag in ("input", "select", "textarea") and self._form is not None and a.get("name"):
            self._form.fields.append(node)
        if tag == "select":
            self._select = node
        if tag == "option" and self._select is not None:
            self._select.options.append(a.get("value", ""))
            if "selected" in a:
                self._select.attrs["value"] = a.get("value", "")
        if "id" in a:
            self.by_id[a["id"]] = node
        if "alert-error" in a.get("class", "").split():
            self._alert_depth.append(node)
        if tag not in self.VOID:
            self._open.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if tag == "select":
            self._select = None
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                closed = self._open[i]
                del self._open[i:]
                if self._alert_depth and self._alert_depth[-1] is closed:
                    self._alert_depth.pop()
                    self.alerts.append(" ".join(closed.text.split()))
                break

    def handle_data(self, data: str) -> None:
        for node in self._open:
            node.text += data

    def form(self, action: str) -> Form | None:
        return next((f for f in self.forms if f.action == action), None)


def kind(node: Node) -> str:
    return (
        "textarea"
        if node.tag == "textarea"
        else node.tag
        if node.tag == "select"
        else (node.attrs.get("type") or "text")
    )


def invalid(node: Node, variant: int) -> str | None:
    """An invalid value for a field, from its own markup (None: leave it out)."""
    t, a = kind(node), node.attrs
    if t == "hidden":
        return a.get("value", "")
    if t in ("checkbox", "file", "submit", "button"):
        return None
    if t == "select" or t == "radio":
        return "opcao-invalida"
    if t == "number":
        if variant == 0:
            return "abc"
        top = a.get("max")
        return str(int(float(top)) * 10 + 1) if top else "-5"
    if "list" in a:
        return "Marte/Olympus"
    values = {
        "email": "nao-e-um-email",
        "tel": "12ab",
        "time": "25:99",
        "color": "azul",
        "url": "ftp://exemplo",
        "password": "x",
    }
    if t in values:
        return values[t]
    if "required" in a:
        return ""
    if a.get("maxlength"):
        return "digitado " + "x" * int(a["maxlength"])  # one more than it may hold
    return "digitado ✓"


@cache
def patterns(locale: str) -> list[re.Pattern[str]]:
    """Every catalog text of ``locale`` (English: the message ids) as a pattern; texts that
    are mostly placeholders match anything and are left out."""
    path = resources.files("mirage").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    out = []
    for m in catalog:
        if not isinstance(m.id, str) or not m.id:
            continue
        text = m.id if locale == "en" else str(m.string or "")
        literal = re.sub(r"%\(\w+\)s|%%", "", text)
        if len(literal.strip(" :.()·—-")) < 6:
            continue
        parts = re.split(r"(%\(\w+\)s|%%)", text)
        regex = "".join(
            ".+?" if p.startswith("%(") else "%" if p == "%%" else re.escape(p) for p in parts
        )
        out.append(re.compile(regex))
    return out


def translated(text: str, locale: str) -> bool:
    """A shown message is one of the catalog's texts in the reader's language (its values
    filled in): an exception's text or another language's does not match."""
    return any(p.fullmatch(text) for p in patterns(locale))


def check_response(
    path: str, form: Form, data: dict[str, str], status: int, html: str, locale: str
) -> None:
    where = (path, locale, {k: v[:30] for k, v in data.items()})
    assert 400 <= status < 500, (where, status, html[-1500:])
    page = Page(html)
    again = page.form(form.action)
    assert again is not None, (where, "the form is not shown again")
    # Every error shown next to a field is described by that field, which is marked invalid.
    described: set[str] = set()
    for node in again.fields:
        if node.attrs.get("aria-invalid") == "true":
            ids = node.attrs.get("aria-describedby", "").split()
            assert ids, (where, node.attrs.get("name"), "invalid without a description")
            described.update(ids)
    for fs in page.by_id.values():
        if fs.attrs.get("aria-invalid") == "true":
            described.update(fs.attrs.get("aria-describedby", "").split())
    errors = {i: page.by_id[i] for i in described if "error" in i and i in page.by_id}
    assert errors, (where, "no error attached to a field", page.alerts)
    shown = [" ".join(n.text.split()) for n in errors.values()] + page.alerts
    for text in shown:
        assert translated(text, locale), (where, f"not a {locale} catalog text: {text!r}")
    # The values typed are shown again (not those a person cannot type back).
    for node in again.fields:
        name, t = node.attrs.get("name", ""), kind(node)
        if name not in data or t not in TYPED:
            continue
        value = node.text if t == "textarea" else node.attrs.get("value", "")
        assert value.strip() == data[name].strip(), (where, name, value[:60], data[name][:60])


async def test_every_form_shows_translated_errors_next_to_fields_and_keeps_values(
    gw: GatewayWorld, app: Any
) -> None:
    async with client_for(app) as client:
        s = await seed(client)
        cookies = dict(client.cookies.items())
        routes = page_routes(UNSAFE)
        found: dict[str, tuple[str, Form]] = {}  # route path -> (page, form)
        for path in get_paths(s.ids):
            page = await asgi_get(app, path, cookies)
            if not page.content_type.startswith("text/html"):
                continue
            for form in Page(page.body.decode()).forms:
                route = route_for(form.action, routes)
                assert route is not None, form.action
                typed = [n for n in form.fields if kind(n) not in ("hidden", "submit", "button")]
                if route.path in EXEMPT or not typed:
                    continue  # exempt, or nothing a person types (a button with hidden fields)
                best = found.get(route.path)
                if best is None or len(form.fields) > len(best[1].fields):
                    found[route.path] = (path, form)
        # The discovery works: the main forms of every domain are among those posted.
        assert {
            "/settings/cadence",
            "/settings/tokens",
            "/personas",
            "/personas/{persona_id}",
            "/conversations",
            "/instances",
            "/contacts",
            "/contacts/{contact_id}",
            "/contacts/tags",
            "/contacts/suppressions",
            "/contacts/imports/{import_id}/start",
            "/contacts/imports/upload",
        } <= set(found), sorted(found)
        posted = 0
        for locale in ("pt_BR", "en"):
            token = client.cookies.get("mirage_csrf") or s.csrf
            await client.post("/language", data={"lang": locale, "csrf_token": token})
            for route_path, (_page, form) in sorted(found.items()):
                has_numbers = any(kind(n) == "number" for n in form.fields)
                for variant in (0, 1) if has_numbers else (0,):
                    data: dict[str, str] = {}
                    for node in form.fields:
                        value = invalid(node, variant)
                        if value is not None:
                            data.setdefault(node.attrs["name"], value)
                    data["csrf_token"] = client.cookies.get("mirage_csrf") or s.csrf
                    files = (
                        {"file": ("", b"", "text/csv")}
                        if any(kind(n) == "file" for n in form.fields)
                        else None
                    )
                    r = await client.post(form.action, data=data, files=files)
                    check_response(route_path, form, data, r.status_code, r.text, locale)
                    posted += 1
        assert posted >= 2 * len(found)
