"""Dashboard: the Team page (members, roles, invitations) and the invitation accept page."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mirage.auth import service as auth_service
from mirage.auth.deps import (
    SESSION_COOKIE,
    DashboardPrincipal,
    OptionalUserDep,
    StepUpDashboardPrincipal,
    client_ip,
)
from mirage.auth.principal import Principal
from mirage.config import get_settings
from mirage.db.deps import DbSession
from mirage.kit.errors import DomainError, RateLimited, ValidationFailed
from mirage.kit.i18n import N_
from mirage.models.tenancy import Role
from mirage.tenants import team
from mirage.web import csrf
from mirage.web.csrf import csrf_protect
from mirage.web.forms import NO_ERRORS, clean, form_errors
from mirage.web.templating import add_global, render, translate

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
# The invitation form's labels (its errors are shown next to these fields).
INVITE_LABELS = {
    "email": N_("E-mail"),
    "role": N_("Role"),
    "expires_in_days": N_("Valid for (days)"),
}

# What each role may do, as the Team page and the invitation explain it.
ROLE_HELP = {
    Role.OWNER: N_("everything, including the team's owners"),
    Role.ADMIN: N_("numbers, settings, API tokens and the team (up to admin)"),
    Role.OPERATOR: N_("runs conversations and personas; cannot change settings"),
    Role.VIEWER: N_("sees everything, changes nothing"),
}
INVITATION_WORDS = {
    "pending": N_("pending"),
    "expired": N_("expired"),
    "accepted": N_("accepted"),
    "revoked": N_("revoked"),
    "void": N_("no longer valid"),
}
add_global("role_help", ROLE_HELP)
add_global("invitation_words", INVITATION_WORDS)


async def _team_context(session: DbSession, principal: Principal) -> dict[str, Any]:
    members = await team.list_members(session, principal)
    grantable = team.grantable_roles(principal)
    return {
        "invite_errors": NO_ERRORS,
        "members": members,
        "owners": sum(1 for m in members if m.role == Role.OWNER),
        "invitations": await team.list_invitations(session, principal) if grantable else [],
        "grantable": grantable,
        "can_manage": bool(grantable),
        "me": principal.user_id,
        "roles": list(Role),
        "invite_days": team.INVITE_DAYS,
        "invite_max_days": team.INVITE_MAX_DAYS,
        "form": {},
    }


@router.get("/team")
async def team_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(request, "tenants/team.html", await _team_context(session, principal))


@router.post("/team/invitations")
async def create_invitation(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    email: Annotated[str, Form(max_length=300)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    expires_in_days: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    form = {"email": email, "role": role, "expires_in_days": expires_in_days}
    try:
        raw_days = expires_in_days.strip()
        days = int(raw_days) if raw_days.isascii() and raw_days.isdigit() else None
        if raw_days and days is None:
            raise ValidationFailed(
                N_("Valid for: from 1 to %(max)s days."),
                params={"max": team.INVITE_MAX_DAYS},
                field="expires_in_days",
            )
        created = await team.invite(
            session,
            principal,
            email=clean(email),
            role=clean(role),
            expires_in_days=days or team.INVITE_DAYS,
        )
    except DomainError as exc:
        ctx = await _team_context(session, principal)
        ctx.update(invite_errors=form_errors(exc, INVITE_LABELS), form=form)
        return render(request, "tenants/team.html", ctx, status_code=exc.status_code)
    ctx = await _team_context(session, principal)
    ctx["new_invitation"] = created
    return render(request, "tenants/team.html", ctx, status_code=201)


@router.post("/team/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    session: DbSession, principal: DashboardPrincipal, invitation_id: uuid.UUID
) -> Response:
    await team.revoke_invitation(session, principal, invitation_id)
    return RedirectResponse("/team#invitations", status_code=303)


async def _member_action_failed(
    request: Request, session: DbSession, principal: Principal, exc: DomainError
) -> Response:
    if exc.status_code == 404:
        raise exc
    ctx = await _team_context(session, principal)
    ctx["member_error"] = translate(request, exc.message)
    return render(request, "tenants/team.html", ctx, status_code=exc.status_code)


@router.post("/team/members/{member_id}/role")
async def change_role(
    request: Request,
    session: DbSession,
    principal: StepUpDashboardPrincipal,
    member_id: uuid.UUID,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        member = await team.change_role(session, principal, member_id, clean(role))
    except DomainError as exc:
        return await _member_action_failed(request, session, principal, exc)
    if member.user_id == principal.user_id:
        return RedirectResponse("/team", status_code=303)  # the page as the new role sees it
    return RedirectResponse(f"/team?changed={member.id}#members", status_code=303)


@router.post("/team/members/{member_id}/remove")
async def remove_member(
    request: Request, session: DbSession, principal: StepUpDashboardPrincipal, member_id: uuid.UUID
) -> Response:
    try:
        await team.remove_member(session, principal, member_id)
    except DomainError as exc:
        return await _member_action_failed(request, session, principal, exc)
    return RedirectResponse("/team?removed=1#members", status_code=303)


# --- accepting an invitation (reached before the visitor has any tenant) -------------------

# The link's token is a secret: the page is never cached and never sends it on as a referrer.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


async def _accept_context(
    session: DbSession, current: auth_service.CurrentUser | None, token: str
) -> dict[str, Any]:
    """What the page shows for this token (binds the invitation's tenant: see team)."""
    view = await team.find_invitation(session, token, user_id=current.user.id if current else None)
    signed_in_as = current.user if current else None
    return {
        "view": view,
        "token": token,
        "gone": team.GONE.get(view.status),
        "signed_in_as": signed_in_as,
        "same_user": bool(
            signed_in_as
            and signed_in_as.email.strip().lower() == view.invitation.email.strip().lower()
        ),
        "already_member": bool(
            current and any(m.tenant.id == view.tenant.id for m in current.memberships)
        ),
        "form": {},
    }


def _accept_page(request: Request, ctx: dict[str, Any], status_code: int = 200) -> Response:
    return render(request, "tenants/accept.html", ctx, status_code=status_code, headers=PRIVATE)


@router.get("/invite")
async def accept_page(
    request: Request, session: DbSession, current: OptionalUserDep, token: str = ""
) -> Response:
    token = clean(token)[:200]
    if not token:
        return RedirectResponse("/", status_code=303)
    try:
        ctx = await _accept_context(session, current, token)
    except DomainError as exc:
        ctx = {"invalid": translate(request, exc.message), "token": ""}
        return _accept_page(request, ctx, status_code=exc.status_code)
    return _accept_page(request, ctx, status_code=200 if ctx["gone"] is None else 410)


@router.post("/invite")
async def accept(
    request: Request,
    session: DbSession,
    current: OptionalUserDep,
    token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    confirm: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    settings = get_settings()
    token = clean(token)
    limited = await request.app.state.rate_limiter.hit_tiers(
        settings.login_rate_per_ip, "invite-ip", client_ip(request)
    )
    try:
        if not limited.allowed:
            raise RateLimited(N_("Too many attempts. Wait a minute and try again."))
        accepted = await team.accept(
            session,
            token,
            signed_in=current.user if current else None,
            display_name=clean(name),
            password=password,
            confirm=confirm,
        )
    except DomainError as exc:
        try:
            ctx = await _accept_context(session, current, token)
        except DomainError as again:
            ctx = {"invalid": translate(request, again.message), "token": ""}
            return _accept_page(request, ctx, status_code=again.status_code)
        ctx.update(error=translate(request, exc.message), form={"name": name})
        return _accept_page(request, ctx, status_code=exc.status_code)
    if current is not None:
        await auth_service.set_active_tenant(session, current.session.id, accepted.tenant.id)
        return RedirectResponse("/", status_code=303)
    # A new account: signed in at once, looking at the tenant it joined.
    _session_row, cookie = await auth_service.open_session(
        session,
        accepted.user.id,
        tenant_id=accepted.tenant.id,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        ttl=timedelta(hours=settings.session_ttl_hours),
    )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_ttl_hours * 3600,
        path="/",
    )
    csrf.rotate(response, cookie)  # the anonymous token is not valid for the new session
    return response
