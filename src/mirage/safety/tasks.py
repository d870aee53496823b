"""Number-safety jobs: an alert's delivery to the tenant's targets (retried with a growing
wait while one fails), and the minute's sweep that resolves the band alerts of numbers whose
risk faded back by itself."""

from __future__ import annotations

import uuid

from procrastinate import RetryStrategy
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import admin_session_scope, session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_steps
from mirage.models import SafetyAlert
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


__all__ = ["deliver_alert", "sweep_alerts"]
