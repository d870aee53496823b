"""The simulator's only source of "later": timers on the event loop's own heap.

Nothing in the simulator runs a per-instance loop. A QR rotation, an ack, a contact's reply or
a webhook retry is one entry in asyncio's timer heap (O(log n), no task while waiting), so a
thousand connecting instances cost a thousand heap entries and zero wake-ups between them.
Coroutines started by timers are tracked so ``reset``/shutdown can cancel everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

log = structlog.get_logger("mirage.simulator.scheduler")


class Timer:
    __slots__ = ("_handle", "_owner", "cancelled")

    def __init__(self, owner: Scheduler) -> None:
        self._owner = owner
        self._handle: asyncio.TimerHandle | None = None
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()
            self._owner._timers.discard(self)


class Scheduler:
    def __init__(self) -> None:
        self._timers: set[Timer] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a coroutine now; keep a reference (against garbage collection); log crashes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("simulator task failed", exc_info=exc)

    def call_later(self, delay_s: float, fn: Callable[[], object]) -> Timer:
        """Call ``fn`` after ``delay_s``; a coroutine it returns is spawned as a tracked task
        (any other return value is ignored)."""
        timer = Timer(self)
        if self._closed:
            timer.cancelled = True
            return timer

        def _fire() -> None:
            self._timers.discard(timer)
            if timer.cancelled:
                return
            try:
                result = fn()
            except Exception:
                log.exception("simulator timer failed")
                return
            if asyncio.iscoroutine(result):
                self.spawn(result)

        timer._handle = asyncio.get_running_loop().call_later(max(0.0, delay_s), _fire)
        self._timers.add(timer)
        return timer

    @property
    def pending(self) -> int:
        return len(self._timers) + len(self._tasks)

    async def cancel_all(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        self._timers.clear()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def aclose(self) -> None:
        self._closed = True
        await self.cancel_all()
