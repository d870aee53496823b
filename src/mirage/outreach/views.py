"""Dashboard: outreach policies (Políticas de envio) — list, create, edit, delete.

A refused form comes back with what was typed and each message under its field."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import time
from functools import partial
from typing import Any, Literal, TypeVar

from babel.dates import get_day_names
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal
from mirage.auth.principal import Principal
from mirage.db.deps import DbSession
from mirage.kit.errors import DomainError, ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.models import OutreachPolicy
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.outreach import service
from mirage.outreach.schemas import (
    CONTACT_ORDER,
    LABELS,
    NO_OVERLAP,
    ZONED_TIME,
    OutreachPolicyIn,
)
from mirage.policy import Daypart
from mirage.web.csrf import csrf_protect
from mirage.web.forms import (
    TIME,
    error_list_messages,
    read_form,
    text_field,
    whole_number,
)
from mirage.web.templating import add_global, render, request_locale

# The audit page names a policy's changed fields as its form does.
audit.label_fields(LABELS)

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

DAYPART_LABELS = {
    Daypart.NIGHT: N_("Night (00–06)"),
    Daypart.MORNING: N_("Morning (06–12)"),
    Daypart.AFTERNOON: N_("Afternoon (12–18)"),
    Daypart.EVENING: N_("Evening (18–24)"),
}
FIX_BELOW = N_("The policy was not saved: correct the fields marked below.")
# Messages of rules across fields, and the field each belongs under.
FIELD_OF = {CONTACT_ORDER: "contact_end", NO_OVERLAP: "dayparts", ZONED_TIME: "contact_start"}
OPTIONAL_INTS = (
    "number_hourly_cap",
    "number_daily_cap",
    "campaign_hourly_cap",
    "campaign_daily_cap",
    "min_gap_seconds",
)
REQUIRED_INTS = ("validity_minutes", "duplicate_limit", "duplicate_window_minutes")

FieldErrors = dict[str, list[Message]]
T = TypeVar("T")


def _time(form: dict[str, str], name: str) -> time:
    raw = form.get(name, "").strip()
    try:
        hh, mm = raw.split(":")[:2]
        if not (hh + mm).isascii() or not (hh + mm).isdigit():
            raise ValueError
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValidationFailed(TIME, params={"field": Message(LABELS[name])}, field=name) from exc


def _keywords(raw: str) -> list[str]:
    return [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]


def parse_form(form: dict[str, str]) -> tuple[OutreachPolicyIn, FieldErrors]:
    """The submitted form as the API's body, and the problems of each field — all of them at
    once: a field that does not parse is reported and replaced by a neutral value so that the
    others are still checked. With problems, the body returned is unvalidated (for the
    tighten-only check of what did parse), never to be saved."""
    errors: FieldErrors = {}
    defaults = OutreachPolicyIn(name="-")
    values: dict[str, Any] = {}

    def take(name: str, read: Callable[[], T], substitute: object) -> None:
        try:
            values[name] = read()
        except ValidationFailed as exc:
            errors.setdefault(name, []).append(exc.message)
            values[name] = substitute

    take("name", lambda: text_field(form, "name", LABELS["name"], 80), "-")
    for name in OPTIONAL_INTS:
        if form.get(name, "").strip():
            take(name, partial(whole_number, form, name, LABELS[name]), None)
        else:
            values[name] = None
    for name in REQUIRED_INTS:
        take(name, partial(whole_number, form, name, LABELS[name]), getattr(defaults, name))
    take("contact_start", partial(_time, form, "contact_start"), defaults.contact_start)
    take("contact_end", partial(_time, form, "contact_end"), defaults.contact_end)
    values["weekdays"] = [d for d in range(7) if form.get(f"weekday_{d}") == "on"]
    values["dayparts"] = [p.value for p in Daypart if form.get(f"daypart_{p.value}") == "on"]
    values["skip_holidays"] = form.get("skip_holidays") == "on"
    values["optout_keywords"] = _keywords(form.get("optout_keywords", ""))
    take(
        "confirmation_text",
        partial(text_field, form, "confirmation_text", LABELS["confirmation_text"], 500),
        defaults.confirmation_text,
    )
    try:
        data = OutreachPolicyIn.model_validate(values)
    except ValidationError as exc:
        for name, messages in _by_field(exc.errors(include_input=False, include_url=False)).items():
            if name not in errors:  # a field that did not parse is reported once
                errors.setdefault(name, []).extend(messages)
        return OutreachPolicyIn.model_construct(**values), errors
    return data, errors


async def _parse(
    session: DbSession, principal: Principal, form: dict[str, str]
) -> tuple[OutreachPolicyIn, FieldErrors]:
    """``parse_form``, plus — when something else is wrong already — the tighten-only
    problems, so that one submission shows every problem (saving checks them again)."""
    data, errors = parse_form(form)
    if errors:
        limits = await service.tenant_limits(session, principal)
        for name, message in service.tighten_problems(data, limits):
            if name not in errors:
                errors[name] = [message]
    return data, errors


def _by_field(errs: list[Any]) -> FieldErrors:
    found: FieldErrors = {}
    for err in errs:
        (message,) = error_list_messages([err], LABELS)
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        field = loc[0] if loc else FIELD_OF.get(message.msgid, "")
        found.setdefault(field, []).append(message)
    return found


def _domain_errors(exc: DomainError) -> FieldErrors:
    if isinstance(exc, service.PolicyInvalid):
        found: FieldErrors = {}
        for name, message in exc.problems:
            found.setdefault(name, []).append(message)
        return found
    return {str(exc.extra.get("field", "")): [exc.message]}


def _form_of(p: OutreachPolicy | None) -> dict[str, str]:
    """The form's fields for a stored policy (None: the defaults of a new one)."""
    data = OutreachPolicyIn(name="-") if p is None else p
    form = {
        "name": "" if p is None else p.name,
        **{name: _num(getattr(data, name)) for name in (*OPTIONAL_INTS, *REQUIRED_INTS)},
        "contact_start": f"{data.contact_start:%H:%M}",
        "contact_end": f"{data.contact_end:%H:%M}",
        "optout_keywords": ", ".join(data.optout_keywords),
        "confirmation_text": data.confirmation_text,
    }
    if data.skip_holidays:
        form["skip_holidays"] = "on"
    for d in data.weekdays:
        form[f"weekday_{d}"] = "on"
    for part in data.dayparts:
        form[f"daypart_{Daypart(part).value}"] = "on"
    return form


