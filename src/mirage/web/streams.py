"""Live streams (SSE) for the dashboard: opened by a signed-in session and ended with it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response

from mirage.auth import service
from mirage.auth.deps import SESSION_COOKIE, LoginRequired, client_ip
from mirage.auth.principal import Principal
from mirage.auth.service import CurrentUser
from mirage.config import get_settings
from mirage.db.engine import get_database
from mirage.kit.live import Renderer, sse_response


async def _resolve(cookie: str | None) -> CurrentUser | None:
    # A short transaction of its own: the stream itself holds no database transaction.
    async with get_database().sessions() as session, session.begin():
        return await service.resolve_session(session, cookie)


async def open_stream(
    request: Request, kind: str, renderer: Callable[[Principal], Renderer]
) -> Response:
    """Stream the tenant's ``kind`` events for the signed-in user. The session is checked again
    before each row and every few seconds: sign-out, expiry, removal from the tenant or a role
    change end the stream."""
    from mirage.app import live_hub

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

    return await sse_response(
        live_hub(request.app),
        principal.tenant_id,
        kind,
        renderer(principal),
        request.is_disconnected,
        still_allowed=still_allowed,
        session_id=current.session.id,
        recheck_s=get_settings().stream_recheck_seconds,
    )
