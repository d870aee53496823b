"""Dashboard: personas list, create, edit and delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal
from mirage.db.deps import DbSession
from mirage.kit.errors import DomainError
from mirage.models.tenancy import Role
from mirage.personas import service
from mirage.personas.schemas import PersonaIn
from mirage.web.csrf import csrf_protect
from mirage.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _form_to_model(form: dict[str, str]) -> PersonaIn:
    def pct(name: str) -> float:
        raw = form.get(name, "").replace(",", ".").replace("%", "").strip() or "0"
        return float(raw) / 100

    return PersonaIn.model_validate(
        {
            "name": form.get("name", ""),
            "style": form.get("style", ""),
            "vocabulary": list(form.get("vocabulary", "").replace("\n", ",").split(",")),
            "emoji_rate": pct("emoji_rate"),
            "typo_rate": pct("typo_rate"),
            "min_length": form.get("min_length", "0") or "0",
            "max_length": form.get("max_length", "0") or "0",
            "greetings": {
                "morning": _lines(form.get("greet_morning", "")),
                "afternoon": _lines(form.get("greet_afternoon", "")),
                "night": _lines(form.get("greet_night", "")),
            },
        }
    )


def _errors(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        out.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return out


async def _read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


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
    form = await _read_form(request)
    try:
        await service.create_persona(session, principal, _form_to_model(form))
    except (ValidationError, ValueError, DomainError) as exc:
        errors = (
            _errors(exc)
            if isinstance(exc, ValidationError)
            else [exc.detail if isinstance(exc, DomainError) else str(exc)]
        )
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
    form = await _read_form(request)
    try:
        await service.update_persona(session, principal, persona_id, _form_to_model(form))
    except (ValidationError, ValueError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (403, 404):
            raise
        errors = (
            _errors(exc)
            if isinstance(exc, ValidationError)
            else [exc.detail if isinstance(exc, DomainError) else str(exc)]
        )
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
