"""Periodic maintenance jobs."""

from __future__ import annotations

from procrastinate import builtin_tasks

from mirage.kit.jobs import app, requeue_stalled
from mirage.kit.logging import get_logger

log = get_logger(__name__)


@app.periodic(cron="* * * * *", periodic_id="retry_stalled_jobs")
@app.task(name="ops.retry_stalled_jobs", queue="maintenance", pass_context=True)
async def retry_stalled_jobs(context: object, timestamp: int | None = None) -> int:
    """procrastinate does not retry jobs of a worker that died; this does (its docs' recipe,
    minus its failure on a job whose queueing lock a waiting job holds: ``requeue_stalled``)."""
    requeued, superseded = await requeue_stalled()
    if requeued or superseded:
        log.warning("jobs.stalled_retried", count=requeued, superseded=superseded)
    return requeued + superseded


__all__ = ["builtin_tasks", "retry_stalled_jobs"]
