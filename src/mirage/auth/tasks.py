"""Jobs of the auth domain."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.repository import ApiTokenRepository, SessionRepository
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_job
from mirage.kit.logging import get_logger
from mirage.ops import audit

log = get_logger(__name__)


@app.task(name="auth.api_token_expired", queue="default")
@tenant_job
async def api_token_expired(session: AsyncSession, *, token_id: str) -> str:
    """Record in the audit log that a token reached its expiry (idempotent: re-reads state)."""
    row = await ApiTokenRepository(session).get(uuid.UUID(token_id))
    if row is None or row.revoked_at is not None:
        return "gone"
    if row.expires_at is None or row.expires_at > utcnow():
        return "not-yet"  # expiry was moved; a newer job covers it
    await ApiTokenRepository(session).revoke(row.id, row.expires_at)
    await audit.record(
        session,
        tenant_id=row.tenant_id,
        action="api_token.expired",
        target_type="api_token",
        target_id=row.id,
    )
    log.info("api_token.expired", token_id=token_id)
    return "expired"


# Was ops.tasks: the name and periodic id are kept (queued and periodic jobs refer to them).
@app.periodic(cron="*/15 * * * *", periodic_id="prune_sessions")
@app.task(name="ops.prune_sessions", queue="maintenance", queueing_lock="ops.prune_sessions")
@global_job
async def prune_sessions(session: AsyncSession, timestamp: int | None = None) -> int:
    """Delete sessions that expired or were revoked more than a day ago (global table)."""
    removed = await SessionRepository(session).delete_expired(utcnow() - timedelta(days=1))
    log.info("sessions.pruned", removed=removed)
    return removed
