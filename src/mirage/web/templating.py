"""Jinja2 environments (one per locale, with gettext) and the page renderer."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_skeleton, format_time
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from mirage.config import get_settings
from mirage.kit import i18n
from mirage.kit.clock import utcnow
from mirage.kit.i18n import N_
from mirage.kit.middleware import RECEIVED_AT
from mirage.web import csrf
from mirage.web.streams import SINCE_PARAM

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
    "metrics",
    "safety",
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


def html_attrs(attrs: dict[str, Any]) -> Markup:
    """Attributes for a tag, escaped: ``True`` writes the bare name (required, disabled),
    ``False`` and ``None`` write nothing (so ``disabled=not is_admin`` does what it says)."""
    out = []
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        attr = str(name).replace("_", "-")
        out.append(f" {escape(attr)}" if value is True else f' {escape(attr)}="{escape(value)}"')
    return Markup("".join(out))  # noqa: S704 - every part is escaped above


def field_aria(errors: list[Any], described: list[str]) -> Markup:
    """A field's link to its error and hint texts (screen readers read them with the field)."""
    out = ' aria-invalid="true"' if errors else ""
    if described:
        out += f' aria-describedby="{escape(" ".join(described))}"'
    return Markup(out)  # noqa: S704 - ids are escaped above


# --- instants as the reader reads them ----------------------------------------------------

DEFAULT_ZONE = "America/Sao_Paulo"
_DAYS = {-1: N_("yesterday %(time)s"), 0: N_("today %(time)s"), 1: N_("tomorrow %(time)s")}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ValueError, KeyError):  # an unknown name: the product's default zone
        return ZoneInfo(DEFAULT_ZONE)


def describe(
    value: datetime,
    now: datetime,
    zone: str | None,
    locale: str,
    *,
    precise: bool = False,
    date_only: bool = False,
) -> tuple[str, str]:
    """(what the page shows, the full instant for its tooltip) for a stored (UTC) instant, in
    the tenant's zone and the reader's language: relative when near ("em 5 min", "há 3 h ·
    hoje 11:05", "amanhã 02:00", "ontem 14:10"), a full date otherwise."""
    tz = _zone(zone)
    if value.tzinfo is None:  # stored instants are UTC
        value = value.replace(tzinfo=UTC)
    local, today = value.astimezone(tz), now.astimezone(tz)
    full = f"{format_datetime(local, 'medium', locale=locale)} ({tz.key})"
    days = (local.date() - today.date()).days
    if date_only:
        if days in _DAYS:
            return i18n.text(locale, _DAYS[days], time="").strip(), full
        return format_date(local, "short", locale=locale), full
    clock = format_time(local, "medium" if precise else "short", locale=locale)
    seconds = (value - now).total_seconds()
    ahead, span = seconds > 0, abs(seconds)
    day = i18n.text(locale, _DAYS[days], time=clock) if days in _DAYS else None
    if span < 60 and not precise:
        return i18n.text(locale, N_("now")), full
    if span < 3600 and not precise:
        n = max(1, round(span / 60))
        return i18n.text(locale, N_("in %(n)s min") if ahead else N_("%(n)s min ago"), n=n), full
    if span < 12 * 3600 and day is not None and not precise:
        n = round(span / 3600)
        rel = i18n.text(locale, N_("in %(n)s h") if ahead else N_("%(n)s h ago"), n=n)
        return f"{rel} · {day}", full
    if day is not None:
        return day, full
    if abs(days) < 7:
        weekday = format_date(local, "EEEE", locale=locale)
        return f"{weekday} {clock}", full
    return format_datetime(local, "short", locale=locale), full


@pass_context
def when(
    ctx: Context, value: datetime | None, precise: bool = False, date_only: bool = False
) -> Markup:
    """Every instant a page shows goes through here (``{{ when(x.created_at) }}``): the
    tenant's zone, the reader's language, relative when near, the exact instant in the
    ``<time>``'s ``datetime`` and ``title``."""
    if value is None:
        return Markup("")
    locale = str(ctx.get("locale") or i18n.DEFAULT_LOCALE)
    text, full = describe(
        value, utcnow(), ctx.get("tz"), locale, precise=precise, date_only=date_only
    )
    instant = value if value.tzinfo else value.replace(tzinfo=UTC)
    iso = instant.astimezone(UTC).isoformat(timespec="seconds")
    return Markup('<time datetime="%s" title="%s">%s</time>') % (iso, full, text)


@pass_context
def day_month(ctx: Context, value: date) -> str:
    """A calendar day (already in the tenant's zone) as day and month, the reader's way:
    10/03 in pt-BR, 3/10 in English."""
    return format_skeleton("dM", value, locale=str(ctx.get("locale") or i18n.DEFAULT_LOCALE))


# Clocks of the API processes (one machine or several) agree within this: a live page asks
# its stream for the changes since a little before it was read.
LIVE_CLOCK_SLACK_S = 1.0


@pass_context
def live_url(ctx: Context, path: str) -> str:
    """A live stream's URL for this page: it carries when the request arrived, so the stream
    knows whether the page may have missed a change before it listened (kit.live.sse_response).
    Every ``sse-connect`` uses it (tests/web/test_live_resync.py)."""
    request = ctx.get("request")
    received = request.scope.get(RECEIVED_AT) if request is not None else None
    if not isinstance(received, float):
        received = time.time()
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}{SINCE_PARAM}={received - LIVE_CLOCK_SLACK_S:.3f}"


def request_zone(request: Request) -> str:
    """The zone of the tenant the reader is working in."""
    current = getattr(request.state, "current", None)
    tenant = getattr(current, "tenant", None)
    return str(getattr(tenant, "timezone", None) or DEFAULT_ZONE)


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
    env.globals["html_attrs"] = html_attrs
    env.globals["when"] = when
    env.globals["day_month"] = day_month
    env.globals["field_aria"] = field_aria
    env.globals["live_url"] = live_url
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
        "tz": request_zone(request),
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
