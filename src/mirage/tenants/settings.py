"""Tenant-wide cadence, limits and AI settings (read at every decision: no restart needed)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import time
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import stepup
from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.config import get_settings
from mirage.contacts.phones import check_region
from mirage.db.tenancy import current_tenant_id
from mirage.kit import crypto, jobs, live
from mirage.kit.cache import Cache
from mirage.kit.clock import utcnow
from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_
from mirage.kit.netguard import UnsafeURL, check_url
from mirage.models import SystemFlag, Tenant, TenantSettings
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.policy import TenantPolicy


class SettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self) -> TenantSettings | None:
        """The current tenant's row (RLS: no other tenant's row is visible)."""
        return (await self.session.execute(select(TenantSettings))).scalar_one_or_none()

    async def add(self, row: TenantSettings) -> TenantSettings:
        self.session.add(row)
        await self.session.flush()
        return row

    async def set_timezone(self, tenant_id: uuid.UUID, timezone: str, country: str) -> None:
        await self.session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(timezone=timezone, country=country)
        )


async def kill_switches(session: AsyncSession) -> tuple[bool, bool]:
    """(the current tenant's kill switch, the global one): read only, for the banner every
    page shows while one is on."""
    row = await SettingsRepository(session).get()
    return bool(row and row.kill_switch), await global_kill_switch(session)


# Read at every send decision and every page; a change reaches every process's cache when it
# commits (kit.cache), so a switch turned on stops the very next send anywhere.
_global_kill: Cache[bool] = Cache("global-kill-switch", tables=("system_flags",))


async def global_kill_switch(session: AsyncSession) -> bool:
    """The installation-wide kill switch (a global flag, not tenant data)."""

    async def load() -> bool:
        flag = await session.get(SystemFlag, "kill_switch")
        return bool(flag and flag.value is True)

    return await _global_kill.get_or_load(None, "kill_switch", load)


async def get_or_create(session: AsyncSession, tenant_id: uuid.UUID) -> TenantSettings:
    repo = SettingsRepository(session)
    row = await repo.get()
    if row is None:
        async with session.begin_nested():
            row = await repo.add(TenantSettings(tenant_id=tenant_id))
        await session.refresh(row)
    return row


@dataclass(frozen=True)
class Current:
    """The tenant's settings as the decisions read them: ``row`` is a copy of the stored row
    made for this caller alone (attached to no session: changing it writes nothing), with the
    tenant's zone and country."""

    row: TenantSettings
    timezone: str
    country: str


_current: Cache[tuple[dict[str, Any], str, str]] = Cache(
    "tenant-settings", tables=("tenant_settings", "tenants")
)


async def current(session: AsyncSession, tenant_id: uuid.UUID) -> Current:
    """The tenant's settings for reading (each send decision reads them): cached per process,
    dropped on every process when a change commits (kit.cache) — a change applies to the very
    next decision. Writers use ``get_or_create`` (the row in their own transaction)."""

    if current_tenant_id() != tenant_id:
        # Entries are keyed by the tenant whose RLS context read them: never another's.
        raise LookupError("settings are read under their own tenant's context only")

    async def load() -> tuple[dict[str, Any], str, str]:
        row = await get_or_create(session, tenant_id)
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise LookupError("no such tenant")
        values = {a.key: getattr(row, a.key) for a in inspect(TenantSettings).column_attrs}
        return values, tenant.timezone, tenant.country

    values, timezone, country = await _current.get_or_load(tenant_id, None, load)
    return Current(TenantSettings(**copy.deepcopy(values)), timezone, country)


UNKNOWN_ZONE = N_("Time zone: choose a zone from the list, such as America/Sao_Paulo")


@cache
def time_zones() -> tuple[str, ...]:
    """The zone names a tenant can choose (IANA's, without the legacy aliases' oddities)."""
    named = (z for z in available_timezones() if "/" in z and not z.startswith(("posix", "right")))
    return (*sorted(named), "UTC")


@cache
def _zones_by_key() -> dict[str, str]:
    return {z.lower().replace(" ", "_"): z for z in time_zones()}


def canonical_zone(name: str) -> str | None:
    """The zone a typed name means (case and spaces forgiven: "america/sao paulo"), or None."""
    return _zones_by_key().get(name.strip().lower().replace(" ", "_"))


class CadenceSettings(BaseModel):
    """The tenant's cadence, limits and AI provider: the one definition of these settings.
    The API takes it as its body, the settings form builds it from its fields, ``validate``
    adds the rules across fields, and ``as_policy`` turns a stored row into the policy
    engine's input — so a bound or a new field is written once."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(max_length=64, examples=["America/Sao_Paulo"])
    country: str = Field(
        default="BR",
        min_length=2,
        max_length=2,
        examples=["BR"],
        description="ISO 3166-1 alpha-2: the default region of the tenant's phone numbers "
        "(a number written without its country code is read as this country's).",
    )
    delay_min_s: int = Field(ge=1, le=3600)
    delay_max_s: int = Field(ge=1, le=3600)
    quiet_start: time | None = None
    quiet_end: time | None = None
    hourly_cap_per_number: int = Field(ge=0, le=1000)
    daily_cap_per_number: int = Field(ge=0, le=10000)
    burst_per_hour: int = Field(ge=0, le=100000)
    min_gap_seconds: int = Field(ge=0, le=86400)
    reply_timeout_s: int = Field(default=600, ge=30, le=86400)
    kill_switch: bool = False
    ai_base_url: str | None = Field(default=None, max_length=300)
    ai_model: str | None = Field(default=None, max_length=100)
    ai_api_key: str | None = Field(
        default=None, max_length=300, description='null keeps the current key; "" removes it'
    )


# The fields stored as they are on the settings row.
# Jobs (by name: owned by messaging and conversations) that re-decide what the old rules moved
# to later, deferred whenever the rules change.
SETTINGS_CHANGED_JOBS = ("messaging.redecide_deferred", "conversations.replan_after_settings")
ROW_FIELDS = (
    "delay_min_s",
    "delay_max_s",
    "quiet_start",
    "quiet_end",
    "hourly_cap_per_number",
    "daily_cap_per_number",
    "burst_per_hour",
    "min_gap_seconds",
    "reply_timeout_s",
    "kill_switch",
)


def as_policy(row: TenantSettings, timezone: str) -> TenantPolicy:
    """The policy engine's view of the stored settings (read fresh at every decision)."""
    return TenantPolicy(
        timezone=timezone,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        hourly_cap_per_number=row.hourly_cap_per_number,
        daily_cap_per_number=row.daily_cap_per_number,
        burst_per_hour=row.burst_per_hour,
        min_gap_seconds=row.min_gap_seconds,
        delay_min_s=row.delay_min_s,
        delay_max_s=row.delay_max_s,
        kill_switch=row.kill_switch,
        band_new_contacts_per_day=row.band_new_contacts_per_day,
    )


def validate(u: CadenceSettings) -> None:
    """The rules across fields (each field's own bounds are in the model)."""
    if check_region(u.country) is None:
        raise ValidationFailed(
            N_("country must be a two-letter country code (ISO 3166-1 alpha-2)"), field="country"
        )
    if canonical_zone(u.timezone) is None:
        raise ValidationFailed(UNKNOWN_ZONE, field="timezone")
    if not 1 <= u.delay_min_s <= u.delay_max_s <= 3600:
        raise ValidationFailed(
            "delays must satisfy 1 ≤ minimum ≤ maximum ≤ 3600 seconds", field="delay_min_s"
        )
    if (u.quiet_start is None) != (u.quiet_end is None):
        raise ValidationFailed("set both ends of the quiet hours, or neither", field="quiet_start")
    if u.quiet_start is not None and u.quiet_start == u.quiet_end:
        raise ValidationFailed(
            "quiet hours must not start and end at the same time", field="quiet_start"
        )
    for name, value, top in (
        ("hourly_cap_per_number", u.hourly_cap_per_number, 1000),
        ("daily_cap_per_number", u.daily_cap_per_number, 10000),
        ("burst_per_hour", u.burst_per_hour, 100000),
        ("min_gap_seconds", u.min_gap_seconds, 86400),
    ):
        if not 0 <= value <= top:
            raise ValidationFailed(
                N_("%(field)s: enter a value from %(low)s to %(high)s"),
                params={"field": name, "low": 0, "high": top},
                field=name,
            )
    if not 30 <= u.reply_timeout_s <= 86400:
        raise ValidationFailed(
            "the reply timeout must be between 30 s and 24 h", field="reply_timeout_s"
        )
    if u.ai_base_url:
        validate_ai_base_url(u.ai_base_url)


def validate_ai_base_url(url: str) -> None:
    """Refuse an AI base URL that points into the deployment's own network (loopback,
    private, link-local/metadata, ... in any spelling) or is not a plain http(s) URL. The
    worker checks the resolved address again at every request (DNS can change)."""
    settings = get_settings()
    if url == settings.openai_base_url:
        return  # the deployment's own endpoint
    try:
        check_url(url, settings.ai_address_policy)
    except UnsafeURL as exc:
        raise ValidationFailed(
            N_("the AI base URL is not allowed: %(why)s"),
            params={"why": str(exc)},
            field="ai_base_url",
        ) from exc


async def update_settings(
    session: AsyncSession, principal: Principal, u: CadenceSettings
) -> TenantSettings:
    require(principal, "admin", role=Role.ADMIN)
    validate(u)
    row = await get_or_create(session, principal.tenant_id)
    has_key = bool(u.ai_api_key) if u.ai_api_key is not None else bool(row.ai_key_enc)
    if u.ai_base_url and not has_key and u.ai_base_url != get_settings().openai_base_url:
        # The deployment's key is only ever sent to the deployment's own endpoint.
        raise ValidationFailed(
            N_("a custom AI base URL needs the tenant's own API key"), field="ai_api_key"
        )
    before_kill = row.kill_switch
    if before_kill and not u.kill_switch:
        # Turning a kill switch on is never delayed; turning it off is a sensitive operation.
        await stepup.require(session, principal)
    tenant = await session.get(Tenant, principal.tenant_id)
    before_rules = {f: getattr(row, f) for f in ROW_FIELDS}
    before_rules["timezone"] = tenant.timezone if tenant else None
    before = _audited(row, tenant.timezone if tenant else None, tenant.country if tenant else None)
    for field in ROW_FIELDS:
        setattr(row, field, getattr(u, field))
    row.ai_base_url = u.ai_base_url or None
    row.ai_model = u.ai_model or None
    if u.ai_api_key is not None:
        row.ai_key_enc = (
            crypto.encrypt(get_settings().resolved_secret_key(), u.ai_api_key)
            if u.ai_api_key
            else None
        )
    row.updated_at = utcnow()
    row.updated_by = principal.user_id
    country = check_region(u.country) or "BR"
    zone = canonical_zone(u.timezone) or u.timezone
    await SettingsRepository(session).set_timezone(principal.tenant_id, zone, country)
    await session.flush()
    if {**{f: getattr(row, f) for f in ROW_FIELDS}, "timezone": zone} != before_rules:
        # Sends and rounds the old rules moved to later are decided again under the new ones
        # (both ways: what they now allow goes out, what they forbid is deferred at send time).
        for job in SETTINGS_CHANGED_JOBS:
            await jobs.defer(session, job, tenant_id=principal.tenant_id)
    # Live pages (the overview's caps and kill switch alert) follow the change.
    await live.notify(session, principal.tenant_id, "settings", row.id)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="settings.update",
        target_type="tenant_settings",
        target_id=row.id,
        before=before,
        after=_audited(row, zone, country),
    )
    return row


