"""The send job: one step of a planned message at a time, serialized per number."""

from __future__ import annotations

import uuid

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import correlation
from mirage.kit.jobs import app
from mirage.kit.logging import get_logger
from mirage.messaging import service

log = get_logger(__name__)


@app.task(name=service.SEND_JOB, queue="sends")
async def send_message(
    *, tenant_id: str, outgoing_id: str, correlation_id: str | None = None
) -> str:
    """Several transactions (see messaging.service), so not a plain @tenant_job. The job's
    ``lock`` (send:<number>) keeps one send per number at a time."""
    token = correlation.correlation_id.set(correlation.accept_or_new(correlation_id))
    try:
        with tenant_context(uuid.UUID(tenant_id)):
            step = await service.send_outgoing(uuid.UUID(outgoing_id))
            if step.again_at is not None:
                async with session_scope() as session:
                    await service.schedule_step(session, uuid.UUID(outgoing_id), step.again_at)
            log.info("send.step", outgoing_id=outgoing_id, outcome=step.outcome)
            return step.outcome
    finally:
        correlation.correlation_id.reset(token)
