"""/api/v1: the current principal and API tokens."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from mirage.auth import service
from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal
from mirage.auth.repository import UserRepository
from mirage.auth.schemas import (
    MeOut,
    TenantOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserOut,
)
from mirage.db.deps import DbSession
from mirage.kit.errors import NotFound
from mirage.web.errors import API_ERRORS

# Kept for routers not yet moved to web.errors.API_ERRORS (import that instead).
ERRORS = API_ERRORS

router = APIRouter(responses=API_ERRORS)


@router.get("/me", response_model=MeOut, tags=["account"])
async def me(session: DbSession, principal: ApiPrincipal) -> MeOut:
    found = await UserRepository(session).tenant_and_user(principal.tenant_id, principal.user_id)
    if found is None:
        raise NotFound("tenant not found")
    tenant, user = found
    return MeOut(
        kind=principal.kind,
        tenant=TenantOut(
            id=tenant.id, name=tenant.name, slug=tenant.slug, timezone=tenant.timezone
        ),
        role=principal.role.value,
        scopes=sorted(principal.scopes),
        user=UserOut(id=user.id, email=user.email, display_name=user.display_name)
        if user
        else None,
        token_id=principal.token_id,
    )


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"])
async def list_tokens(session: DbSession, principal: ApiPrincipal) -> list[Any]:
    return await service.list_tokens(session, principal)


@router.post("/tokens", response_model=TokenCreated, status_code=201, tags=["tokens"])
async def create_token(
    body: TokenCreate, session: DbSession, principal: StepUpApiPrincipal
) -> TokenCreated:
    row, plaintext = await service.create_token(
        session, principal, name=body.name, scopes=list(body.scopes), expires_at=body.expires_at
    )
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=plaintext)


@router.get("/tokens/{token_id}", response_model=TokenOut, tags=["tokens"])
async def get_token(token_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_token(session, principal, token_id)


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
async def revoke_token(
    token_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await service.revoke_token(session, principal, token_id)
    return Response(status_code=204)
