"""/api/v1: number safety — risk scores and bands, each number's timeline, quarantine."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal
from mirage.db.deps import DbSession
from mirage.safety import service
from mirage.safety.schemas import (
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
