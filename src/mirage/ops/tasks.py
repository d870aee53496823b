"""Periodic maintenance jobs."""

from __future__ import annotations

from procrastinate import builtin_tasks

from mirage.kit.jobs import app
from mirage.kit.logging import get_logger

log = get_logger(__name__)


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


__all__ = ["builtin_tasks", "retry_stalled_jobs"]
