"""/api/v1/settings: the tenant's cadence, limits and AI provider."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal
from mirage.auth.service import require
from mirage.db.deps import DbSession
from mirage.kit.errors import NotFound
from mirage.tenants import settings as tenant_settings
from mirage.tenants.repository import TenantRepository
from mirage.web.errors import API_ERRORS

router = APIRouter(prefix="/settings", tags=["settings"], responses=API_ERRORS)


# The API's body is the settings model itself.
SettingsIn = tenant_settings.CadenceSettings


class SettingsOut(BaseModel):
    timezone: str
    country: str
    delay_min_s: int
    delay_max_s: int
    quiet_start: time | None
    quiet_end: time | None
    hourly_cap_per_number: int
    daily_cap_per_number: int
    burst_per_hour: int
    min_gap_seconds: int
    reply_timeout_s: int
    kill_switch: bool
    ai_base_url: str | None
    ai_model: str | None
    ai_key_set: bool
    updated_at: datetime


async def _out(session: Any, principal: Any) -> SettingsOut:
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    tenant = await TenantRepository(session).get(principal.tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return SettingsOut(
        timezone=tenant.timezone,
        country=tenant.country,
        delay_min_s=row.delay_min_s,
        delay_max_s=row.delay_max_s,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        hourly_cap_per_number=row.hourly_cap_per_number,
        daily_cap_per_number=row.daily_cap_per_number,
        burst_per_hour=row.burst_per_hour,
        min_gap_seconds=row.min_gap_seconds,
        reply_timeout_s=row.reply_timeout_s,
        kill_switch=row.kill_switch,
        ai_base_url=row.ai_base_url,
        ai_model=row.ai_model,
        ai_key_set=bool(row.ai_key_enc),
        updated_at=row.updated_at,
    )


@router.get("", response_model=SettingsOut)
async def get_settings(session: DbSession, principal: ApiPrincipal) -> SettingsOut:
    require(principal, "read")
    return await _out(session, principal)


@router.put("", response_model=SettingsOut)
async def put_settings(
    body: SettingsIn, session: DbSession, principal: ApiPrincipal
) -> SettingsOut:
    await tenant_settings.update_settings(session, principal, body)
    await session.refresh(await tenant_settings.get_or_create(session, principal.tenant_id))
    return await _out(session, principal)


SecurityIn = tenant_settings.SecuritySettings


class SecurityOut(tenant_settings.SecuritySettings):
    updated_at: datetime


@router.get("/security", response_model=SecurityOut)
async def get_security(session: DbSession, principal: ApiPrincipal) -> SecurityOut:
    """The tenant's two-factor rule: MFA mandatory for owners and admins, step-up window."""
    require(principal, "read")
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    return SecurityOut(
        mfa_required=row.mfa_required,
        step_up_minutes=row.step_up_minutes,
        updated_at=row.updated_at,
    )


@router.put("/security", response_model=SecurityOut)
async def put_security(
    body: SecurityIn, session: DbSession, principal: StepUpApiPrincipal
) -> SecurityOut:
    """Change the two-factor rule (a sensitive operation: admin token created under a step-up)."""
    row = await tenant_settings.update_security(session, principal, body)
    return SecurityOut(
        mfa_required=row.mfa_required,
        step_up_minutes=row.step_up_minutes,
        updated_at=row.updated_at,
    )
