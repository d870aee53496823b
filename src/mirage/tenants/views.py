"""Dashboard: the overview page (live) and the tenant settings (API tokens, audit log)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import service as auth_service
from mirage.auth.deps import CurrentUserDep, DashboardPrincipal
from mirage.auth.principal import SCOPES, Principal
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.kit.errors import DomainError, ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.kit.live import Renderer
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.ops import service as ops_service
from mirage.tenants import overview
from mirage.tenants import settings as tenant_settings
from mirage.web.csrf import csrf_protect
from mirage.web.forms import TIME, clean, error_messages, read_form, text_field, whole_number
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, render, translate

# Sections of the settings page that other domains fill (e.g. messaging's recent policy
# decisions), registered by the app at start-up so that tenants imports none of them:
# template variable -> reader of what the section shows.
SettingsSection = Callable[[AsyncSession], Awaitable[object]]
_sections: dict[str, SettingsSection] = {}


def add_settings_section(name: str, read: SettingsSection) -> None:
    _sections[name] = read


router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
add_global("audit_label", audit.label)  # the activity log's labels (tenants/settings.html)
# What the overview's stream listens to: numbers, conversations (rounds, sends), settings.
LIVE_KINDS = ("instance", "conversation", "settings")


@router.get("/")
async def home(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    """The overview: the fleet at a glance and what needs an operator now (tenants.overview)."""
    current = getattr(request.state, "current", None)
    ov = await overview.build(session, principal, tenant=current.tenant if current else None)
    return render(request, "tenants/home.html", _overview_context(ov, principal))


def _overview_context(ov: overview.Overview, principal: Principal) -> dict[str, object]:
    return {
        "ov": ov,
        "system": {"checks": {"worker": ov.worker}},
        "is_admin": principal.role.at_least(Role.ADMIN),
        "steps": overview.STEPS,
    }


@router.get("/partials/overview")
async def overview_partial(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    """The overview's live part (the page polls it as a fallback to its stream)."""
    current = getattr(request.state, "current", None)
    ov = await overview.build(session, principal, tenant=current.tenant if current else None)
    return render(request, "tenants/_overview_live.html", _overview_context(ov, principal))


@router.get("/overview/events")
async def overview_events(request: Request) -> Response:
    """Server-sent events: the overview's live part, re-rendered when a number, a conversation
    (its rounds and sends) or the settings change — at most once a second however busy the
    fleet (the events of that second are rendered together)."""

    def renderer(principal: Principal) -> Renderer:
        async def render_live(event: dict[str, object]) -> list[tuple[str, str]]:
            with tenant_context(principal.tenant_id, principal.user_id):
                async with get_database().sessions() as session, session.begin():
                    ov = await overview.build(session, principal)
                    html = render(
                        request, "tenants/_overview_live.html", _overview_context(ov, principal)
                    )
            return [("overview", bytes(html.body).decode())]

        return render_live

    return await open_stream(request, LIVE_KINDS, renderer, coalesce_s=1.0)


