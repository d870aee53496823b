"""POST /webhooks/evolution/{instance_id}[/{event-suffix}]: the gateway's only way in.

The tenant comes from the per-instance header the gateway was configured with; it is bound
before the instance is read, so the lookup itself runs under RLS. The call is accepted only
with a fresh HS256 JWT signed with that instance's secret. Nothing is stored otherwise.

A source that keeps failing authentication (unknown instance/tenant pairs, bad tokens) is
limited per IP: past ``webhook_auth_failures_per_ip`` it gets 429s, answered before any
parsing or database work, until its window frees a slot.
"""

from __future__ import annotations

import math
import time
import uuid

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.routing import Route

from mirage.auth.deps import client_ip
from mirage.config import get_settings
from mirage.instances.service import TENANT_HEADER
from mirage.kit.ratelimit import RateLimiter
from mirage.webhooks import service
from mirage.webhooks.service import WebhookUnauthorized


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _receive(request: Request, instance_id: str, suffix: str | None) -> JSONResponse:
    iid, tid = _uuid(instance_id), _uuid(request.headers.get(TENANT_HEADER))
    if iid is None or tid is None:
        raise WebhookUnauthorized("unknown instance")
    identity = await service.identify(tid, iid)
    if identity is None:
        raise WebhookUnauthorized("unknown instance")
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    body = await request.body()
    service.verify(
        identity,
        bearer=bearer.strip() if scheme.lower() == "bearer" else None,
        body=body,
        hmac_header=request.headers.get("x-webhook-hmac"),
        hmac_algorithm=request.headers.get("x-webhook-hmac-algorithm"),
    )
    event, facts, payload = service.parse(identity, body, suffix)
    try:
        await service.store(identity, event, facts, payload)
    except (IntegrityError, psycopg.errors.IntegrityError) as exc:
        # The instance was deleted since its identity was cached: it no longer accepts events.
        service.forget_identity(tid, iid)
        raise WebhookUnauthorized("unknown instance") from exc
    return JSONResponse({"received": event})


# Sources over their failure budget, until when (monotonic): checked before any work, so a
# blocked source costs a dict lookup. The limiter (shared storage with Redis) decides; this
# only remembers its answer. Bounded like the other webhook caches.
_blocked: dict[str, float] = {}


async def _failed(request: Request, ip: str) -> None:
    """Count an authentication failure against its source; past the budget, every call from
    the source is a 429 until the window frees a slot."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    result = await limiter.hit(get_settings().webhook_auth_failures_per_ip, "webhook-auth", ip)
    if not result.allowed:
        if len(_blocked) > 10_000:
            _blocked.clear()  # bounded; the limiter (shared storage) still remembers
        _blocked[ip] = time.monotonic() + max(1, result.reset_after)


def _blocked_response(ip: str) -> JSONResponse | None:
    until = _blocked.get(ip)
    if until is None:
        return None
    left = until - time.monotonic()
    if left <= 0:
        _blocked.pop(ip, None)
        return None
    return JSONResponse(
        {
            "type": "https://mirage.dev/problems/webhook-rate-limited",
            "title": "Too many requests",
            "status": 429,
            "detail": "too many failed webhook calls from this source",
        },
        status_code=429,
        media_type="application/problem+json",
        headers={"Retry-After": str(max(1, math.ceil(left)))},
    )


async def receive(request: Request) -> JSONResponse:
    params = request.path_params
    ip = client_ip(request)
    blocked = _blocked_response(ip)
    if blocked is not None:
        return blocked  # before any parsing or database work
    try:
        return await _receive(request, str(params["instance_id"]), params.get("event_suffix"))
    except WebhookUnauthorized:
        await _failed(request, ip)
        blocked = _blocked_response(ip)
        if blocked is not None:
            return blocked
        raise


# Plain Starlette routes: the gateway's hot path needs no dependency injection or OpenAPI,
# and skipping FastAPI's per-request machinery is measurable at thousands of events/s.
ROUTES = [
    Route("/webhooks/evolution/{instance_id}", receive, methods=["POST"]),
    Route("/webhooks/evolution/{instance_id}/{event_suffix}", receive, methods=["POST"]),
]
