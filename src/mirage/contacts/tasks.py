"""The CSV import job: runs (or resumes) an import chunk by chunk (see imports_service)."""

from __future__ import annotations

import uuid

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.contacts import imports_service
from mirage.kit.jobs import app, tenant_job


@app.task(
    name=imports_service.TASK_NAME,
    queue="imports",
    retry=procrastinate.RetryStrategy(max_attempts=imports_service.MAX_ATTEMPTS, wait=5),
)
@tenant_job
async def run_import(session: AsyncSession, *, import_id: str) -> str:
    """``session`` stays unused (no connection is taken): each chunk commits in its own short
    transaction, so progress is visible and a crash resumes after the last committed chunk.
    The job's lock (``contact-import:<id>``) keeps one run per import at a time."""
    imp = await imports_service.run_import(uuid.UUID(import_id))
    return str(imp.state) if imp is not None else "missing"
