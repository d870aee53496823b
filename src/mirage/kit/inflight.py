"""Work that outlives the job that started it: a send the gateway holds for its typing delay.

A job hands such waiting off to this process-wide group instead of holding a worker slot and
a database connection for seconds of waiting (issue: 2 workers × 4 slots capped a fleet at
~0.5 sends/s while every process idled). The group is bounded — a job that would exceed the
limit waits for room (backpressure, not an unbounded pile of tasks) — and a stopping worker
waits for it like for its running jobs (``drain``). Each piece of work records its own
outcome; what a killed process leaves behind is reconciled by its owner (messaging's reaper).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mirage.kit.logging import get_logger

log = get_logger(__name__)


class InFlight:
    def __init__(self, limit: int, *, db_share: int = 4) -> None:
        if limit < 1:
            raise ValueError("the in-flight limit must be at least 1")
        if db_share < 1:
            raise ValueError("the database share must be at least 1")
        self.limit = limit
        # How many pieces of this work may use a database connection at once: the process's
        # pool is shared with its job slots, which must never queue behind hundreds of
        # in-flight sends for a connection (at 1,000 numbers typing, outcome jobs did not
        # start for minutes). The work waits here instead, in order.
        self.db_share = db_share
        self._slots: tuple[asyncio.Semaphore, asyncio.Semaphore] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # True while draining: work that would start more of itself (a number's next send)
        # hands it to a job instead, for a process that stays.
        self.closing = False

    def _both(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # One per event loop (a test session or a process has one; a new loop starts empty).
            self._slots = (asyncio.Semaphore(self.limit), asyncio.Semaphore(self.db_share))
            self._loop = loop
            self._tasks = set()
        return self._slots

    def _semaphore(self) -> asyncio.Semaphore:
        return self._both()[0]

    def database(self) -> asyncio.Semaphore:
        """Held by a piece of this work around its database transactions (never around a
        network call)."""
        return self._both()[1]

    def __len__(self) -> int:
        """How much is in flight now."""
        return sum(1 for t in self._tasks if not t.done())

    async def spawn(self, work: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Start ``work`` in the background, once there is room. The task inherits the
        caller's context (tenant, correlation id), as ``asyncio`` copies it."""
        slots = self._semaphore()
        await slots.acquire()
        task = asyncio.get_running_loop().create_task(self._run(work, slots, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, work: Callable[[], Awaitable[None]], slots: asyncio.Semaphore, name: str
    ) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            log.warning("inflight.cancelled", work=name)
            raise
        except Exception:
            # The work records its own outcome; a failure here leaves state its owner's
            # reconciliation repairs. Never lost silently: logged with its traceback.
            log.exception("inflight.failed", work=name)
        finally:
            slots.release()

    async def drain(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for everything in flight; cancel what is left and say how
        much that was."""
        pending = {t for t in self._tasks if not t.done()}
        if not pending:
            return 0
        log.info("inflight.draining", count=len(pending), timeout_s=timeout_s)
        self.closing = True
        try:
            _done, left = await asyncio.wait(pending, timeout=timeout_s)
            for task in left:
                task.cancel()
            if left:
                await asyncio.gather(*left, return_exceptions=True)
                log.warning("inflight.cut_off", count=len(left))
        finally:
            self.closing = False  # an in-process worker may start again (tests)
        return len(left)
