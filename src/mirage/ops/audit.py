"""Record sensitive actions (who, what, when, from where, correlation id)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.kit import correlation
from mirage.models import AuditEvent
from mirage.ops.repository import AuditRepository

if TYPE_CHECKING:  # auth records through this module: a type only, never an import
    from mirage.auth.principal import Principal


async def record(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    action: str,
    principal: Principal | None = None,
    user_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: str | uuid.UUID | None = None,
    ip: str | None = None,
    **details: Any,
) -> None:
    await AuditRepository(session).add(
        AuditEvent(
            tenant_id=tenant_id,
            actor_user_id=principal.user_id if principal else user_id,
            actor_token_id=principal.token_id if principal else None,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id else None,
            ip=(principal.ip if principal else None) or ip,
            correlation_id=correlation.current(),
            details=details,
        )
    )


async def recent(session: AsyncSession, limit: int = 50) -> list[AuditEvent]:
    """The tenant's latest audit events, newest first (RLS: the session's tenant only)."""
    rows: Sequence[AuditEvent] = await AuditRepository(session).recent(limit)
    return list(rows)
