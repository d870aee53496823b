"""/api/v1/audit-events: the tenant's audit log, filtered and paged by cursor, and its CSV."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mirage.auth.deps import ApiPrincipal
from mirage.db.deps import DbSession
from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_
from mirage.models import Tenant
from mirage.ops import audit
from mirage.tenants import audit_log
from mirage.web.errors import API_ERRORS

router = APIRouter(prefix="/audit-events", tags=["audit"], responses=API_ERRORS)


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    action: str
    label: str = Field(description="The action in English (the dashboard translates it).")
    actor_user_id: uuid.UUID | None
    actor_token_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    details: dict[str, Any] = Field(
        description="What the action was about; ``changes`` holds the fields that changed as "
        '``{"field": {"from": old, "to": new}}`` (secrets only as "[redacted]").'
    )
    ip: str | None
    user_agent: str | None
    correlation_id: str | None


class AuditPageOut(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None = Field(description="Pass as ``cursor`` for the next (older) page.")


Action = Annotated[
    str | None,
    Query(
        max_length=64,
        description="An action code (``campaign.start``) or its group (``campaign``).",
    ),
]
Actor = Annotated[str | None, Query(max_length=64, description="A member's user id or a token id.")]
TargetType = Annotated[str | None, Query(max_length=64)]
# Instants are read as ISO 8601 text only (a number is not a time: Pydantic would take it as
# a Unix timestamp), with their offset.
Since = Annotated[
    str | None,
    Query(
        max_length=40,
        description="From this instant, ISO 8601 with its offset.",
        json_schema_extra={"format": "date-time"},
    ),
]
Until = Annotated[
    str | None,
    Query(
        max_length=40,
        description="Before this instant, ISO 8601 with its offset.",
        json_schema_extra={"format": "date-time"},
    ),
]


def _instant(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        if not value[:4].isdigit() or "-" not in value:
            raise ValueError
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            N_("give the time as ISO 8601 with its offset (e.g. 2026-03-01T00:00:00-03:00)"),
            field=field,
        ) from None


def _filter(
    action: str | None,
    actor: str | None,
    target_type: str | None,
    since: str | None,
    until: str | None,
) -> audit.AuditFilter:
    return audit.build_filter(
        action=action,
        actor=actor,
        target_type=target_type,
        since=_instant(since, "since"),
        until=_instant(until, "until"),
    )


@router.get("", response_model=AuditPageOut)
async def list_events(
    session: DbSession,
    principal: ApiPrincipal,
    action: Action = None,
    actor: Actor = None,
    target_type: TargetType = None,
    since: Since = None,
    until: Until = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPageOut:
    """Newest first; owners and admins (a token with the ``admin`` scope)."""
    f = _filter(action, actor, target_type, since, until)
    page = await audit_log.search(session, principal, f, cursor=cursor, limit=limit)
    return AuditPageOut(
        items=[
            AuditEventOut.model_validate({**_fields(e), "label": audit.label(e.action)})
            for e in page.items
        ],
        next_cursor=page.next_cursor,
    )


def _fields(e: Any) -> dict[str, Any]:
    return {name: getattr(e, name) for name in AuditEventOut.model_fields if name != "label"}


@router.get(
    ".csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The filtered events."}},
)
async def export_events(
    session: DbSession,
    principal: ApiPrincipal,
    action: Action = None,
    actor: Actor = None,
    target_type: TargetType = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    """Every event the filters keep, as CSV (streamed; times in the tenant's zone)."""
    audit_log.require_reader(principal)
    f = _filter(action, actor, target_type, since, until)
    tenant = await session.get(Tenant, principal.tenant_id)
    names = await audit_log.actor_names(session, principal)
    return StreamingResponse(
        audit.export_csv(
            principal.tenant_id,
            f,
            zone=tenant.timezone if tenant else "America/Sao_Paulo",
            locale="en",
            names=names,
        ),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )
