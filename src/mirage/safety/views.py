"""Dashboard: a number's safety page — its risk score and band, the score over the last day,
the timeline of its signals and the actions taken; quarantine and release (admins)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mirage.auth.deps import DashboardPrincipal, StepUpDashboardPrincipal
from mirage.auth.principal import Principal
from mirage.db.deps import DbSession
from mirage.kit.errors import DomainError
from mirage.kit.i18n import N_
from mirage.models.tenancy import Role
from mirage.policy import BAND_LABELS
from mirage.policy.ramp import stage_cap
from mirage.safety import service
from mirage.safety.score import SignalKind
from mirage.web.csrf import csrf_protect
from mirage.web.forms import NO_ERRORS, clean, form_errors
from mirage.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

#: What the timeline calls each kind of entry (catalog ids).
KIND_LABELS: dict[str, str] = {
    SignalKind.DISCONNECT: N_("Disconnected"),
    SignalKind.SEND_FAILED: N_("Send failed"),
    SignalKind.NOT_ACKED: N_("Send never acknowledged"),
    SignalKind.TIME_LOCK: N_("Reach-out time lock"),
    SignalKind.OPT_OUT: N_("Opt-out received"),
    SignalKind.BLOCKED: N_("Blocked by a recipient"),
    SignalKind.QR_LOOP: N_("QR code limit reached"),
    SignalKind.BAND_CHANGED: N_("Risk band changed"),
    SignalKind.AUTO_PAUSED: N_("Paused automatically"),
    SignalKind.QUARANTINED: N_("Quarantined"),
    SignalKind.RELEASED: N_("Released from quarantine"),
    SignalKind.RECOVERY: N_("Recovery ladder"),
}
REASON_LABEL = {"reason": N_("Reason")}


async def _context(
    session: DbSession, principal: Principal, instance_id: uuid.UUID
) -> dict[str, Any]:
    instance = await service.get_number(session, principal, instance_id)
    risk = (await service.risks(session, [instance_id]))[instance_id]
    points = await service.chart(session, principal, instance_id)
    entries = await service.timeline(session, principal, instance_id, limit=100)
    stage = await service.number_stage(session, principal, instance)
    return {
        "stage": stage,
        "stage_cap": None if stage is None else stage_cap(stage),
        "instance": instance,
        "risk": risk,
        "entries": entries,
        "kind_labels": KIND_LABELS,
        "band_labels": BAND_LABELS,
        "chart": {
            "labels": [at.isoformat() for at, _s in points],
            "scores": [s for _at, s in points],
        },
        "can_admin": principal.role.at_least(Role.ADMIN),
        "errors": NO_ERRORS,
        "form": {},
    }


@router.get("/instances/{instance_id}/safety")
async def page(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    ctx = await _context(session, principal, instance_id)
    return render(request, "safety/page.html", ctx)


async def _again(
    request: Request,
    session: DbSession,
    principal: Principal,
    instance_id: uuid.UUID,
    exc: DomainError,
    action: str,
    reason: str,
) -> Response:
    """The page again, the error next to the reason field of the form that was sent."""
    ctx = await _context(session, principal, instance_id)
    ctx.update(errors=form_errors(exc, REASON_LABEL), form={"action": action, "reason": reason})
    return render(request, "safety/page.html", ctx, status_code=exc.status_code)


@router.post("/instances/{instance_id}/quarantine")
async def quarantine(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    instance_id: uuid.UUID,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        await service.quarantine_number(session, principal, instance_id, clean(reason))
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        return await _again(
            request, session, principal, instance_id, exc, "quarantine", clean(reason)[:300]
        )
    return RedirectResponse(f"/instances/{instance_id}/safety", status_code=303)


@router.post("/instances/{instance_id}/release")
async def release(
    request: Request,
    session: DbSession,
    principal: StepUpDashboardPrincipal,
    instance_id: uuid.UUID,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        await service.release_quarantine(session, principal, instance_id, clean(reason))
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        return await _again(
            request, session, principal, instance_id, exc, "release", clean(reason)[:300]
        )
    return RedirectResponse(f"/instances/{instance_id}/safety", status_code=303)
