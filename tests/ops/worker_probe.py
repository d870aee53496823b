"""`mirage worker` with one extra task, for tests/ops/test_worker_resilience.py.

Run as ``python -m tests.ops.worker_probe worker [options]``: the real CLI command, whose
worker also knows ``tests.probe`` — a job that writes a row, holds its slot like a send held
by the gateway's typing delay, then writes a second row. Each committed ``done`` row is one
completed run: a job run twice would leave two.
"""

from __future__ import annotations

import asyncio

import procrastinate
from sqlalchemy import text

from mirage.db.engine import session_scope
from mirage.kit import jobs

PROBE_TABLE = """
create table if not exists probe_runs (
    id bigserial primary key,
    key text not null,
    phase text not null,
    at timestamptz not null default clock_timestamp()
);
grant select, insert on probe_runs to mirage_app;
grant usage on sequence probe_runs_id_seq to mirage_app;
"""


@jobs.app.task(
    name="tests.probe",
    queue="tests",
    # A run that met the outage (its own transaction failed) is retried, like a real job.
    retry=procrastinate.RetryStrategy(max_attempts=30, wait=0.3),
)
async def probe(*, key: str, hold_s: float = 0.0) -> str:
    async with session_scope() as session:
        await session.execute(
            text("insert into probe_runs (key, phase) values (:k, 'start')"), {"k": key}
        )
    await asyncio.sleep(hold_s)  # no transaction held, like the gateway's typing delay
    async with session_scope() as session:
        await session.execute(
            text("insert into probe_runs (key, phase) values (:k, 'done')"), {"k": key}
        )
    return key


@jobs.app.task(name="tests.probe_once", queue="tests")
async def probe_once(*, key: str, hold_s: float = 0.0) -> str:
    """The same without retries, like ``messaging.send_message``."""
    return str(await probe(key=key, hold_s=hold_s))


if __name__ == "__main__":
    from mirage.cli import cli

    cli(prog_name="mirage")
