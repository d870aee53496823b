"""Live streams (SSE) for the dashboard: opened by a signed-in session and ended with it.

Who may watch is auth's decision: auth registers its ``Authoriser`` at start-up
(``set_authoriser``, wired in ``mirage.app``), so web/ imports no domain.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mirage.config import get_settings
from mirage.db.engine import get_database
from mirage.kit.live import Check, LiveHub, Renderer, sse_response

if TYPE_CHECKING:
    from mirage.auth.principal import Principal


@dataclass(frozen=True)
class Viewer:
    """The signed-in user a stream is opened for, and how to ask whether they still may see
    it (session valid, not revoked or expired, same tenant, same role)."""

    principal: Principal
    session_id: uuid.UUID
    still_allowed: Check


# Raises LoginRequired when the request has no signed-in user with a tenant.
Authoriser = Callable[[Request], Awaitable[Viewer]]
_authoriser: Authoriser | None = None


def set_authoriser(authoriser: Authoriser) -> None:
    global _authoriser
    _authoriser = authoriser


def live_hub(app: FastAPI) -> LiveHub:
    """The process's LISTEN/NOTIFY fan-out, created on first use (the app closes it)."""
    hub: LiveHub | None = getattr(app.state, "live", None)
    if hub is None:
        db = get_database()
        hub = LiveHub(db.urls.libpq(db.urls.app))
        app.state.live = hub
    return hub


async def open_stream(
    request: Request,
    kind: str | Collection[str],
    renderer: Callable[[Principal], Renderer],
    *,
    coalesce_s: float = 0.0,
) -> Response:
    """Stream the tenant's ``kind`` events (one kind or several) for the signed-in user. The
    session is checked again before each row and every few seconds: sign-out, expiry, removal
    from the tenant or a role change end the stream. ``coalesce_s``: see ``sse_response``."""
    if _authoriser is None:
        raise RuntimeError("no stream authoriser: mirage.app registers auth's at start-up")
    viewer = await _authoriser(request)
    return await sse_response(
        live_hub(request.app),
        viewer.principal.tenant_id,
        kind,
        renderer(viewer.principal),
        request.is_disconnected,
        still_allowed=viewer.still_allowed,
        session_id=viewer.session_id,
        recheck_s=get_settings().stream_recheck_seconds,
        coalesce_s=coalesce_s,
        since=_since(request),
    )


#: The query parameter a live page's stream URL carries (``live_url`` in the templates).
SINCE_PARAM = "live_since"


def _since(request: Request) -> float | None:
    """When the page was read, if the stream's URL says so and it makes sense (not in the
    future); None otherwise: the stream then resyncs, the safe side."""
    raw = request.query_params.get(SINCE_PARAM)
    try:
        since = float(raw) if raw is not None else None
    except ValueError:
        return None
    if since is None or not math.isfinite(since) or since > time.time():
        return None
    return since
