"""Jobs that drive rounds: the scheduler, round start, replies to real inbound messages,
and reply timeouts. Each runs in its tenant's context, in one transaction."""

from __future__ import annotations

import random
import uuid

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.conversations import engine
from mirage.db.engine import admin_session_scope
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_job
from mirage.models import Conversation


@app.periodic(cron="* * * * *", periodic_id="schedule_conversations")
@app.task(
    name="conversations.schedule_all",
    queue="maintenance",
    queueing_lock="conversations.schedule_all",
)
@global_job
async def schedule_all(session: AsyncSession, timestamp: int | None = None) -> int:
    """Every minute: plan rounds for every tenant with active conversations."""
    # Explicit maintenance: the only cross-tenant read is which tenants have conversations.
    async with admin_session_scope() as admin:
        stmt = select(Conversation.tenant_id).where(Conversation.state == "active").distinct()
        tenant_ids = list((await admin.execute(stmt)).scalars())
    for tenant_id in tenant_ids:
        try:
            async with session.begin_nested():
                await jobs.defer(
                    session, plan_tenant, tenant_id=tenant_id, queueing_lock=f"plan:{tenant_id}"
                )
        except AlreadyEnqueued:
            pass
    return len(tenant_ids)


@app.task(name="conversations.plan_tenant", queue="default")
@tenant_job
async def plan_tenant(session: AsyncSession) -> int:
    return await engine.plan_tenant(session, utcnow(), random.Random())


@app.task(name="conversations.start_round", queue="default")
@tenant_job
async def start_round(session: AsyncSession, *, round_id: str) -> str:
    return await engine.start_round(session, uuid.UUID(round_id), utcnow(), random.Random())


@app.task(name="conversations.on_inbound", queue="default")
@tenant_job
async def on_inbound(
    session: AsyncSession,
    *,
    round_id: str,
    instance_id: str,
    message_id: str | None = None,
    text: str | None = None,  # jobs queued before arguments carried ids only
) -> str:
    return await engine.on_inbound(
        session,
        uuid.UUID(round_id),
        instance_id=uuid.UUID(instance_id),
        message_id=uuid.UUID(message_id) if message_id else None,
        text=text,
        now=utcnow(),
        rng=random.Random(),
    )


@app.task(name="conversations.check_timeout", queue="default")
@tenant_job
async def check_timeout(session: AsyncSession, *, round_id: str, turn: int) -> str:
    return await engine.check_timeout(session, uuid.UUID(round_id), turn, utcnow(), random.Random())
