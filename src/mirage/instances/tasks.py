"""Periodic reconciliation of instance state with the gateway."""

from __future__ import annotations

import uuid

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import admin_session_scope, session_scope
from mirage.instances import service
from mirage.instances.repository import InstanceRepository
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.kit.jobs import app, global_job, tenant_steps
from mirage.models import Instance


@app.task(name="instances.reconcile_tenant", queue="upkeep")
@tenant_steps
async def reconcile_tenant() -> dict[str, int]:
    """The tenant's numbers against the gateway's view: read them, ask the gateway once for
    all of them holding no transaction, then correct each in one short transaction that
    re-reads it (locked; a number a webhook is updating is left to the next round)."""
    async with session_scope() as session:
        snaps = [
            service.snapshot(i) for i in await InstanceRepository(session).list() if i.provisioned
        ]
    if not snaps:
        return {}
    views = await service.ask_gateway_all(snaps)
    outcomes: dict[str, int] = {}
    async with session_scope() as session:
        repo = InstanceRepository(session)
        for snap in snaps:
            instance = await repo.get(snap.instance_id, for_update=True, skip_locked=True)
            if instance is None or not instance.provisioned:
                continue
            outcome = await service.apply_view(session, instance, views[snap.instance_id])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@app.task(name="instances.confirm_state", queue="upkeep")
@tenant_steps
async def confirm_state(*, instance_id: str) -> str:
    """After connection webhooks, settle the state with the gateway's own answer (asked
    between two short transactions, never inside one)."""
    async with session_scope() as session:
        instance = await InstanceRepository(session).get(uuid.UUID(instance_id))
        if instance is None or not instance.provisioned:
            return "gone"
        snap = service.snapshot(instance)
    view = await service.ask_gateway(snap)
    async with session_scope() as session:
        instance = await InstanceRepository(session).get(uuid.UUID(instance_id), for_update=True)
        if instance is None or not instance.provisioned:
            return "gone"
        return await service.apply_view(session, instance, view)


@app.periodic(cron="* * * * *", periodic_id="reconcile_instances")
@app.task(
    name="instances.reconcile_all", queue="maintenance", queueing_lock="instances.reconcile_all"
)
@global_job
async def reconcile_all(session: AsyncSession, timestamp: int | None = None) -> int:
    """Fan out one reconciliation job per tenant that has numbers."""
    # Explicit maintenance: the only cross-tenant read here is the list of tenant ids.
    async with admin_session_scope() as admin:
        tenant_ids = list((await admin.execute(select(Instance.tenant_id).distinct())).scalars())
    for tenant_id in tenant_ids:
        try:
            async with session.begin_nested():
                await jobs.defer(
                    session,
                    reconcile_tenant,
                    tenant_id=tenant_id,
                    queueing_lock=f"reconcile:{tenant_id}",
                )
        except AlreadyEnqueued:
            pass  # the previous round for this tenant has not run yet
    return len(tenant_ids)


@app.task(name="instances.recover", queue="default")
@tenant_steps
async def recover(*, instance_id: str) -> str:
    """One rung of a number's recovery ladder (it defers the next look itself)."""
    step = await service.recovery_step(uuid.UUID(instance_id), utcnow())
    return step.outcome


__all__ = ["confirm_state", "reconcile_all", "reconcile_tenant", "recover"]
