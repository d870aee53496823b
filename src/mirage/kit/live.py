"""Live updates: PostgreSQL LISTEN/NOTIFY fanned out to server-sent-event subscribers.

Writers call ``pg_notify('mirage_live', json)`` inside their transaction (so nothing is
announced that did not commit). Each API process keeps one LISTEN connection and hands the
events of a tenant to that tenant's subscribers only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, func, text
from starlette.responses import StreamingResponse

from mirage.kit.logging import get_logger

log = get_logger(__name__)
CHANNEL = "mirage_live"
SESSION_END = "session-end"


class LiveHub:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._subscribers: dict[uuid.UUID, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        # What this process has heard, for a stream opening after its page was read: since
        # when LISTEN has been in place (wall clock; None while not listening), and when each
        # tenant's kind last changed since then. Bounded by tenants x kinds.
        self._listening_since: float | None = None
        self._changed: dict[tuple[uuid.UUID, str], float] = {}

    def subscribe(self, tenant_id: uuid.UUID) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers[tenant_id].add(queue)
        self.ensure_listening()
        return queue

    def ensure_listening(self) -> None:
        """Start the LISTEN task if it is not running (first subscriber, or it died): open
        streams call this as they wait, so a listener lost to any error comes back by itself
        instead of leaving every open page silently frozen."""
        if self._subscribers and (self._task is None or self._task.done()):
            if self._task is not None and not self._task.cancelled() and self._task.exception():
                log.warning("live.listener_died", error=repr(self._task.exception()))
            self._ready.clear()
            self._listening_since = None
            self._task = asyncio.create_task(self._listen())

    def unsubscribe(self, tenant_id: uuid.UUID, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers[tenant_id].discard(queue)
        if not self._subscribers[tenant_id]:
            self._subscribers.pop(tenant_id, None)

    async def wait_ready(self) -> None:
        """Wait (briefly) for LISTEN to be in place, so no change right after is missed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 5.0)

    def changed_since(self, tenant_id: uuid.UUID, kinds: Collection[str], since: float) -> bool:
        """Whether the tenant's ``kinds`` may have changed after ``since`` (wall clock): a
        change heard since then, or LISTEN not in place all along (nothing heard proves
        nothing)."""
        if self._listening_since is None or self._listening_since > since:
            return True
        return any(self._changed.get((tenant_id, k), -math.inf) >= since for k in kinds)

    def dispatch(self, payload: str) -> None:
        try:
            event = json.loads(payload)
            if isinstance(event, dict) and event.get("kind") == SESSION_END:
                # Not a tenant's event: every stream checks whether it is its own session.
                for queues in list(self._subscribers.values()):
                    for queue in list(queues):
                        with contextlib.suppress(asyncio.QueueFull):
                            queue.put_nowait(event)
                return
            tenant = uuid.UUID(event["t"])
        except (ValueError, KeyError, TypeError):
            log.warning("live.bad_payload", payload=payload[:200])
            return
        self._changed[(tenant, str(event.get("kind")))] = time.time()
        for queue in list(self._subscribers.get(tenant, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("live.subscriber_lagging", tenant_id=str(tenant))

    async def _listen(self) -> None:
        try:
            await self._listen_until_closed()
        finally:  # cancelled: what is heard from now on proves nothing
            self._listening_since = None

    async def _listen_until_closed(self) -> None:
        """Listen from the first subscriber on, for the process's life: an idle LISTEN costs
        nothing, and a stream opening later then knows what changed before it (a listener
        that stopped with its last page would make every next page read itself twice)."""
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, application_name="mirage:live"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._changed.clear()
                    self._listening_since = time.time()
                    self._ready.set()
                    backoff = 0.5
                    async for notify in conn.notifies():
                        self.dispatch(notify.payload)
            except Exception as exc:  # any failure: reconnect (cancellation is not an Exception)
                self._ready.clear()
                self._listening_since = None
                log.warning("live.listen_failed", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)

    async def close(self) -> None:
        self._listening_since = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def _payload(tenant_id: uuid.UUID, kind: str, object_id: uuid.UUID, **extra: Any) -> str:
    payload = {"t": str(tenant_id), "kind": kind, "id": str(object_id)}
    payload.update({k: str(v) for k, v in extra.items() if v is not None})
    return json.dumps(payload)


async def notify(
    session: Any, tenant_id: uuid.UUID, kind: str, object_id: uuid.UUID, **extra: Any
) -> None:
    """Announce a change to live dashboards when (and only if) the transaction commits."""
    payload = _payload(tenant_id, kind, object_id, **extra)
    await session.execute(text("select pg_notify('mirage_live', :p)"), {"p": payload})


def notify_expression(
    tenant_id: uuid.UUID, kind: str, object_id: uuid.UUID, **extra: Any
) -> ColumnElement[Any]:
    """``notify``'s announcement as an SQL expression, for a statement the transaction runs
    anyway (e.g. in an UPDATE's RETURNING: announced only if a row changed) — no round trip
    of its own. Delivered on commit, like every NOTIFY."""
    return func.pg_notify(CHANNEL, _payload(tenant_id, kind, object_id, **extra))


async def end_session(session: Any, session_id: uuid.UUID) -> None:
    """Tell every API process that a session ended (sign-out): its open streams stop at once."""
    payload = {"kind": SESSION_END, "id": str(session_id)}
    await session.execute(text("select pg_notify('mirage_live', :p)"), {"p": json.dumps(payload)})


# --- server-sent events -------------------------------------------------------------------


async def _coalesce(
    queue: asyncio.Queue[dict[str, Any]],
    first: dict[str, Any],
    kinds: frozenset[str],
    session_id: uuid.UUID | None,
    window_s: float,
) -> tuple[bool, dict[str, Any]]:
    """Wait up to ``window_s`` for more events of ``kinds``: (whether this session ended
    meanwhile, the last event of ``kinds`` received)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window_s
    last = first
    while (left := deadline - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(queue.get(), left)
        except TimeoutError:
            break
        if event.get("kind") == SESSION_END:
            if session_id is not None and event.get("id") == str(session_id):
                return True, last
        elif event.get("kind") in kinds:
            last = event
    return False, last


PING_EVERY_S = 15.0
Renderer = Callable[[dict[str, Any]], Awaitable[list[tuple[str, str]]]]
Check = Callable[[], Awaitable[bool]]
ENDED = "event: session-ended\ndata: \n\n"
# "Read your live regions again": the page may have missed a change (see ``sse_response``).
RESYNC = "event: resync\ndata: \n\n"
# ...or "nothing missed": the page is current as it is (the page marks itself ready).
READY = "event: ready\ndata: \n\n"


async def sse_response(
    hub: LiveHub,
    tenant_id: uuid.UUID,
    kind: str | Collection[str],
    render: Renderer,
    is_disconnected: Callable[[], Awaitable[bool]],
    *,
    still_allowed: Check,
    session_id: uuid.UUID | None = None,
    recheck_s: float = 5.0,
    coalesce_s: float = 0.0,
    since: float | None = None,
) -> StreamingResponse:
    """Stream the tenant's ``kind`` events (one kind or several) as SSE: ``render(event)``
    gives (event name, HTML) pairs that HTMX swaps in place (sse-swap). Pings keep proxies
    from closing the stream.

    ``coalesce_s``: for a view of the whole tenant (the overview), events arriving within
    that many seconds of the first are rendered once, with the last of them — a busy fleet
    changes many rows a second, and one render shows them all.

    A stream lives no longer than the right to see it: ``still_allowed()`` (session valid, not
    revoked or expired, still a member with the same role) is asked before every row sent and
    at least every ``recheck_s`` seconds; a sign-out of ``session_id`` ends it at once.

    ``since``: when the page was read (wall clock). A change committed after that and before
    this stream listened reached no one: when the tenant's ``kinds`` may have changed since
    then (or ``since`` is unknown), the stream opens with a ``resync`` event and the page
    reads its live regions again (mirage.js). A stream reconnecting asks with the same
    ``since``, so what changed while it was down is read again too."""
    kinds = frozenset((kind,) if isinstance(kind, str) else kind)
    queue = hub.subscribe(tenant_id)
    await hub.wait_ready()  # LISTEN is in place: no change after this point is missed
    resync = since is None or hub.changed_since(tenant_id, kinds, since)
    loop = asyncio.get_running_loop()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            yield RESYNC if resync else READY
            checked_at = last_sent = loop.time()
            while True:
                now = loop.time()
                if now - checked_at >= recheck_s:
                    if not await still_allowed():
                        yield ENDED
                        return
                    checked_at = now
                wait = min(recheck_s - (now - checked_at), PING_EVERY_S - (now - last_sent))
                try:
                    event = await asyncio.wait_for(queue.get(), max(wait, 0.01))
                except TimeoutError:
                    if await is_disconnected():
                        return
                    hub.ensure_listening()
                    if loop.time() - last_sent >= PING_EVERY_S:
                        last_sent = loop.time()
                        yield ": ping\n\n"
                    continue
                if event.get("kind") == SESSION_END:
                    if session_id is not None and event.get("id") == str(session_id):
                        yield ENDED
                        return
                    continue
                if event.get("kind") not in kinds:
                    continue
                if coalesce_s > 0:
                    ended, event = await _coalesce(queue, event, kinds, session_id, coalesce_s)
                    if ended:
                        yield ENDED
                        return
                # Every row is authorised when it is sent, not only when the stream opened.
                if not await still_allowed():
                    yield ENDED
                    return
                checked_at = last_sent = loop.time()
                out = []
                for name, html in await render(event):
                    lines = "\n".join(f"data: {line}" for line in (html.splitlines() or [""]))
                    out.append(f"event: {name}\n{lines}\n\n")
                if out:
                    yield "".join(out)  # one write: a row and its details arrive together
        finally:
            hub.unsubscribe(tenant_id, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