def _audited(row: TenantSettings, timezone: str | None, country: str | None) -> dict[str, Any]:
    """What the audit log compares before and after a settings change (the AI key only as
    "changed": ``ai_api_key`` is a secret name, its ciphertext is never shown)."""
    return {
        **audit.snapshot(row, (*ROW_FIELDS, "ai_base_url", "ai_model")),
        "ai_api_key": row.ai_key_enc,
        "timezone": timezone,
        "country": country,
    }


def ai_key(row: TenantSettings) -> str | None:
    if not row.ai_key_enc:
        return None
    return crypto.decrypt(get_settings().resolved_secret_key(), row.ai_key_enc)


class SecuritySettings(BaseModel):
    """The tenant's MFA rule (auth.stepup): the API's body and what the form builds."""

    model_config = ConfigDict(extra="forbid")

    # Strict: a number or a string is not a yes/no (0 must not quietly turn MFA off).
    mfa_required: StrictBool = Field(
        default=True,
        description="Owners and admins must have two-factor authentication to do sensitive "
        "operations (until they enroll they can look, not act).",
    )
    step_up_minutes: int = Field(
        default=stepup.DEFAULT_MINUTES,
        ge=1,
        le=stepup.MAX_MINUTES,
        description="How long a two-factor verification allows sensitive operations.",
    )


async def update_security(
    session: AsyncSession, principal: Principal, u: SecuritySettings
) -> TenantSettings:
    """Change the tenant's MFA rule (admins; the route is step-up guarded). Audited with the
    values before and after."""
    require(principal, "admin", role=Role.ADMIN)
    await stepup.require(session, principal)
    row = await get_or_create(session, principal.tenant_id)
    before = audit.snapshot(row, ("mfa_required", "step_up_minutes"))
    row.mfa_required = u.mfa_required
    row.step_up_minutes = u.step_up_minutes
    row.updated_at = utcnow()
    row.updated_by = principal.user_id
    await session.flush()
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="security.update",
        target_type="tenant_settings",
        target_id=row.id,
        before=before,
        after=audit.snapshot(row, ("mfa_required", "step_up_minutes")),
    )
    return row
