"""Dashboard: personas list, create, edit and delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal
from mirage.db.deps import DbSession
from mirage.kit.errors import DomainError
from mirage.kit.i18n import N_
from mirage.models.tenancy import Role
from mirage.personas import service
from mirage.personas.schemas import PersonaIn
from mirage.web.csrf import csrf_protect
from mirage.web.forms import decimal_number, error_messages, read_form, whole_number
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


def _form_to_model(form: dict[str, str]) -> PersonaIn:
    return PersonaIn.model_validate(
        {
            "name": form.get("name", ""),
            "style": form.get("style", ""),
            "vocabulary": list(form.get("vocabulary", "").replace("\n", ",").split(",")),
            "emoji_rate": decimal_number(form, "emoji_rate", LABELS["emoji_rate"]) / 100,
            "typo_rate": decimal_number(form, "typo_rate", LABELS["typo_rate"]) / 100,
            "min_length": whole_number(form, "min_length", LABELS["min_length"], 0),
            "max_length": whole_number(form, "max_length", LABELS["max_length"], 0),
            "greetings": {
                "morning": _lines(form.get("greet_morning", "")),
                "afternoon": _lines(form.get("greet_afternoon", "")),
                "night": _lines(form.get("greet_night", "")),
            },
        }
    )


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
            "errors": [],
        },
    )


@router.post("/personas")
async def create(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    form = await read_form(request)
    try:
        await service.create_persona(session, principal, _form_to_model(form))
    except (ValidationError, DomainError, ValueError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403):
            raise
        errors = error_messages(exc, LABELS)
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
            "errors": [],
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
    except (ValidationError, DomainError, ValueError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403, 404):
            raise
        errors = error_messages(exc, LABELS)
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
