"""A dead worker's jobs go back to the queue — also one whose queueing lock a job deferred
while it ran now holds (that one does the same work: the stalled one ends ``aborted``), and
that one never stops the others from being re-queued."""

from __future__ import annotations

import json

from mirage.kit import jobs
from tests.conftest import sql

TASK = "tests.stalled_probe"  # no such task is registered: nothing here ever runs


async def _job(conninfo: str, status: str, lock: str | None, scheduled: str) -> int:
    [(job_id,)] = await sql(
        conninfo,
        "insert into procrastinate_jobs (queue_name, task_name, queueing_lock, args, status, "
        f"scheduled_at) values ('tests-stalled', %s, %s, %s, %s, {scheduled}) returning id",
        TASK,
        lock,
        json.dumps({}),
        status,
    )
    return int(job_id)


async def test_a_stalled_job_whose_lock_is_taken_is_superseded_and_the_rest_requeued(
    bootstrap_conninfo: str, no_background_jobs: None
) -> None:
    db = bootstrap_conninfo
    try:
        # Ran on a worker that died (no worker id: as procrastinate finds them), and while it
        # ran a successor was deferred under its lock, due in an hour.
        superseded = await _job(db, "doing", "track:x", "null")
        successor = await _job(db, "todo", "track:x", "now() + interval '1 hour'")
        # Listed after it (ids grow): a plain stalled job, and one whose lock is free.
        plain = await _job(db, "doing", None, "null")
        free = await _job(db, "doing", "track:y", "null")

        requeued, aborted = await jobs.requeue_stalled(seconds_since_heartbeat=0, task_name=TASK)

        assert (requeued, aborted) == (2, 1)
        rows = dict(
            await sql(
                db,
                "select id, status::text from procrastinate_jobs where task_name = %s",
                TASK,
            )
        )
        assert rows == {superseded: "aborted", successor: "todo", plain: "todo", free: "todo"}
        # Nothing is left stalled: the next minute's run has nothing to do, and fails on none.
        assert await jobs.requeue_stalled(seconds_since_heartbeat=0, task_name=TASK) == (0, 0)
    finally:
        await sql(db, "delete from procrastinate_jobs where task_name = %s", TASK)
