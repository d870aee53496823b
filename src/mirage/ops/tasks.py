"""Periodic maintenance jobs."""

from __future__ import annotations

from datetime import timedelta

from procrastinate import builtin_tasks
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.repository import SessionRepository
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job
from mirage.kit.logging import get_logger

log = get_logger(__name__)


@app.periodic(cron="*/15 * * * *", periodic_id="prune_sessions")
@app.task(name="ops.prune_sessions", queue="maintenance", queueing_lock="ops.prune_sessions")
@global_job
async def prune_sessions(session: AsyncSession, timestamp: int | None = None) -> int:
    """Delete sessions that expired or were revoked more than a day ago (global table)."""
    removed = await SessionRepository(session).delete_expired(utcnow() - timedelta(days=1))
    log.info("sessions.pruned", removed=removed)
    return removed


@app.periodic(cron="* * * * *", periodic_id="retry_stalled_jobs")
@app.task(name="ops.retry_stalled_jobs", queue="maintenance", pass_context=True)
async def retry_stalled_jobs(context: object, timestamp: int | None = None) -> int:
    """procrastinate does not retry jobs of a worker that died; this does (its docs' recipe)."""
    job_manager = app.job_manager
    stalled = list(await job_manager.get_stalled_jobs())
    for job in stalled:
        await job_manager.retry_job(job)
    if stalled:
        log.warning("jobs.stalled_retried", count=len(stalled))
    return len(stalled)


__all__ = ["builtin_tasks", "prune_sessions", "retry_stalled_jobs"]