@router.get("/partials/worker-status")
async def worker_status(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(
        request, "tenants/_worker_status.html", {"system": await ops_service.readiness(session)}
    )


@router.get("/partials/kill-switch")
async def kill_switch_banner(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    """The banner every page shows while a kill switch is on (base.html loads it and polls
    it, so turning the switch on or off in another tab shows within half a minute)."""
    tenant_on, global_on = await tenant_settings.kill_switches(session)
    return render(
        request,
        "tenants/_kill_switch.html",
        {
            "tenant_on": tenant_on,
            "global_on": global_on,
            "is_admin": principal.role.at_least(Role.ADMIN),
        },
    )


async def _settings_context(session: DbSession, principal: DashboardPrincipal) -> dict[str, object]:
    is_admin = principal.role.at_least(Role.ADMIN)
    cadence = await tenant_settings.get_or_create(session, principal.tenant_id)
    return {
        "cadence": cadence,
        **{name: await read(session) for name, read in _sections.items()},
        "tokens": await auth_service.list_tokens(session, principal),
        "audit": await audit.recent(session, 15) if is_admin else [],
        "scopes": [s for s in SCOPES if s in principal.scopes],
        "is_admin": is_admin,
        "now": utcnow(),
    }


@router.get("/settings")
async def settings_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(request, "tenants/settings.html", await _settings_context(session, principal))


@router.post("/settings/tokens")
async def create_token(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    name: Annotated[str, Form(max_length=200)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[str, Form(max_length=5)] = "90",
) -> Response:
    ctx = await _settings_context(session, principal)
    try:
        days = int(expires_in_days) if expires_in_days.strip() else 0
        if days < 0 or days > 730:
            raise ValueError
    except ValueError:
        ctx["token_error"] = translate(request, "Expiry must be a number of days from 0 to 730.")
        return render(request, "tenants/settings.html", ctx, status_code=422)
    expires_at = utcnow() + timedelta(days=days) if days else None
    try:
        row, plaintext = await auth_service.create_token(
            session,
            principal,
            name=clean(name),
            scopes=[clean(x) for x in scopes or []],
            expires_at=expires_at,
        )
    except DomainError as exc:
        ctx["token_error"] = translate(request, exc.message)
        return render(request, "tenants/settings.html", ctx, status_code=exc.status_code)
    ctx["tokens"] = await auth_service.list_tokens(session, principal)
    ctx["new_token"] = {"name": row.name, "value": plaintext}
    return render(request, "tenants/settings.html", ctx, status_code=201)


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(
    session: DbSession, principal: DashboardPrincipal, token_id: uuid.UUID
) -> Response:
    await auth_service.revoke_token(session, principal, token_id)
    return RedirectResponse("/settings#tokens", status_code=303)


ZONE = N_("%(field)s: use a zone name such as America/Sao_Paulo")
# Field names as the form shows them (for error messages).
LABELS = {
    "timezone": N_("Time zone"),
    "country": N_("Country of the phone numbers"),
    "ai_base_url": N_("AI base URL"),
    "ai_model": N_("AI model"),
    "ai_api_key": N_("AI API key"),
    "delay_min_s": N_("Minimum delay (s)"),
    "delay_max_s": N_("Maximum delay (s)"),
    "quiet_start": N_("Quiet hours start"),
    "quiet_end": N_("Quiet hours end"),
    "hourly_cap_per_number": N_("Messages per hour per number"),
    "daily_cap_per_number": N_("Messages per day per number"),
    "burst_per_hour": N_("Burst limit per hour (all numbers)"),
    "min_gap_seconds": N_("Minimum gap between sends (s)"),
    "reply_timeout_s": N_("Reply timeout (s)"),
}


def _int(form: dict[str, str], name: str) -> int:
    return whole_number(form, name, LABELS[name])


def _time(form: dict[str, str], name: str) -> time | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        hh, mm = raw.split(":")[:2]
        if not (hh + mm).isascii():
            raise ValueError
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValidationFailed(TIME, params={"field": Message(LABELS[name])}, field=name) from exc


def _zone(form: dict[str, str]) -> str:
    zone = text_field(form, "timezone", LABELS["timezone"], 64)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValidationFailed(
            ZONE, params={"field": Message(LABELS["timezone"])}, field="timezone"
        ) from exc
    return zone


@router.post("/settings/cadence")
async def save_cadence(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    form = await read_form(request)
    try:
        update = tenant_settings.CadenceSettings(
            timezone=_zone(form),
            country=text_field(form, "country", LABELS["country"], 2) or "BR",
            delay_min_s=_int(form, "delay_min_s"),
            delay_max_s=_int(form, "delay_max_s"),
            quiet_start=_time(form, "quiet_start"),
            quiet_end=_time(form, "quiet_end"),
            hourly_cap_per_number=_int(form, "hourly_cap_per_number"),
            daily_cap_per_number=_int(form, "daily_cap_per_number"),
            burst_per_hour=_int(form, "burst_per_hour"),
            min_gap_seconds=_int(form, "min_gap_seconds"),
            reply_timeout_s=_int(form, "reply_timeout_s"),
            kill_switch=form.get("kill_switch") == "on",
            ai_base_url=text_field(form, "ai_base_url", LABELS["ai_base_url"], 300) or None,
            ai_model=text_field(form, "ai_model", LABELS["ai_model"], 100) or None,
            ai_api_key=text_field(form, "ai_api_key", LABELS["ai_api_key"], 500) or None,
        )
        await tenant_settings.update_settings(session, principal, update)
    except ValidationError as exc:  # a field's bounds, from the one settings model
        ctx = await _settings_context(session, principal)
        ctx["cadence_error"] = "; ".join(translate(request, m) for m in error_messages(exc, LABELS))
        return render(request, "tenants/settings.html", ctx, status_code=422)
    except DomainError as exc:
        if exc.status_code in (401, 403):
            raise
        ctx = await _settings_context(session, principal)
        ctx["cadence_error"] = translate(request, exc.message)
        return render(request, "tenants/settings.html", ctx, status_code=exc.status_code)
    return RedirectResponse("/settings?saved=1#cadence", status_code=303)


@router.get("/account")
async def account(request: Request, current: CurrentUserDep) -> Response:
    return RedirectResponse("/settings", status_code=303)
