"""Dashboard: a number's safety page — its risk score and band, the score over the last day,
the timeline of its signals and the actions taken; quarantine and release (admins)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal, StepUpDashboardPrincipal
from mirage.auth.principal import Principal
from mirage.db.deps import DbSession
from mirage.kit.errors import DomainError, ValidationFailed
from mirage.kit.i18n import N_
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.policy import BAND_LABELS
from mirage.policy.ramp import stage_cap
from mirage.safety import alerts, reasons, service
from mirage.safety.schemas import SafetySettings
from mirage.safety.score import SignalKind
from mirage.web.csrf import csrf_protect
from mirage.web.forms import (
    NO_ERRORS,
    SOME_FIELDS,
    FieldErrors,
    clean,
    form_errors,
    read_form,
    text_field,
    whole_number,
)
from mirage.web.templating import add_global, render

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
    SignalKind.UNANSWERED: N_("Campaign messages unanswered"),
    SignalKind.LOW_REPLIES: N_("Low reply ratio"),
    SignalKind.LOW_DELIVERY: N_("Low delivery ratio"),
    SignalKind.LOW_READS: N_("Low read ratio"),
    SignalKind.NEW_CONTACTS: N_("Many new contacts today"),
    SignalKind.BAND_CHANGED: N_("Risk band changed"),
    SignalKind.AUTO_PAUSED: N_("Paused automatically"),
    SignalKind.QUARANTINED: N_("Quarantined"),
    SignalKind.RELEASED: N_("Released from quarantine"),
    SignalKind.RECOVERY: N_("Recovery ladder"),
}
REASON_LABEL = {"reason": N_("Reason")}
add_global("reason_shown", reasons.shown)


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


# --- the tenant's safety settings (the API's PUT /api/v1/safety/settings, as a form) --------

#: The form's fields, in its order, with their labels (catalog ids; also the audit page's).
SETTING_LABELS: dict[str, str] = {
    "risk_yellow_from": N_("Yellow band from score"),
    "risk_orange_from": N_("Orange band from score"),
    "risk_red_from": N_("Red band from score"),
    "risk_critical_from": N_("Critical band from score"),
    "risk_half_life_minutes": N_("Half-life of a signal (minutes)"),
    "band_new_contacts_per_day": N_("Yellow band: campaign messages to new contacts a day"),
    "auto_pause_error_pct": N_("Automatic pause: failed sends in the last hour (%)"),
    "auto_pause_min_sends": N_("Automatic pause: only after this many sends in the hour"),
    "auto_pause_score_jump": N_("Automatic pause: risk score jump at once"),
}
audit.label_fields(SETTING_LABELS)


def _bounds(name: str) -> tuple[int | None, int | None]:
    """A field's bounds as the API's model declares them: one definition for both."""
    meta = {type(m).__name__: m for m in SafetySettings.model_fields[name].metadata}
    return getattr(meta.get("Ge"), "ge", None), getattr(meta.get("Le"), "le", None)


add_global("safety_bounds", _bounds)


async def _settings_context(session: DbSession, principal: Principal) -> dict[str, Any]:
    row = await service.get_settings(session, principal)
    return {
        "form": {name: str(getattr(row, name)) for name in SETTING_LABELS},
        "labels": SETTING_LABELS,
        "errors": NO_ERRORS,
        "can_admin": principal.role.at_least(Role.ADMIN),
    }


@router.get("/settings/safety")
async def settings_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    ctx = await _settings_context(session, principal)
    return render(request, "safety/settings.html", ctx)


@router.post("/settings/safety")
async def save_settings(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    """Validated by the API's model (``SafetySettings``) and saved by the same service call
    (admins; audited with each changed value before and after); errors are shown next to
    their fields, translated, with what was typed kept."""
    form = await read_form(request)
    errors = FieldErrors()
    values = {
        name: errors.attempt(
            partial(whole_number, form, name, label, low=_bounds(name)[0], high=_bounds(name)[1]),
            0,
        )
        for name, label in SETTING_LABELS.items()
    }
    try:
        if errors:
            raise ValidationFailed(SOME_FIELDS)
        body = SafetySettings.model_validate(values)
        await service.update_settings(session, principal, body.model_dump())
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403):
            raise
        ctx = await _settings_context(session, principal)
        ctx["errors"] = errors or form_errors(exc, SETTING_LABELS)
        ctx["form"] = {name: form.get(name, "")[:20] for name in SETTING_LABELS}
        status = exc.status_code if isinstance(exc, DomainError) else 422
        return render(request, "safety/settings.html", ctx, status_code=status)
    return RedirectResponse("/settings/safety?saved=1", status_code=303)


# --- alerts -----------------------------------------------------------------------------------

ALERT_KIND_LABELS: dict[str, str] = {
    "risk_band": N_("Risk band"),
    "quarantine": N_("Quarantine"),
    "test": N_("Test alert"),
}
EVENT_LABELS: dict[str, str] = {
    "opened": N_("opened"),
    "resolved": N_("resolved"),
    "test": N_("test"),
}
OUTCOME_LABELS: dict[str, str] = {
    "sent": N_("delivered"),
    "failed": N_("failed"),
    "refused": N_("refused"),
}
TARGET_LABELS: dict[str, str] = {
    "webhook_url": N_("Webhook URL"),
    "webhook_secret": N_("Webhook secret"),
    "email_to": N_("Recipients"),
    "email_from": N_("Sender address"),
    "smtp_host": N_("SMTP server"),
    "smtp_port": N_("SMTP port"),
    "smtp_security": N_("Connection security"),
    "smtp_username": N_("SMTP user name"),
    "smtp_password": N_("SMTP password"),
    "email_language": N_("E-mail language"),
}
audit.label_fields(TARGET_LABELS)
STATES = ("open", "resolved", "all")


def _targets_form(row: object) -> dict[str, str]:
    out = alerts.targets_out(row)  # type: ignore[arg-type]
    return {
        "webhook_url": out.webhook_url or "",
        "email_to": ", ".join(out.email_to),
        "email_from": out.email_from or "",
        "smtp_host": out.smtp_host or "",
        "smtp_port": "" if out.smtp_port is None else str(out.smtp_port),
        "smtp_security": out.smtp_security,
        "smtp_username": out.smtp_username or "",
        "email_language": out.email_language,
    }


async def _alerts_context(session: DbSession, principal: Principal, state: str) -> dict[str, Any]:
    state = state if state in STATES else "open"
    views = await alerts.list_alerts(session, principal, state, limit=100)  # type: ignore[arg-type]
    row = await alerts.get_targets(session, principal)
    return {
        "state": state,
        "alerts": views,
        "kind_labels": ALERT_KIND_LABELS,
        "event_labels": EVENT_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "band_labels": BAND_LABELS,
        "targets": alerts.targets_out(row, full=principal.role.at_least(Role.ADMIN)),
        "can_admin": principal.role.at_least(Role.ADMIN),
        "errors": NO_ERRORS,
        "form": _targets_form(row),
    }


@router.get("/alerts")
async def alerts_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, state: str = "open"
) -> Response:
    ctx = await _alerts_context(session, principal, state)
    ctx["saved"] = request.query_params.get("saved") == "1"
    ctx["tested"] = request.query_params.get("tested") == "1"
    return render(request, "safety/alerts.html", ctx)


@router.post("/alerts/settings")
async def save_alert_targets(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    form = await read_form(request)
    errors = FieldErrors()
    texts = {
        name: errors.attempt(partial(text_field, form, name, TARGET_LABELS[name], top), "")
        for name, top in (
            ("webhook_url", 300),
            ("webhook_secret", 200),
            ("email_to", 2000),
            ("email_from", 254),
            ("smtp_host", 253),
            ("smtp_username", 254),
            ("smtp_password", 300),
        )
    }
    port: int | None = None
    if form.get("smtp_port", "").strip():
        port = errors.attempt(
            lambda: whole_number(form, "smtp_port", TARGET_LABELS["smtp_port"], low=1, high=65535),
            None,
        )
    security = form.get("smtp_security", "starttls")
    language = form.get("email_language", "pt_BR")
    try:
        if errors:
            raise ValidationFailed(SOME_FIELDS)
        update = alerts.AlertTargets(
            webhook_url=texts["webhook_url"] or None,
            # Empty: keep the stored secret ("remove" ticks say otherwise).
            webhook_secret=""
            if form.get("webhook_secret_remove") == "on"
            else texts["webhook_secret"] or None,
            email_to=[x.strip() for x in texts["email_to"].replace(";", ",").split(",")],
            email_from=texts["email_from"] or None,
            smtp_host=texts["smtp_host"] or None,
            smtp_port=port,
            smtp_security=security,
            smtp_username=texts["smtp_username"] or None,
            smtp_password=""
            if form.get("smtp_password_remove") == "on"
            else texts["smtp_password"] or None,
            email_language=language,
        )
        await alerts.update_targets(session, principal, update)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403):
            raise
        ctx = await _alerts_context(session, principal, "open")
        ctx["errors"] = errors or form_errors(exc, TARGET_LABELS)
        # What was typed, never a secret back.
        ctx["form"] = {k: form.get(k, "") for k in ctx["form"]}
        status = exc.status_code if isinstance(exc, DomainError) else 422
        return render(request, "safety/alerts.html", ctx, status_code=status)
    return RedirectResponse("/alerts?saved=1#targets", status_code=303)


@router.post("/alerts/test")
async def send_test_alert(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    try:
        await alerts.send_test(session, principal)
    except DomainError as exc:
        if exc.status_code in (401, 403):
            raise
        ctx = await _alerts_context(session, principal, "open")
        ctx["errors"] = form_errors(exc, TARGET_LABELS)
        return render(request, "safety/alerts.html", ctx, status_code=exc.status_code)
    return RedirectResponse("/alerts?state=all&tested=1", status_code=303)
