"""Jobs that run campaigns: the driver (every minute for every tenant with campaigns at work,
and at once after each send outcome or control action) and the send outcome job.

Importing this module registers the campaign as the owner of ``campaign`` messages with the
send pipeline (its outcome job is ``outreach.on_send_outcome``), and ``outreach.confirmation``
as the owner of ``optout_confirm`` messages (``outreach.on_confirmation_outcome``)."""

from __future__ import annotations

import uuid

from procrastinate import RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.contacts import service as contacts
from mirage.db.engine import admin_session_scope
from mirage.db.tenancy import current_tenant_id
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_job
from mirage.messaging import service as messaging
from mirage.models import Campaign, CampaignState, Purpose
from mirage.outreach import confirmation, execution
from mirage.outreach.repository import RecipientRepository

MUST_RUN = RetryStrategy(max_attempts=5, wait=2, exponential_wait=2)


@app.periodic(cron="* * * * *", periodic_id="drive_campaigns")
@app.task(name="outreach.drive_all", queue="maintenance", queueing_lock="outreach.drive_all")
@global_job
async def drive_all(session: AsyncSession, timestamp: int | None = None) -> int:
    """Every minute: drive every tenant that has campaigns at work (or receipts to follow)."""
    since = utcnow() - execution.REPLY_WINDOW
    # Explicit maintenance: the only cross-tenant read is which tenants have such campaigns.
    async with admin_session_scope() as admin:
        stmt = (
            select(Campaign.tenant_id)
            .where(
                (
                    Campaign.state.in_(
                        (CampaignState.RUNNING, CampaignState.SCHEDULED, CampaignState.PAUSED)
                    )
                )
                | (Campaign.finished_at > since)
            )
            .distinct()
        )
        tenant_ids = list((await admin.execute(stmt)).scalars())
    for tenant_id in tenant_ids:
        try:
            async with session.begin_nested():
                await jobs.defer(
                    session,
                    drive_tenant,
                    tenant_id=tenant_id,
                    queueing_lock=f"campaigns:{tenant_id}",
                )
        except AlreadyEnqueued:
            pass
    return len(tenant_ids)


@app.task(name="outreach.drive_tenant", queue="default")
@tenant_job
async def drive_tenant(session: AsyncSession) -> int:
    ids = await RecipientRepository(session).campaigns_to_drive(utcnow() - execution.REPLY_WINDOW)
    for campaign_id in ids:
        try:
            async with session.begin_nested():
                await jobs.defer(
                    session,
                    execution.DRIVE_JOB,
                    queueing_lock=f"drive:{campaign_id}",
                    campaign_id=str(campaign_id),
                )
        except AlreadyEnqueued:
            pass
    return len(ids)


@app.task(name=execution.DRIVE_JOB, queue="default", retry=MUST_RUN)
@tenant_job
async def drive_campaign(session: AsyncSession, *, campaign_id: str) -> str:
    return await execution.drive(session, uuid.UUID(campaign_id), utcnow())


@app.task(name=execution.OUTCOME_JOB, queue="default", retry=MUST_RUN)
@tenant_job
async def on_send_outcome(
    session: AsyncSession, *, outgoing_id: str, outcome: str, reason: str | None = None
) -> str:
    return await execution.on_send_outcome(
        session, uuid.UUID(outgoing_id), messaging.SendOutcome(outcome), reason, utcnow()
    )


@app.task(name=confirmation.OUTCOME_JOB, queue="default", retry=MUST_RUN)
@tenant_job
async def on_confirmation_outcome(
    session: AsyncSession, *, outgoing_id: str, outcome: str, reason: str | None = None
) -> str:
    return await confirmation.on_outcome(
        session, uuid.UUID(outgoing_id), messaging.SendOutcome(outcome), reason
    )


@app.task(name=contacts.REPORTED_JOB, queue="default", retry=MUST_RUN)
@tenant_job
async def on_recipient_reported(session: AsyncSession, *, contact_id: str, reason: str) -> str:
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise RuntimeError("a tenant job runs in its tenant's context")
    return await execution.recipient_reported(
        session, tenant_id, uuid.UUID(contact_id), reason, utcnow()
    )


messaging.register_owner(Purpose.CAMPAIGN, execution.owner())
messaging.register_owner(Purpose.OPTOUT_CONFIRMATION, confirmation.owner())
