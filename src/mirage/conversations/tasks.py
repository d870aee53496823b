"""Jobs that drive rounds: the scheduler, round start, composing turns, replies to real
inbound messages, reply timeouts and send outcomes. Each runs in its tenant's context, in one
transaction — except composing a turn, which calls the LLM between two.

Importing this module registers the round as the owner of ``warmup`` messages with the send
pipeline (its outcome job is ``conversations.on_send_outcome``)."""

from __future__ import annotations

import random
import uuid

from procrastinate import RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.conversations import engine
from mirage.db.engine import admin_session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import correlation, jobs
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_job
from mirage.kit.logging import get_logger
from mirage.messaging import service as messaging
from mirage.models import Conversation, ConversationState, Purpose

log = get_logger(__name__)
# Jobs a round cannot go on without (a lost one would strand it) retry; both are idempotent.
MUST_RUN = RetryStrategy(max_attempts=5, wait=2, exponential_wait=2)


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
        stmt = (
            select(Conversation.tenant_id)
            .where(Conversation.state == ConversationState.ACTIVE)
            .distinct()
        )
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


@app.task(name="conversations.plan_tenant", queue="upkeep")
@tenant_job
async def plan_tenant(session: AsyncSession) -> int:
    return await engine.plan_tenant(session, utcnow(), random.Random())


@app.task(name="conversations.replan_after_settings", queue="default")
@tenant_job
async def replan_after_settings(session: AsyncSession) -> int:
    """Deferred by ``tenants.settings.update_settings`` when cadence settings change."""
    return await engine.replan_after_settings(session, utcnow(), random.Random())


@app.task(name=engine.START_ROUND_JOB, queue="default")
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
    text: str | None = None,  # jobs queued before arguments carried ids only (not used)
) -> str:
    return await engine.on_inbound(
        session,
        uuid.UUID(round_id),
        instance_id=uuid.UUID(instance_id),
        message_id=uuid.UUID(message_id) if message_id else None,
        now=utcnow(),
        rng=random.Random(),
    )


@app.task(name=engine.COMPOSE_TURN_JOB, queue="default", retry=MUST_RUN)
async def compose_turn(
    *,
    tenant_id: str,
    round_id: str,
    turn: int,
    sender_id: str,
    message_id: str | None = None,
    correlation_id: str | None = None,
) -> str:
    """Write a round's next turn. Not a plain @tenant_job: the LLM is called between two
    short transactions (see engine.compose_turn), never inside one."""
    token = correlation.correlation_id.set(correlation.accept_or_new(correlation_id))
    try:
        with tenant_context(uuid.UUID(tenant_id)):
            result = await engine.compose_turn(
                uuid.UUID(round_id),
                turn=turn,
                sender_id=uuid.UUID(sender_id),
                message_id=uuid.UUID(message_id) if message_id else None,
                rng=random.Random(),
            )
            log.info("round.turn", round_id=round_id, turn=turn, result=result)
            return result
    finally:
        correlation.correlation_id.reset(token)


@app.task(name=engine.CHECK_TIMEOUT_JOB, queue="default")
@tenant_job
async def check_timeout(session: AsyncSession, *, round_id: str, turn: int) -> str:
    return await engine.check_timeout(session, uuid.UUID(round_id), turn, utcnow(), random.Random())


@app.task(name=engine.OUTCOME_JOB, queue="default", retry=MUST_RUN)
@tenant_job
async def on_send_outcome(
    session: AsyncSession, *, outgoing_id: str, outcome: str, reason: str | None = None
) -> str:
    return await engine.on_send_outcome(
        session,
        uuid.UUID(outgoing_id),
        messaging.SendOutcome(outcome),
        reason,
        utcnow(),
        random.Random(),
    )


messaging.register_owner(Purpose.WARMUP, engine.owner())