def _day_names(width: Literal["abbreviated", "wide"], locale: str) -> list[str]:
    """The locale's weekday names, Monday first (Babel keys them 0 = Monday, but orders them
    as the locale's week starts: Sunday first in Brazil)."""
    names = get_day_names(width, locale=locale)
    return [str(names[d]) for d in range(7)]


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


async def _context(
    request: Request,
    session: DbSession,
    principal: Principal,
    *,
    form: dict[str, str],
    errors: FieldErrors,
) -> dict[str, object]:
    locale = request_locale(request)
    limits = await service.tenant_limits(session, principal)
    return {
        "policies": await service.list_policies(session, principal),
        "can_edit": principal.role.at_least(Role.ADMIN),
        "form": form,
        "errors": errors,
        "summary": errors.get("", []),
        "labels": LABELS,
        "limits": limits,
        "weekday_names": _day_names("abbreviated", locale),
        "weekday_wide": _day_names("wide", locale),
        "dayparts": [(p.value, DAYPART_LABELS[p]) for p in Daypart],
        "built_in_keywords": service.BUILT_IN_KEYWORDS,
        "fix_below": FIX_BELOW if errors else None,
    }


@router.get("/outreach-policies")
async def list_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    ctx = await _context(request, session, principal, form=_form_of(None), errors={})
    return render(request, "outreach/policies.html", ctx)


@router.post("/outreach-policies")
async def create(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    service.require_editor(principal)
    form = await read_form(request)
    data, errors = await _parse(session, principal, form)
    status = 422
    if not errors:
        try:
            await service.create_policy(session, principal, data)
        except DomainError as exc:
            if exc.status_code in (401, 403):
                raise
            errors, status = _domain_errors(exc), exc.status_code
    if not errors:
        return RedirectResponse("/outreach-policies?saved=1", status_code=303)
    ctx = await _context(request, session, principal, form=form, errors=errors)
    return render(request, "outreach/policies.html", ctx, status_code=status)


@router.get("/outreach-policies/{policy_id}")
async def edit_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, policy_id: uuid.UUID
) -> Response:
    policy = await service.get_policy(session, principal, policy_id)
    ctx = await _context(request, session, principal, form=_form_of(policy), errors={})
    return render(request, "outreach/edit.html", {**ctx, "policy": policy})


@router.post("/outreach-policies/{policy_id}")
async def update(
    request: Request, session: DbSession, principal: DashboardPrincipal, policy_id: uuid.UUID
) -> Response:
    service.require_editor(principal)
    policy = await service.get_policy(session, principal, policy_id)
    form = await read_form(request)
    data, errors = await _parse(session, principal, form)
    status = 422
    if not errors:
        try:
            await service.update_policy(session, principal, policy_id, data)
        except DomainError as exc:
            if exc.status_code in (401, 403, 404):
                raise
            errors, status = _domain_errors(exc), exc.status_code
    if not errors:
        return RedirectResponse("/outreach-policies?saved=1", status_code=303)
    ctx = await _context(request, session, principal, form=form, errors=errors)
    return render(request, "outreach/edit.html", {**ctx, "policy": policy}, status_code=status)


@router.post("/outreach-policies/{policy_id}/delete")
async def delete(
    request: Request, session: DbSession, principal: DashboardPrincipal, policy_id: uuid.UUID
) -> Response:
    await service.delete_policy(session, principal, policy_id)
    return RedirectResponse("/outreach-policies", status_code=303)


def clock(value: time, *, end: bool = False) -> str:
    """A policy's time of day (not an instant: no zone applies) as HH:MM; an end of 00:00
    is midnight, shown as 24:00."""
    if end and value == time(0):
        return "24:00"
    return f"{value.hour:02d}:{value.minute:02d}"


add_global("policy_clock", clock)
