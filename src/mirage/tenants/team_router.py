"""/api/v1: the team — members (roles, removal) and invitations (create, list, revoke, accept)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal, client_ip
from mirage.config import get_settings
from mirage.db.deps import DbSession
from mirage.kit.errors import RateLimited
from mirage.tenants import team
from mirage.web.errors import API_ERRORS

router = APIRouter(tags=["team"], responses={**API_ERRORS, 410: API_ERRORS[404]})

RoleName = Literal["owner", "admin", "operator", "viewer"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberOut(BaseModel):
    id: uuid.UUID = Field(description="The membership's id (used in /members/{member_id}).")
    user_id: uuid.UUID
    email: str
    display_name: str
    role: RoleName
    joined_at: datetime
    last_login_at: datetime | None


def _member(m: team.Member) -> MemberOut:
    return MemberOut(
        id=m.id,
        user_id=m.user_id,
        email=m.email,
        display_name=m.display_name,
        role=m.role.value,
        joined_at=m.joined_at,
        last_login_at=m.last_login_at,
    )


class MemberUpdate(Strict):
    role: RoleName


class InvitationOut(BaseModel):
    id: uuid.UUID
    email: str
    role: RoleName
    status: Literal["pending", "expired", "accepted", "revoked"]
    invited_by: uuid.UUID | None
    invited_by_name: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


def _invitation(row: team.InvitationRow) -> InvitationOut:
    i = row.invitation
    return InvitationOut(
        id=i.id,
        email=i.email,
        role=i.role,
        status=row.status,
        invited_by=i.invited_by,
        invited_by_name=row.invited_by_name,
        created_at=i.created_at,
        expires_at=i.expires_at,
        accepted_at=i.accepted_at,
        revoked_at=i.revoked_at,
    )


class InvitationCreate(Strict):
    email: str = Field(min_length=3, max_length=254, examples=["ana@example.com"])
    role: RoleName = "operator"
    expires_in_days: int = Field(default=team.INVITE_DAYS, ge=1, le=team.INVITE_MAX_DAYS)


class InvitationCreated(InvitationOut):
    token: str = Field(description="The invitation's secret; shown once, only its hash is kept.")
    accept_url: str = Field(
        description="The link to pass on (Mirage sends no e-mail): it opens the accept page."
    )


class InvitationAccept(Strict):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(
        min_length=1,
        max_length=256,
        description="A new account's password (at least 10 characters), or, when the invited "
        "address already has an account, that account's password.",
    )
    display_name: str | None = Field(
        default=None, max_length=120, description="A new account's name (required for one)."
    )


class AcceptedOut(BaseModel):
    tenant_id: uuid.UUID
    tenant_name: str
    user_id: uuid.UUID
    email: str
    role: RoleName
    created_account: bool


@router.get("/members", response_model=list[MemberOut])
async def list_members(session: DbSession, principal: ApiPrincipal) -> list[MemberOut]:
    return [_member(m) for m in await team.list_members(session, principal)]


@router.get("/members/{member_id}", response_model=MemberOut)
async def get_member(
    member_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> MemberOut:
    return _member(await team.get_member(session, principal, member_id))


@router.patch("/members/{member_id}", response_model=MemberOut)
async def change_role(
    member_id: uuid.UUID, body: MemberUpdate, session: DbSession, principal: StepUpApiPrincipal
) -> MemberOut:
    """Change a member's role: only up to your own role, never of a member above it, and
    never leaving the tenant without an owner."""
    return _member(await team.change_role(session, principal, member_id, body.role))


@router.delete("/members/{member_id}", status_code=204)
async def remove_member(
    member_id: uuid.UUID, session: DbSession, principal: StepUpApiPrincipal
) -> Response:
    """Remove a member: their dashboard sessions in this tenant end and the API tokens they
    created here are revoked, at once. The last owner cannot be removed."""
    await team.remove_member(session, principal, member_id)
    return Response(status_code=204)


@router.get("/invitations", response_model=list[InvitationOut])
async def list_invitations(
    session: DbSession,
    principal: ApiPrincipal,
    status: Annotated[Literal["open", "all"], Query()] = "open",
) -> list[InvitationOut]:
    """Invitations, newest first: those still open (pending, or expired and not revoked), or
    every recent one."""
    rows = await team.list_invitations(session, principal, open_only=status == "open")
    return [_invitation(r) for r in rows]


@router.post("/invitations", response_model=InvitationCreated, status_code=201)
async def create_invitation(
    body: InvitationCreate, session: DbSession, principal: ApiPrincipal
) -> InvitationCreated:
    """Invite an address with a role (never above your own). Mirage sends no e-mail: pass
    `accept_url` on yourself. A new invitation to an address replaces its open one."""
    created = await team.invite(
        session,
        principal,
        email=body.email,
        role=body.role,
        expires_in_days=body.expires_in_days,
    )
    out = _invitation(team.InvitationRow(created.invitation, None, "pending"))
    return InvitationCreated(**out.model_dump(), token=created.token, accept_url=created.url)


# ``:uuid``: the path never matches /invitations/accept (whose Allow header lists POST only).
@router.delete("/invitations/{invitation_id:uuid}", status_code=204)
async def revoke_invitation(
    invitation_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await team.revoke_invitation(session, principal, invitation_id)
    return Response(status_code=204)


# Public: no API token (``security: []`` in OpenAPI's terms; tests that expect every route
# to refuse a bad token skip the routes that declare it). The invitation is the credential.
@router.post(
    "/invitations/accept",
    response_model=AcceptedOut,
    status_code=201,
    openapi_extra={"security": []},
)
async def accept_invitation(body: InvitationAccept, request: Request, session: DbSession) -> Any:
    """Accept an invitation with its token — no API token needed (the invitation is the
    credential). Creates the account when the invited address has none (`display_name`,
    `password`), or proves the existing one with its password. Single use; 410 when the
    invitation was used, revoked, expired or voided."""
    limited = await request.app.state.rate_limiter.hit_tiers(
        get_settings().login_rate_per_ip, "invite-ip", client_ip(request)
    )
    if not limited.allowed:
        raise RateLimited(
            "too many attempts; wait and try again",
            retry_after=limited.reset_after,
            headers=limited.headers(),
        )
    accepted = await team.accept(
        session, body.token, display_name=body.display_name or "", password=body.password
    )
    return AcceptedOut(
        tenant_id=accepted.tenant.id,
        tenant_name=accepted.tenant.name,
        user_id=accepted.user.id,
        email=accepted.user.email,
        role=accepted.membership.role,
        created_account=accepted.created_account,
    )
