"""Jobs of the auth domain."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.repository import ApiTokenRepository
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, tenant_job
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
