"""/api/v1/instances: the tenant's WhatsApp numbers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from mirage.auth.deps import ApiPrincipal
from mirage.db.deps import DbSession
from mirage.instances import service
from mirage.instances.schemas import (
    InstanceCreate,
    InstanceOut,
    PairingCodeRequest,
    PairingOut,
    PauseRequest,
)
from mirage.web.errors import API_ERRORS

router = APIRouter(
    prefix="/instances", tags=["numbers"], responses={**API_ERRORS, 503: API_ERRORS[400]}
)


@router.get("", response_model=list[InstanceOut])
async def list_instances(session: DbSession, principal: ApiPrincipal) -> list[Any]:
    return await service.list_instances(session, principal)


@router.post("", response_model=InstanceOut, status_code=201)
async def create_instance(body: InstanceCreate, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.create_instance(session, principal, display_name=body.display_name)


@router.get("/{instance_id}", response_model=InstanceOut)
async def get_instance(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_instance(session, principal, instance_id)


@router.delete("/{instance_id}", status_code=204)
async def delete_instance(
    instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await service.delete(session, principal, instance_id)
    return Response(status_code=204)


@router.post("/{instance_id}/connect", response_model=PairingOut)
async def connect(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.connect(session, principal, instance_id)


@router.post("/{instance_id}/pairing-code", response_model=PairingOut)
async def pairing_code(
    instance_id: uuid.UUID, body: PairingCodeRequest, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.pairing_code(session, principal, instance_id, body.phone)


@router.post("/{instance_id}/restart", status_code=202, response_class=Response)
async def restart(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Response:
    await service.restart(session, principal, instance_id)
    return Response(status_code=202)


@router.post("/{instance_id}/pause", response_model=InstanceOut)
async def pause(
    instance_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    body: PauseRequest | None = None,
) -> Any:
    """Pause the number: every send from it is refused (by the policy) until it is resumed."""
    return await service.pause(session, principal, instance_id, body.reason if body else None)


@router.post("/{instance_id}/resume", response_model=InstanceOut)
async def resume(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.resume(session, principal, instance_id)


@router.post("/{instance_id}/logout", status_code=202, response_class=Response)
async def logout(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Response:
    await service.logout(session, principal, instance_id)
    return Response(status_code=202)
