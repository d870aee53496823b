"""The live fan-out heals itself: a LISTEN task lost to any failure is restarted by the open
streams, so pages keep updating."""

from __future__ import annotations

import asyncio
import json
import uuid

import psycopg

from mirage.db import engine as db_engine
from mirage.kit.live import LiveHub


async def _notify(conninfo: str, tenant_id: uuid.UUID) -> None:
    payload = json.dumps({"t": str(tenant_id), "kind": "instance", "id": str(uuid.uuid4())})
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("select pg_notify('mirage_live', %s)", (payload,))


async def test_a_dead_listener_is_restarted_and_events_flow_again(
    database: db_engine.Database,
) -> None:
    conninfo = database.urls.libpq(database.urls.app)
    hub = LiveHub(conninfo)
    tenant = uuid.uuid4()
    queue = hub.subscribe(tenant)
    await hub.wait_ready()
    await _notify(conninfo, tenant)
    assert (await asyncio.wait_for(queue.get(), 10))["t"] == str(tenant)

    task = hub._task
    assert task is not None
    task.cancel()  # the listener is gone (any failure ends up here)
    await asyncio.gather(task, return_exceptions=True)
    hub.ensure_listening()  # what an open stream does while it waits
    await hub.wait_ready()
    await _notify(conninfo, tenant)
    assert (await asyncio.wait_for(queue.get(), 10))["t"] == str(tenant)
    hub.unsubscribe(tenant, queue)
    await hub.close()
