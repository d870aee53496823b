"""/api/v1/outreach-policies."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from mirage.auth.deps import ApiPrincipal
from mirage.db.deps import DbSession
from mirage.outreach import service
from mirage.outreach.schemas import OutreachPolicyIn, OutreachPolicyOut
from mirage.web.errors import API_ERRORS

router = APIRouter(prefix="/outreach-policies", tags=["outreach"], responses=API_ERRORS)


@router.get("", response_model=list[OutreachPolicyOut])
async def list_policies(session: DbSession, principal: ApiPrincipal) -> list[Any]:
    return await service.list_policies(session, principal)


@router.post("", response_model=OutreachPolicyOut, status_code=201)
async def create_policy(body: OutreachPolicyIn, session: DbSession, principal: ApiPrincipal) -> Any:
    """Create a policy. 422 lists every problem (``errors``: field and detail), including a
    per-number cap above the tenant's or a gap below it: a policy only tightens them."""
    return await service.create_policy(session, principal, body)


@router.get("/{policy_id}", response_model=OutreachPolicyOut)
async def get_policy(policy_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_policy(session, principal, policy_id)


@router.put("/{policy_id}", response_model=OutreachPolicyOut)
async def update_policy(
    policy_id: uuid.UUID, body: OutreachPolicyIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.update_policy(session, principal, policy_id, body)


@router.delete("/{policy_id}", status_code=204)
async def delete_policy(
    policy_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await service.delete_policy(session, principal, policy_id)
    return Response(status_code=204)
