"""The live fan-out heals itself: a LISTEN task lost to any failure is restarted by the open
streams, so pages keep updating; and a stream tells its page when the page may have missed a
change made before the stream listened."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg

from mirage.db import engine as db_engine
from mirage.kit.live import READY, RESYNC, LiveHub, sse_response


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


async def test_the_hub_knows_whether_a_tenant_changed_since_a_page_was_read(
    database: db_engine.Database,
) -> None:
    """A stream opening after its page was read asks this: it must not answer "no" for a time
    it was not listening, nor for a change it heard."""
    conninfo = database.urls.libpq(database.urls.app)
    hub = LiveHub(conninfo)
    tenant, other = uuid.uuid4(), uuid.uuid4()
    before = time.time()
    assert hub.changed_since(tenant, {"instance"}, time.time())  # not listening: cannot tell
    queue = hub.subscribe(tenant)
    await hub.wait_ready()
    read_at = time.time()
    assert hub.changed_since(tenant, {"instance"}, before)  # it was not listening then
    assert not hub.changed_since(tenant, {"instance"}, read_at)
    await _notify(conninfo, tenant)
    await asyncio.wait_for(queue.get(), 10)
    assert hub.changed_since(tenant, {"instance", "campaign"}, read_at)
    assert not hub.changed_since(tenant, {"campaign"}, read_at)
    assert not hub.changed_since(other, {"instance"}, read_at)
    assert not hub.changed_since(tenant, {"instance"}, time.time())

    task = hub._task
    assert task is not None
    task.cancel()  # lost: until it listens again nothing it heard proves anything
    await asyncio.gather(task, return_exceptions=True)
    assert hub.changed_since(tenant, {"campaign"}, time.time())
    hub.unsubscribe(tenant, queue)
    await hub.close()


async def _chunks(hub: LiveHub, tenant: uuid.UUID, since: float | None) -> AsyncIterator[str]:
    async def render(event: dict[str, Any]) -> list[tuple[str, str]]:
        return [(f"instance-{event['id']}", "<tr></tr>")]

    async def no() -> bool:
        return False

    async def yes() -> bool:
        return True

    response = await sse_response(
        hub, tenant, "instance", render, no, still_allowed=yes, since=since
    )
    async for chunk in response.body_iterator:
        yield chunk if isinstance(chunk, str) else bytes(chunk).decode()


async def test_a_stream_opens_with_resync_only_when_its_page_may_have_missed_a_change(
    database: db_engine.Database,
) -> None:
    conninfo = database.urls.libpq(database.urls.app)
    hub = LiveHub(conninfo)
    tenant = uuid.uuid4()
    keep = hub.subscribe(tenant)  # the process already listens (another open page)
    await hub.wait_ready()

    read_at = time.time()
    quiet = _chunks(hub, tenant, read_at)
    assert (await anext(quiet)).startswith("retry:")
    assert await anext(quiet) == READY  # nothing missed
    await _notify(conninfo, tenant)  # after it listened: an event, no resync
    assert (await asyncio.wait_for(anext(quiet), 10)).startswith("event: instance-")
    await quiet.aclose()

    # The change above came after read_at: a page read then missed it.
    missed = _chunks(hub, tenant, read_at)
    assert (await anext(missed)).startswith("retry:")
    assert await asyncio.wait_for(anext(missed), 10) == RESYNC
    await missed.aclose()

    unknown = _chunks(hub, tenant, None)  # no time given: the safe side
    assert (await anext(unknown)).startswith("retry:")
    assert await asyncio.wait_for(anext(unknown), 10) == RESYNC
    await unknown.aclose()
    hub.unsubscribe(tenant, keep)
    await hub.close()
