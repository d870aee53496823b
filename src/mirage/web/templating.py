"""Jinja2 environments (one per locale, with gettext) and the page renderer."""

from __future__ import annotations

from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mirage.config import get_settings
from mirage.kit import i18n
from mirage.web import csrf

# Each domain keeps its pages in <domain>/templates/<domain>/...; web/ holds the layout.
TEMPLATE_PACKAGES = (
    "web",
    "auth",
    "tenants",
    "instances",
    "personas",
    "conversations",
    "contacts",
    "outreach",
)
LANG_COOKIE = "mirage_lang"
# Helpers a domain's templates need, registered by that domain (``add_global``) so that web/
# imports no domain.
_GLOBALS: dict[str, Any] = {}


def add_global(name: str, value: Any) -> None:
    """Make ``value`` available to every template as ``name`` (environments built already
    included: Jinja reads its globals at render time)."""
    _GLOBALS[name] = value
    for locale in _BUILT:
        environment(locale).globals[name] = value


_BUILT: set[str] = set()


def _template_dirs() -> list[str]:
    root = Path(str(resources.files("mirage")))
    return [str(root / pkg / "templates") for pkg in TEMPLATE_PACKAGES]


@cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(_template_dirs()),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Checking each template's file for changes costs a stat() per template per render
        # (and per include or import): only worth it while editing them.
        auto_reload=get_settings().env == "dev",
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    # Replace Jinja's newstyle callables: they turn *any* argument into Markup and format it,
    # so a variable holding user text (an error message) would be unescaped HTML or a 500 on a
    # stray '%'. Ours treat only catalog ids as format strings and escape everything else.
    env.globals["gettext"] = partial(i18n.markup, locale)
    env.globals["ngettext"] = partial(i18n.nmarkup, locale)
    # A value to show translated (an error Message, a role): ``message(e)``, never ``_(e)``,
    # so templates read as what they are; a catalog id is translated, anything else escaped.
    env.globals["message"] = partial(i18n.markup, locale)
    env.globals["LANGUAGES"] = i18n.LABELS
    env.globals.update(_GLOBALS)
    _BUILT.add(locale)
    return env


def request_locale(request: Request) -> str:
    cached = getattr(request.state, "locale", None)
    if cached:
        return str(cached)
    current = getattr(request.state, "current", None)
    locale = (
        i18n.normalize(request.cookies.get(LANG_COOKIE))
        or (i18n.normalize(current.user.locale) if current is not None else None)
        or i18n.negotiate(request.headers.get("accept-language"))
    )
    request.state.locale = locale
    return locale


def translate(request: Request, message: i18n.Translatable, **params: object) -> str:
    """Plain translated text (escaped by the template when shown); user values go in params."""
    return i18n.gettext_for(request_locale(request), message, **params)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = request_locale(request)
    token = csrf.token_for(request)
    ctx = {
        "request": request,
        "current": getattr(request.state, "current", None),
        "csrf_token": token,
        "locale": locale,
        "html_lang": i18n.html_lang(locale),
        "path": request.url.path,
        **(context or {}),
    }
    html = environment(locale).get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if getattr(request.state, "new_csrf", None) == token:
        csrf.set_cookie(response, token)
        presession = getattr(request.state, "new_presession", None)
        if presession:
            csrf.set_presession_cookie(response, presession)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["Content-Language"] = i18n.html_lang(locale)
    return response


# Fragments (HTMX swaps, SSE rows) go through the same renderer: same locale, same CSRF token.
render_fragment = render
