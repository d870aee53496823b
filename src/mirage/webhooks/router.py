"""POST /webhooks/evolution/{instance_id}[/{event-suffix}]: the gateway's only way in.

The tenant comes from the per-instance header the gateway was configured with; it is bound
before the instance is read, so the lookup itself runs under RLS. The call is accepted only
with a fresh HS256 JWT signed with that instance's secret. Nothing is stored otherwise.
"""

from __future__ import annotations

import uuid

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.routing import Route

from mirage.instances.service import TENANT_HEADER
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
    event, facts = service.parse(identity, body, suffix)
    try:
        await service.store(identity, event, facts, body)
    except (IntegrityError, psycopg.errors.IntegrityError) as exc:
        # The instance was deleted since its identity was cached: it no longer accepts events.
        service.forget_identity(tid, iid)
        raise WebhookUnauthorized("unknown instance") from exc
    return JSONResponse({"received": event})


async def receive(request: Request) -> JSONResponse:
    params = request.path_params
    return await _receive(request, str(params["instance_id"]), params.get("event_suffix"))


# Plain Starlette routes: the gateway's hot path needs no dependency injection or OpenAPI,
# and skipping FastAPI's per-request machinery is measurable at thousands of events/s.
ROUTES = [
    Route("/webhooks/evolution/{instance_id}", receive, methods=["POST"]),
    Route("/webhooks/evolution/{instance_id}/{event_suffix}", receive, methods=["POST"]),
]
