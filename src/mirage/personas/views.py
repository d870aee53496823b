"""Dashboard: personas list, create, edit and delete."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal
from mirage.db.deps import DbSession
from mirage.kit.errors import DomainError
from mirage.kit.i18n import N_
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.personas import service
from mirage.personas.schemas import PersonaIn
from mirage.web.csrf import csrf_protect
from mirage.web.forms import (
    NO_ERRORS,
    FieldErrors,
    FormInvalid,
    decimal_number,
    form_errors,
    read_form,
    whole_number,
)
from mirage.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


# Field names as the form shows them (for error messages).
LABELS = {
    "name": N_("Name"),
    "style": N_("Style"),
    "vocabulary": N_("Vocabulary hints"),
    "emoji_rate": N_("Emoji rate"),
    "typo_rate": N_("Typo rate"),
    "min_length": N_("Minimum length"),
    "max_length": N_("Maximum length"),
    "greetings": N_("Greetings"),
    "morning": N_("Morning greetings"),
    "afternoon": N_("Afternoon greetings"),
    "night": N_("Night greetings"),
}
audit.label_fields(LABELS)  # the audit page names fields as the form
# Model fields whose form input has another name (and rules across fields: where to show them).
FIELDS = {
    "greetings.morning": "greet_morning",
    "greetings.afternoon": "greet_afternoon",
    "greetings.night": "greet_night",
    "morning": "greet_morning",
    "afternoon": "greet_afternoon",
    "night": "greet_night",
    "max_length must be at least min_length": "max_length",
}


def _form_to_model(form: dict[str, str]) -> PersonaIn:
    """The persona a form describes; every field that does not parse is reported at once
    (``FormInvalid``), the model's own rules after that."""
    errors = FieldErrors()
    # Rates are typed as percentages: checked as such, stored as fractions.
    emoji = errors.attempt(
        lambda: decimal_number(form, "emoji_rate", LABELS["emoji_rate"], low=0, high=100), 0.0
    )
    typo = errors.attempt(
        lambda: decimal_number(form, "typo_rate", LABELS["typo_rate"], low=0, high=50), 0.0
    )
    lengths = {
        name: errors.attempt(partial(whole_number, form, name, LABELS[name], 0), 0)
        for name in ("min_length", "max_length")
    }
    try:
        model = PersonaIn.model_validate(
            {
                "name": form.get("name", ""),
                "style": form.get("style", ""),
                "vocabulary": list(form.get("vocabulary", "").replace("\n", ",").split(",")),
                "emoji_rate": emoji / 100,
                "typo_rate": typo / 100,
                **lengths,
                "greetings": {
                    "morning": _lines(form.get("greet_morning", "")),
                    "afternoon": _lines(form.get("greet_afternoon", "")),
                    "night": _lines(form.get("greet_night", "")),
                },
            }
        )
    except ValidationError as exc:
        raise FormInvalid(errors.merge(form_errors(exc, LABELS, FIELDS))) from exc
    if errors:
        raise FormInvalid(errors)
    return model


@router.get("/personas")
async def list_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(
        request,
        "personas/list.html",
        {
            "personas": await service.list_personas(session, principal),
            "can_edit": principal.role.at_least(Role.OPERATOR),
            "form": {},
            "errors": NO_ERRORS,
        },
    )


@router.post("/personas")
async def create(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    form = await read_form(request)
    try:
        await service.create_persona(session, principal, _form_to_model(form))
    except (FormInvalid, ValidationError, DomainError, ValueError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403):
            raise
        errors = exc.errors if isinstance(exc, FormInvalid) else form_errors(exc, LABELS, FIELDS)
        status = exc.status_code if isinstance(exc, DomainError) else 422
        return render(
            request,
            "personas/list.html",
            {
                "personas": await service.list_personas(session, principal),
                "can_edit": principal.role.at_least(Role.OPERATOR),
                "form": form,
                "errors": errors,
            },
            status_code=status,
        )
    return RedirectResponse("/personas", status_code=303)


@router.get("/personas/{persona_id}")
async def edit_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, persona_id: uuid.UUID
) -> Response:
    p = await service.get_persona(session, principal, persona_id)
    form = {
        "name": p.name,
        "style": p.style,
        "vocabulary": ", ".join(p.vocabulary),
        "emoji_rate": f"{p.emoji_rate * 100:g}",
        "typo_rate": f"{p.typo_rate * 100:g}",
        "min_length": str(p.min_length),
        "max_length": str(p.max_length),
        "greet_morning": "\n".join(p.greetings.get("morning", [])),
        "greet_afternoon": "\n".join(p.greetings.get("afternoon", [])),
        "greet_night": "\n".join(p.greetings.get("night", [])),
    }
    return render(
        request,
        "personas/edit.html",
        {
            "persona": p,
            "form": form,
            "errors": NO_ERRORS,
            "can_edit": principal.role.at_least(Role.OPERATOR),
        },
    )


@router.post("/personas/{persona_id}")
async def update(
    request: Request, session: DbSession, principal: DashboardPrincipal, persona_id: uuid.UUID
) -> Response:
    p = await service.get_persona(session, principal, persona_id)
    form = await read_form(request)
    try:
        await service.update_persona(session, principal, persona_id, _form_to_model(form))
    except (FormInvalid, ValidationError, DomainError, ValueError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403, 404):
            raise
        errors = exc.errors if isinstance(exc, FormInvalid) else form_errors(exc, LABELS, FIELDS)
        return render(
            request,
            "personas/edit.html",
            {"persona": p, "form": form, "errors": errors, "can_edit": True},
            status_code=422,
        )
    return RedirectResponse("/personas", status_code=303)


@router.post("/personas/{persona_id}/delete")
async def delete(
    request: Request, session: DbSession, principal: DashboardPrincipal, persona_id: uuid.UUID
) -> Response:
    await service.delete_persona(session, principal, persona_id)
    return RedirectResponse("/personas", status_code=303)
