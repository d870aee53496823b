"""What a request costs in SQL statements, as a running app with warm caches pays it.

Every test that bounds a page's or an endpoint's statements measures through ``warm_cost``:
a warm cache can be dropped just before any one request — the session cache's TTL runs out
while a loaded machine serves the warming requests, or the announcement of rows the test
just wrote arrives late and drops the tenant's cached settings (each adds statements; both
were seen in full runs). So the cost is the fewest of a few counted requests after warming;
a per-row or per-request statement is in every one of them, so it still shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from mirage.db.engine import Database

WARMING = 2
COUNTED = 3


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The statements this task runs (the app runs in it, through the ASGI client) — not those
    of the worker's jobs, which run in other tasks of this process meanwhile."""
    seen: list[str] = []
    me = asyncio.current_task()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if asyncio.current_task() is me:
            seen.append(statement)

    engine = database.app_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def warm_cost(
    client: httpx.AsyncClient, database: Database, path: str, **kw: Any
) -> list[str]:
    """The statements of the cheapest of ``COUNTED`` requests to ``path`` after ``WARMING``
    (the settings cache's listener connects on first use, so the second request may still
    read the settings)."""
    for _ in range(WARMING):
        r = await client.get(path, **kw)
        assert r.status_code == 200, r.text[:2000]
    runs = []
    for _ in range(COUNTED):
        with statements(database) as seen:
            r = await client.get(path, **kw)
        assert r.status_code == 200, r.text[:2000]
        runs.append(seen)
    return min(runs, key=len)
