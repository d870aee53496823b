"""The send job: one step of a planned message at a time, serialized per number."""

from __future__ import annotations

import uuid

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import admin_session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import correlation, jobs
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_job
from mirage.kit.logging import get_logger
from mirage.messaging import service
from mirage.models import OutgoingMessage, OutgoingStatus

log = get_logger(__name__)


@app.task(name=service.SEND_JOB, queue="sends")
async def send_message(
    *, tenant_id: str, outgoing_id: str, correlation_id: str | None = None
) -> str:
    """Several transactions (see messaging.service), so not a plain @tenant_job. The job
    decides and claims; the gateway call (held for the typing time) continues in the
    process's in-flight sends, which record its outcome and any next step themselves."""
    token = correlation.correlation_id.set(correlation.accept_or_new(correlation_id))
    try:
        with tenant_context(uuid.UUID(tenant_id)):
            # A later step (deferred, early, awaiting confirmation) is scheduled by the step's
            # own transaction.
            step = await service.send_step(uuid.UUID(outgoing_id))
            log.info("send.step", outgoing_id=outgoing_id, outcome=step.outcome)
            return step.outcome
    finally:
        correlation.correlation_id.reset(token)


@app.periodic(cron="* * * * *", periodic_id="reap_sends")
@app.task(name="messaging.reap_all", queue="maintenance", queueing_lock="messaging.reap_all")
@global_job
async def reap_all(session: AsyncSession, timestamp: int | None = None) -> int:
    """Every minute: look for overdue sends in every tenant that has any."""
    now = utcnow()
    # Explicit maintenance: the only cross-tenant read is which tenants have overdue sends.
    async with admin_session_scope() as admin:
        stmt = (
            select(OutgoingMessage.tenant_id)
            .where(
                OutgoingMessage.status.in_((OutgoingStatus.PLANNED, OutgoingStatus.SENDING)),
                OutgoingMessage.planned_at < now - service.REAP_PLANNED_AFTER,
            )
            .distinct()
        )
        tenant_ids = list((await admin.execute(stmt)).scalars())
    for tenant_id in tenant_ids:
        try:
            async with session.begin_nested():
                await jobs.defer(
                    session, reap_tenant, tenant_id=tenant_id, queueing_lock=f"reap:{tenant_id}"
                )
        except AlreadyEnqueued:
            pass
    return len(tenant_ids)


@app.task(name="messaging.reap_tenant", queue="maintenance")
@tenant_job
async def reap_tenant(session: AsyncSession) -> int:
    return len(await service.reap(session, utcnow()))


@app.task(name="messaging.redecide_deferred", queue="default")
@tenant_job
async def redecide_deferred(session: AsyncSession) -> int:
    """Deferred by ``tenants.settings.update_settings`` when cadence settings change."""
    return await service.redecide_deferred(session, utcnow())
