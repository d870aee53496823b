"""Dashboard: the overview page (live) and the tenant settings (API tokens, audit log)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import time, timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import service as auth_service
from mirage.auth import stepup
from mirage.auth.deps import CurrentUserDep, DashboardPrincipal, StepUpDashboardPrincipal
from mirage.auth.principal import SCOPES, Principal
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.kit.errors import DomainError, ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.kit.live import Renderer
from mirage.models import Tenant, TenantSettings
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.ops import service as ops_service
from mirage.policy import reasons
from mirage.tenants import overview
from mirage.tenants import settings as tenant_settings
from mirage.web.csrf import csrf_protect
from mirage.web.forms import (
    NO_ERRORS,
    SOME_FIELDS,
    TIME,
    FieldErrors,
    clean,
    form_errors,
    read_form,
    text_field,
    whole_number,
)
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, render

# Sections of the settings page that other domains fill (e.g. messaging's recent policy
# decisions), registered by the app at start-up so that tenants imports none of them:
# template variable -> reader of what the section shows.
SettingsSection = Callable[[AsyncSession], Awaitable[object]]
_sections: dict[str, SettingsSection] = {}


def add_settings_section(name: str, read: SettingsSection) -> None:
    _sections[name] = read


router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
add_global("audit_label", audit.label)  # the activity log's labels (tenants/settings.html)
add_global("time_zones", tenant_settings.time_zones)  # the time zone field's suggestions
# A policy decision's reason and detail in words (web/templates/_decision.html, shown on the
# settings page and in every conversation's transcript).
add_global("policy_reason", reasons.explain)
# What the overview's stream listens to: numbers, conversations (rounds, sends), settings.
LIVE_KINDS = ("instance", "conversation", "settings", "alert")


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


def _cadence_form(row: TenantSettings, tenant: Tenant | None) -> dict[str, str]:
    """The settings form's values as stored (the form shows the typed ones after an error)."""
    values = {name: str(getattr(row, name)) for name in INT_FIELDS}
    return {
        **values,
        "timezone": tenant.timezone if tenant else "",
        "country": tenant.country if tenant else "BR",
        "quiet_start": row.quiet_start.strftime("%H:%M") if row.quiet_start else "",
        "quiet_end": row.quiet_end.strftime("%H:%M") if row.quiet_end else "",
        "ai_base_url": row.ai_base_url or "",
        "ai_model": row.ai_model or "",
        "kill_switch": "on" if row.kill_switch else "",
    }


async def _settings_context(session: DbSession, principal: DashboardPrincipal) -> dict[str, object]:
    is_admin = principal.role.at_least(Role.ADMIN)
    cadence = await tenant_settings.get_or_create(session, principal.tenant_id)
    return {
        "cadence": cadence,
        "form": _cadence_form(cadence, await session.get(Tenant, principal.tenant_id)),
        "errors": NO_ERRORS,
        "token_form": {"name": "", "scopes": ["read"], "expires_in_days": "90"},
        "token_errors": NO_ERRORS,
        "security_form": {
            "mfa_required": "on" if cadence.mfa_required else "",
            "step_up_minutes": str(cadence.step_up_minutes),
        },
        "security_errors": NO_ERRORS,
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
    principal: StepUpDashboardPrincipal,
    name: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[str, Form()] = "90",
) -> Response:
    # No length limits in the declaration: a too-long value is this form's error, shown next
    # to its field with the rest of what was typed (FastAPI's would be an error page).
    ctx = await _settings_context(session, principal)
    chosen = [clean(x)[:20] for x in scopes or []]
    ctx["token_form"] = {
        "name": clean(name)[:300],
        "scopes": chosen,
        "expires_in_days": clean(expires_in_days)[:20],
    }
    errors = FieldErrors()
    label = COMMON_TOKEN_LABELS["name"]
    token_name = errors.attempt(lambda: text_field({"name": clean(name)}, "name", label, 80), "")
    if not token_name and "name" not in errors.fields:  # reported with the other fields
        errors.add("name", Message(N_("token name must have 1 to 80 characters")))
    days = errors.attempt(
        lambda: whole_number(
            {"expires_in_days": expires_in_days},
            "expires_in_days",
            COMMON_TOKEN_LABELS["expires_in_days"],
            0,
            low=0,
            high=730,
        ),
        0,
    )
    if errors:
        ctx["token_errors"] = errors
        return render(request, "tenants/settings.html", ctx, status_code=422)
    expires_at = utcnow() + timedelta(days=days) if days else None
    try:
        row, plaintext = await auth_service.create_token(
            session, principal, name=token_name, scopes=chosen, expires_at=expires_at
        )
    except DomainError as exc:
        if exc.status_code in (401, 403):
            raise
        ctx["token_errors"] = form_errors(exc, COMMON_TOKEN_LABELS, TOKEN_FIELDS)
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


