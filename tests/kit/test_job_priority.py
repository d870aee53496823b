"""When many jobs are due at once, the upkeep and the reactions run before the bulk of sends:
every job carries its queue's priority (procrastinate runs the highest first, then the
oldest). A backlog of 10,000 sends used to hold the owners' outcome jobs and the minute's
reaper ~100 s behind it (bench/fleet.py)."""

from __future__ import annotations

import uuid

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import jobs
from mirage.messaging.service import SEND_JOB
from tests.conftest import GatewayWorld, make_tenant, sql


def test_every_task_has_its_queues_priority() -> None:
    jobs.task_named(SEND_JOB)  # the task modules are imported
    jobs.prioritize()
    for task in jobs.app.tasks.values():
        if not task.func.__module__.startswith(("mirage.", "procrastinate.")):
            continue  # a test's own probe tasks (tests/ops/worker_probe.py), on its own queue
        # A new queue must be given its place deliberately.
        assert task.queue in jobs.QUEUE_PRIORITY, task.name
        assert task.priority == jobs.QUEUE_PRIORITY[task.queue], task.name
    assert (
        jobs.QUEUE_PRIORITY["maintenance"]
        > jobs.QUEUE_PRIORITY["default"]
        > jobs.QUEUE_PRIORITY["sends"]
        > jobs.QUEUE_PRIORITY["upkeep"]
    )
    # The fan-out per tenant is upkeep: it never holds back a send or a reply.
    for name in (
        "conversations.plan_tenant",
        "instances.reconcile_tenant",
        "instances.confirm_state",
        "safety.assess_tenant",
    ):
        assert jobs.task_named(name).queue == "upkeep", name


async def test_a_reaction_then_a_send_are_taken_before_upkeep_deferred_earlier(
    world: GatewayWorld, bootstrap_conninfo: str, no_background_jobs: None
) -> None:
    t = await make_tenant()
    marker = uuid.uuid4().hex
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            await jobs.defer(session, "instances.confirm_state", instance_id=marker)
            await jobs.defer(session, SEND_JOB, outgoing_id=marker)
            await jobs.defer(
                session, "conversations.on_inbound", message_id=marker, instance_id=marker
            )
    try:
        # The order procrastinate's fetch uses: priority first, then id.
        rows = await sql(
            bootstrap_conninfo,
            "select task_name, priority from procrastinate_jobs where status = 'todo' "
            "and args::text like %s order by priority desc, id",
            f"%{marker}%",
        )
        assert [task for task, _ in rows] == [
            "conversations.on_inbound",
            SEND_JOB,
            "instances.confirm_state",
        ]
        assert [p for _, p in rows] == [
            jobs.QUEUE_PRIORITY[q] for q in ("default", "sends", "upkeep")
        ]
    finally:
        await sql(
            bootstrap_conninfo,
            "delete from procrastinate_jobs where status = 'todo' and args::text like %s",
            f"%{marker}%",
        )
