"""Raw-event retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import admin_session_scope
from mirage.kit.jobs import app, global_job
from mirage.kit.logging import get_logger
from mirage.webhooks.repository import WebhookRepository

log = get_logger(__name__)
EVENT_RETENTION = timedelta(days=7)


@app.periodic(cron="17 3 * * *", periodic_id="prune_webhook_events")
@app.task(name="webhooks.prune_events", queue="maintenance", queueing_lock="webhooks.prune_events")
@global_job
async def prune_webhook_events(session: AsyncSession, timestamp: int | None = None) -> int:
    """Raw events are kept for a week (bounded retention); normalized messages stay."""
    async with admin_session_scope() as admin:
        removed = await WebhookRepository(admin).prune_events(EVENT_RETENTION)
    log.info("webhook_events.pruned", removed=removed)
    return removed


__all__ = ["prune_webhook_events"]
