"""FastAPI dependencies that authenticate a request and bind its tenant context."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request, Response

from mirage.auth import service, stepup
from mirage.auth.principal import Principal
from mirage.auth.service import CurrentUser
from mirage.config import get_settings
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.kit.errors import RateLimited, Unauthorized
from mirage.kit.netguard import forwarded_client, parse_networks
from mirage.web.errors import LoginRequired as LoginRequired  # raised here, handled in web
from mirage.web.streams import Viewer

SESSION_COOKIE = "mirage_session"


_networks = lru_cache(maxsize=8)(parse_networks)


def client_ip(request: Request) -> str:
    """The client's address for rate limits and audit: the direct peer, or — only when the
    peer is one of MIRAGE_TRUSTED_PROXIES — the right-most untrusted X-Forwarded-For entry."""
    peer = request.client.host if request.client else None
    proxies = _networks(get_settings().trusted_proxies)
    if not proxies:
        return peer or "unknown"
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), proxies)


async def optional_user(request: Request, session: DbSession) -> CurrentUser | None:
    current = await service.resolve_session_cached(session, request.cookies.get(SESSION_COOKIE))
    request.state.current = current
    return current


async def require_user(
    request: Request, current: Annotated[CurrentUser | None, Depends(optional_user)]
) -> CurrentUser:
    if current is None:
        raise LoginRequired("please sign in")
    return current


async def dashboard_principal(
    request: Request, current: Annotated[CurrentUser, Depends(require_user)]
) -> Principal:
    return current.principal(client_ip(request))


async def stream_principal(request: Request) -> Principal:
    """For long-lived streams (SSE): authenticate in a short transaction of its own, so the
    stream itself holds no database transaction."""
    async with get_database().sessions() as session, session.begin():
        current = await service.resolve_session(session, request.cookies.get(SESSION_COOKIE))
    if current is None or current.tenant is None:
        raise LoginRequired("please sign in")
    request.state.current = current  # fragments render in the user's language
    return current.principal(client_ip(request))


async def _resolve(cookie: str | None) -> CurrentUser | None:
    # A short transaction of its own: the stream itself holds no database transaction.
    async with get_database().sessions() as session, session.begin():
        return await service.resolve_session(session, cookie)


async def stream_viewer(request: Request) -> Viewer:
    """Who a live stream (``web.streams.open_stream``) is for, and the check it repeats before
    every row and every few seconds (registered with ``web.streams.set_authoriser``)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    current = await _resolve(cookie)
    if current is None or current.tenant is None:
        raise LoginRequired("please sign in")
    request.state.current = current  # fragments render in the user's language
    principal = current.principal(client_ip(request))

    async def still_allowed() -> bool:
        now = await _resolve(cookie)
        return (
            now is not None
            and now.session.id == current.session.id
            and now.tenant is not None
            and now.tenant.id == principal.tenant_id
            and now.role == principal.role
        )

    return Viewer(principal, current.session.id, still_allowed)


async def api_principal(request: Request, response: Response, session: DbSession) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    principal = await service.authenticate_token(session, token.strip(), client_ip(request))
    limiter = request.app.state.rate_limiter
    result = await limiter.hit(get_settings().api_rate_per_tenant, "api", str(principal.tenant_id))
    for key, value in result.headers().items():
        response.headers[key] = value
    if not result.allowed:
        raise RateLimited(
            "API rate limit reached for this tenant",
            retry_after=result.reset_after,
            headers=result.headers(),
        )
    return principal


CurrentUserDep = Annotated[CurrentUser, Depends(require_user)]
OptionalUserDep = Annotated[CurrentUser | None, Depends(optional_user)]
DashboardPrincipal = Annotated[Principal, Depends(dashboard_principal)]
ApiPrincipal = Annotated[Principal, Depends(api_principal)]


# --- the step-up guard (auth.stepup): a route that takes its principal from one of these is
# a sensitive operation; tests/auth/test_step_up_routes.py finds them by these callables.


async def step_up_dashboard(session: DbSession, principal: DashboardPrincipal) -> Principal:
    await stepup.require(session, principal)
    return principal


async def step_up_api(session: DbSession, principal: ApiPrincipal) -> Principal:
    await stepup.require(session, principal)
    return principal


STEP_UP_GUARDS = (step_up_dashboard, step_up_api)
StepUpDashboardPrincipal = Annotated[Principal, Depends(step_up_dashboard)]
StepUpApiPrincipal = Annotated[Principal, Depends(step_up_api)]
