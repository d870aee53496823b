"""/api/v1: number safety — risk scores and bands, each number's timeline, quarantine."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal
from mirage.db.deps import DbSession
from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_
from mirage.models.tenancy import Role
from mirage.safety import alerts, reasons, service
from mirage.safety.schemas import (
    AlertOut,
    DeliveryOut,
    ReasonRequest,
    RiskDetailOut,
    RiskOut,
    SafetySettings,
    ScorePoint,
    SignalOut,
)
from mirage.web.errors import API_ERRORS

router = APIRouter(tags=["number safety"], responses=API_ERRORS)


@router.get("/safety/risks", response_model=list[RiskOut])
async def fleet_risks(session: DbSession, principal: ApiPrincipal) -> Any:
    """Every number's risk score and band, now."""
    found = await service.risks(session, await service.number_ids(session, principal))
    return [RiskOut(instance_id=i, score=r.score, band=r.band) for i, r in found.items()]


@router.get("/instances/{instance_id}/risk", response_model=RiskDetailOut)
async def number_risk(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    """The number's risk score and band now, and over the last 24 hours."""
    await service.get_number(session, principal, instance_id)
    risk = (await service.risks(session, [instance_id]))[instance_id]
    points = await service.chart(session, principal, instance_id)
    return RiskDetailOut(
        instance_id=instance_id,
        score=risk.score,
        band=risk.band,
        last_24h=[ScorePoint(at=at, score=s) for at, s in points],
    )


@router.get("/instances/{instance_id}/timeline", response_model=list[SignalOut])
async def number_timeline(
    instance_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="A `seq`")] = None,
) -> Any:
    """The number's signals and the actions taken on them, newest first."""
    await service.get_number(session, principal, instance_id)
    return await service.timeline(session, principal, instance_id, limit=limit, before_seq=before)


@router.post("/instances/{instance_id}/quarantine", response_model=RiskOut)
async def quarantine(
    instance_id: uuid.UUID, body: ReasonRequest, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Quarantine the number (admins): it sends nothing until an admin releases it."""
    await service.quarantine_number(session, principal, instance_id, body.reason)
    risk = (await service.risks(session, [instance_id]))[instance_id]
    return RiskOut(instance_id=instance_id, score=risk.score, band=risk.band)


@router.post("/instances/{instance_id}/release", response_model=RiskOut)
async def release(
    instance_id: uuid.UUID, body: ReasonRequest, session: DbSession, principal: StepUpApiPrincipal
) -> Any:
    """Release the number from quarantine (admins, after a step-up; audited). It comes back
    paused: resume it when ready."""
    await service.release_quarantine(session, principal, instance_id, body.reason)
    risk = (await service.risks(session, [instance_id]))[instance_id]
    return RiskOut(instance_id=instance_id, score=risk.score, band=risk.band)


@router.get("/safety/settings", response_model=SafetySettings)
async def read_settings(session: DbSession, principal: ApiPrincipal) -> Any:
    """The risk bands' thresholds, the signals' half-life and the automatic pause's rules."""
    return await service.get_settings(session, principal)


@router.put("/safety/settings", response_model=SafetySettings)
async def write_settings(body: SafetySettings, session: DbSession, principal: ApiPrincipal) -> Any:
    """Change them (admins; audited): the very next decision uses them."""
    return await service.update_settings(session, principal, body.model_dump())


# --- alerts -----------------------------------------------------------------------------------


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            N_("give the time as ISO 8601 with its offset (e.g. 2026-03-01T00:00:00-03:00)"),
            field="before",
        ) from None


def alert_out(view: alerts.AlertView) -> AlertOut:
    a = view.alert
    return AlertOut(
        id=a.id,
        kind=a.kind,
        state="open" if a.resolved_at is None else "resolved",
        band=a.band,
        instance_id=a.instance_id,
        number_name=view.number_name,
        reason=reasons.english(a.reason),
        reason_code=reasons.code_of(a.reason),
        opened_at=a.opened_at,
        resolved_at=a.resolved_at,
        resolved_reason=reasons.english(a.resolved_reason),
        resolved_reason_code=reasons.code_of(a.resolved_reason),
        deliveries=[DeliveryOut.model_validate(d) for d in view.deliveries],
    )


@router.get("/alerts", response_model=list[AlertOut], tags=["alerts"])
async def list_alerts(
    session: DbSession,
    principal: ApiPrincipal,
    state: Literal["open", "resolved", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=r"^\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:?\d{2})$",
            description="An `opened_at` (ISO 8601 with its offset): the next page, older alerts.",
        ),
    ] = None,
) -> Any:
    """The number-safety alerts, newest first: open (default), resolved or all; each with
    its delivery attempts to the tenant's webhook and e-mail."""
    views = await alerts.list_alerts(
        session, principal, state, limit=limit, before=_instant(before)
    )
    return [alert_out(v) for v in views]


@router.get("/alerts/settings", response_model=alerts.AlertTargetsOut, tags=["alerts"])
async def read_alert_targets(session: DbSession, principal: ApiPrincipal) -> Any:
    """Where alerts are sent (the secrets only as "set" or not; below admin, the webhook
    URL without its path, which often carries a token)."""
    row = await alerts.get_targets(session, principal)
    return alerts.targets_out(row, full=principal.role.at_least(Role.ADMIN))


@router.put("/alerts/settings", response_model=alerts.AlertTargetsOut, tags=["alerts"])
async def write_alert_targets(
    body: alerts.AlertTargets, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Change where alerts are sent (admins; audited). The webhook URL and the SMTP server
    may not point into the deployment's own network."""
    return alerts.targets_out(await alerts.update_targets(session, principal, body))


@router.post("/alerts/test", response_model=AlertOut, status_code=202, tags=["alerts"])
async def send_test_alert(session: DbSession, principal: ApiPrincipal) -> Any:
    """Send a test alert to every configured target (admins). It is delivered by a job:
    read it again (`GET /alerts/{id}`) to see each attempt's outcome."""
    alert = await alerts.send_test(session, principal)
    return alert_out(alerts.AlertView(alert, None, ()))


@router.get("/alerts/{alert_id:uuid}", response_model=AlertOut, tags=["alerts"])
async def get_alert(alert_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    """One alert with its delivery attempts."""
    return alert_out(await alerts.get_alert(session, principal, alert_id))
