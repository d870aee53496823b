"""Number-safety jobs: an alert's delivery to the tenant's targets (retried with a growing
wait while one fails), the minute's sweep that resolves the band alerts of numbers whose
risk faded back by itself, and the look every ten minutes at each tenant's sends (delivery
and read ratios, new contacts today: ``service.assess_sends``)."""

from __future__ import annotations

import uuid

from procrastinate import RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import admin_session_scope, session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_job, tenant_steps
from mirage.models import Instance, SafetyAlert
from mirage.safety import alerts, service
from mirage.safety.alerting import Event


@app.task(
    name=alerts.DELIVER_JOB,
    queue="default",
    # Attempts 2… wait 4 s, 16 s, 64 s, ~4 min, ~17 min (4 ** attempt).
    retry=RetryStrategy(
        max_attempts=alerts.MAX_ATTEMPTS - 1,
        exponential_wait=4,
        retry_exceptions=[alerts.DeliveryFailed],
    ),
)
@tenant_steps
async def deliver_alert(*, alert_id: str, event: str) -> dict[str, str]:
    """Tell the tenant's webhook and e-mail targets that an alert opened or resolved."""
    return await alerts.deliver(uuid.UUID(alert_id), Event(event))


@app.periodic(cron="* * * * *", periodic_id="sweep_safety_alerts")
@app.task(name="safety.sweep_alerts", queue="maintenance", queueing_lock="safety.sweep_alerts")
@global_job
async def sweep_alerts(session: AsyncSession, timestamp: int | None = None) -> int:
    """Each tenant with an open band alert: resolve those whose number's band faded."""
    # Explicit maintenance: the only cross-tenant read here is the list of tenant ids.
    async with admin_session_scope() as admin:
        stmt = (
            select(SafetyAlert.tenant_id)
            .where(SafetyAlert.resolved_at.is_(None), SafetyAlert.kind == "risk_band")
            .distinct()
        )
        tenant_ids = list((await admin.execute(stmt)).scalars())
    resolved = 0
    now = utcnow()
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            async with session_scope() as tenant_session:
                resolved += await service.sweep_alerts(tenant_session, now)
    return resolved


# Every ten minutes: the delivery sample waits ten minutes for its receipts anyway, and each
# look reads a day of the tenant's outbound messages — kept off the send and webhook paths.
@app.periodic(cron="*/10 * * * *", periodic_id="assess_sends")
@app.task(name="safety.assess_all", queue="maintenance", queueing_lock="safety.assess_all")
@global_job
async def assess_all(session: AsyncSession, timestamp: int | None = None) -> int:
    """Fan out one ``safety.assess_tenant`` job per tenant that has numbers."""
    # Explicit maintenance: the only cross-tenant read here is the list of tenant ids.
    async with admin_session_scope() as admin:
        tenant_ids = list((await admin.execute(select(Instance.tenant_id).distinct())).scalars())
    for tenant_id in tenant_ids:
        try:
            async with session.begin_nested():
                await jobs.defer(
                    session,
                    assess_tenant,
                    tenant_id=tenant_id,
                    # One look per tenant at a time (two would judge the same sends twice).
                    lock=f"assess-sends:{tenant_id}",
                    queueing_lock=f"assess-sends:{tenant_id}",
                )
        except AlreadyEnqueued:
            pass  # the previous look at this tenant has not run yet
    return len(tenant_ids)


@app.task(name="safety.assess_tenant", queue="upkeep")
@tenant_job
async def assess_tenant(session: AsyncSession) -> int:
    """The tenant's numbers' delivery and read ratios and new contacts today, as signals."""
    return len(await service.assess_sends(session))


__all__ = ["assess_all", "assess_tenant", "deliver_alert", "sweep_alerts"]
