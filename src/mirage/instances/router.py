"""/api/v1/instances: the tenant's WhatsApp numbers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal
from mirage.auth.service import require
from mirage.db.deps import DbSession
from mirage.instances import service
from mirage.instances.repository import InstanceRepository
from mirage.instances.schemas import (
    DEFAULT_PAGE,
    MAX_CURSOR,
    MAX_PAGE,
    InstanceCreate,
    InstanceOut,
    PairingCodeRequest,
    PairingOut,
    PauseRequest,
    decode_cursor,
    encode_cursor,
)
from mirage.models import Instance
from mirage.providers.models import ConnectionState
from mirage.safety import reasons
from mirage.web.errors import API_ERRORS

router = APIRouter(
    prefix="/instances", tags=["numbers"], responses={**API_ERRORS, 503: API_ERRORS[400]}
)


#: What InstanceOut takes from the stored number as it is (the rest is read live: _out).
_STORED = frozenset(
    {
        "id",
        "display_name",
        "gateway_name",
        "state",
        "state_reason",
        "connected",
        "needs_pairing",
        "phone",
        "profile_name",
        "health",
        "first_connected_at",
        "paused",
        "created_at",
    }
)


async def _out(session: DbSession, rows: list[Instance]) -> list[InstanceOut]:
    """The numbers as the API shows them, with their live risk, warm-up stage and today's
    sends against the effective caps: read for the whole page at once (messaging.usage)."""
    found = await service.usage(session, rows)
    out = []
    for i in rows:
        update: dict[str, Any] = {
            name: getattr(i, name) for name in InstanceOut.model_fields if name in _STORED
        }
        update |= {
            "health_reason": reasons.english(i.health_reason),
            "health_reason_code": reasons.code_of(i.health_reason),
            "paused_reason": reasons.english(i.paused_reason),
            "paused_reason_code": reasons.code_of(i.paused_reason),
        }
        use = found.get(i.id)
        if use is not None:
            update.update(
                risk_score=use.risk_score,
                risk_band=use.risk_band,
                warmup_stage=use.stage,
                sends_today=use.sent_today,
                sends_last_hour=use.sent_last_hour,
                daily_cap_effective=use.daily_cap,
                hourly_cap_effective=use.hourly_cap,
                caps_tightened=use.tightened,
            )
        out.append(InstanceOut.model_validate(update))
    return out


async def _one(session: DbSession, instance: Instance) -> InstanceOut:
    return (await _out(session, [instance]))[0]


_PAGE_HEADERS = {
    "Link": {
        "description": "The next page, when there is one: "
        '`</api/v1/instances?cursor=…&limit=…>; rel="next"`.',
        "schema": {"type": "string"},
    },
    "X-Next-Cursor": {
        "description": "The `cursor` of the next page (absent on the last page).",
        "schema": {"type": "string"},
    },
}


@router.get(
    "",
    response_model=list[InstanceOut],
    responses={200: {"description": "A page of numbers, by name.", "headers": _PAGE_HEADERS}},
)
async def list_instances(
    request: Request,
    response: Response,
    session: DbSession,
    principal: ApiPrincipal,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR, description="The cursor of the next page (its Link)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Numbers per page.")] = DEFAULT_PAGE,
    state: Annotated[
        ConnectionState | None, Query(description="Only numbers in this state.")
    ] = None,
) -> Any:
    """The tenant's numbers by name, a page at a time. Each page continues after the last
    number of the one before (keyset), so numbers added or removed meanwhile shift nothing.
    The next page is in the `Link` header (`rel="next"`) and its cursor in `X-Next-Cursor`;
    the last page has neither."""
    require(principal, "read")
    after = decode_cursor(cursor)
    rows = await InstanceRepository(session).page(
        limit=limit + 1, after=after, state=state.value if state else None
    )
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = encode_cursor(rows[-1].display_name, rows[-1].id)
        query = {"cursor": nxt, "limit": limit} | ({"state": state.value} if state else {})
        response.headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
        response.headers["X-Next-Cursor"] = nxt
    return await _out(session, list(rows))


@router.post("", response_model=InstanceOut, status_code=201)
async def create_instance(
    body: InstanceCreate, session: DbSession, principal: StepUpApiPrincipal
) -> Any:
    instance = await service.create_instance(session, principal, display_name=body.display_name)
    return await _one(session, instance)


@router.get("/{instance_id}", response_model=InstanceOut)
async def get_instance(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await _one(session, await service.get_instance(session, principal, instance_id))


@router.delete("/{instance_id}", status_code=204)
async def delete_instance(
    instance_id: uuid.UUID, session: DbSession, principal: StepUpApiPrincipal
) -> Response:
    await service.delete_instance(session, principal, instance_id)
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
    instance = await service.pause(session, principal, instance_id, body.reason if body else None)
    return await _one(session, instance)


@router.post("/{instance_id}/resume", response_model=InstanceOut)
async def resume(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await _one(session, await service.resume(session, principal, instance_id))


@router.post("/{instance_id}/logout", status_code=202, response_class=Response)
async def logout(instance_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Response:
    await service.logout(session, principal, instance_id)
    return Response(status_code=202)
