"""/api/v1/personas."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from mirage.auth.deps import ApiPrincipal
from mirage.db.deps import DbSession
from mirage.personas import service
from mirage.personas.schemas import PersonaIn, PersonaOut
from mirage.web.errors import API_ERRORS

router = APIRouter(prefix="/personas", tags=["personas"], responses=API_ERRORS)


@router.get("", response_model=list[PersonaOut])
async def list_personas(session: DbSession, principal: ApiPrincipal) -> list[Any]:
    return await service.list_personas(session, principal)


@router.post("", response_model=PersonaOut, status_code=201)
async def create_persona(body: PersonaIn, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.create_persona(session, principal, body)


@router.get("/{persona_id}", response_model=PersonaOut)
async def get_persona(persona_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_persona(session, principal, persona_id)


@router.put("/{persona_id}", response_model=PersonaOut)
async def update_persona(
    persona_id: uuid.UUID, body: PersonaIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.update_persona(session, principal, persona_id, body)


@router.delete("/{persona_id}", status_code=204)
async def delete_persona(
    persona_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await service.delete_persona(session, principal, persona_id)
    return Response(status_code=204)