COMMON_TOKEN_LABELS = {
    "name": N_("Name"),
    "scopes": N_("Scopes"),
    "expires_in_days": N_("Expires in (days, 0 = never)"),
}
TOKEN_FIELDS = {
    "token name must have 1 to 80 characters": "name",
    "scopes must be a non-empty subset of ['read', 'write', 'admin']": "scopes",
    "a token cannot have more permissions than its creator": "scopes",
}
ZONE = N_("%(field)s: choose a zone from the list, such as America/Sao_Paulo")
INT_FIELDS = (
    "delay_min_s",
    "delay_max_s",
    "hourly_cap_per_number",
    "daily_cap_per_number",
    "burst_per_hour",
    "min_gap_seconds",
    "reply_timeout_s",
)
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
    # The bounds are the settings model's: one definition, shown in the form's words.
    meta = {
        type(m).__name__: m for m in tenant_settings.CadenceSettings.model_fields[name].metadata
    }
    low = getattr(meta.get("Ge"), "ge", None)
    high = getattr(meta.get("Le"), "le", None)
    return whole_number(form, name, LABELS[name], low=low, high=high)


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
    zone = tenant_settings.canonical_zone(text_field(form, "timezone", LABELS["timezone"], 64))
    if zone is None:
        raise ValidationFailed(
            ZONE, params={"field": Message(LABELS["timezone"])}, field="timezone"
        )
    return zone


@router.post("/settings/cadence")
async def save_cadence(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    form = await read_form(request)
    errors = FieldErrors()
    ints = {name: errors.attempt(partial(_int, form, name), 0) for name in INT_FIELDS}
    zone = errors.attempt(lambda: _zone(form), "")
    quiet = {name: errors.attempt(partial(_time, form, name), None) for name in QUIET}
    texts = {
        name: errors.attempt(partial(text_field, form, name, LABELS[name], top), "")
        for name, top in (
            ("country", 2),
            ("ai_base_url", 300),
            ("ai_model", 100),
            ("ai_api_key", 500),
        )
    }
    try:
        if errors:
            raise ValidationFailed(SOME_FIELDS)
        update = tenant_settings.CadenceSettings(
            timezone=zone,
            country=texts["country"] or "BR",
            **ints,
            **quiet,
            kill_switch=form.get("kill_switch") == "on",
            ai_base_url=texts["ai_base_url"] or None,
            ai_model=texts["ai_model"] or None,
            ai_api_key=texts["ai_api_key"] or None,
        )
        await tenant_settings.update_settings(session, principal, update)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403):
            raise
        ctx = await _settings_context(session, principal)
        ctx["errors"] = errors or form_errors(exc, LABELS, CADENCE_FIELDS)
        ctx["form"] = {**form, "ai_api_key": ""}  # what was typed (never the key back)
        status = exc.status_code if isinstance(exc, DomainError) else 422
        return render(request, "tenants/settings.html", ctx, status_code=status)
    return RedirectResponse("/settings?saved=1#cadence", status_code=303)


QUIET = ("quiet_start", "quiet_end")
# Rules across fields (settings.validate): the field each one is shown next to.
CADENCE_FIELDS = {
    "delays must satisfy 1 ≤ minimum ≤ maximum ≤ 3600 seconds": "delay_max_s",
    "set both ends of the quiet hours, or neither": "quiet_end",
    "quiet hours must not start and end at the same time": "quiet_end",
}


SECURITY_LABELS = {
    "mfa_required": N_("Two-factor authentication mandatory for owners and admins"),
    "step_up_minutes": N_("Minutes a two-factor confirmation lasts"),
}
# The audit page names changed settings as these forms do.
audit.label_fields(LABELS)
audit.label_fields(SECURITY_LABELS)


@router.post("/settings/security")
async def save_security(
    request: Request, session: DbSession, principal: StepUpDashboardPrincipal
) -> Response:
    """The tenant's two-factor rule (a sensitive operation: guarded by a step-up)."""
    form = await read_form(request)
    errors = FieldErrors()
    minutes = errors.attempt(
        lambda: whole_number(
            form,
            "step_up_minutes",
            SECURITY_LABELS["step_up_minutes"],
            low=1,
            high=stepup.MAX_MINUTES,
        ),
        0,
    )
    if errors:
        ctx = await _settings_context(session, principal)
        ctx["security_errors"] = errors
        ctx["security_form"] = {
            "mfa_required": form.get("mfa_required", ""),
            "step_up_minutes": form.get("step_up_minutes", "")[:20],
        }
        return render(request, "tenants/settings.html", ctx, status_code=422)
    await tenant_settings.update_security(
        session,
        principal,
        tenant_settings.SecuritySettings(
            mfa_required=form.get("mfa_required") == "on", step_up_minutes=minutes
        ),
    )
    return RedirectResponse("/settings?security_saved=1#security", status_code=303)


@router.get("/account")
async def account(request: Request, current: CurrentUserDep) -> Response:
    return RedirectResponse("/settings", status_code=303)
