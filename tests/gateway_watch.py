"""Every test watches that nothing calls the gateway while holding a database connection.

Holding a transaction across seconds of network time pins a pool connection and keeps row
locks (issue 8). The test session's gateway (tests/conftest.py, ``world``) is wrapped in
``WatchingGateway``, and the database engines' pools report which asyncio task holds which
connection; an autouse fixture fails any test during which a request, a job or a webhook
called the gateway from a task holding one. Every route and job is covered as soon as a test
exercises it: nothing here lists them.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# dbapi connection id -> the task that checked it out (a connection is returned by the task
# that took it, or by another one during cleanup: keyed by connection, nothing can leak).
_holders: dict[int, asyncio.Task[Any] | None] = {}
violations: list[str] = []


def _task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def holds_connection() -> bool:
    task = _task()
    return task is not None and any(holder is task for holder in _holders.values())


def _checkout(dbapi_connection: Any, *_: Any) -> None:
    _holders[id(dbapi_connection)] = _task()


def _checkin(dbapi_connection: Any, *_: Any) -> None:
    _holders.pop(id(dbapi_connection), None)


def watch_engines(*engines: AsyncEngine) -> None:
    for engine in engines:
        event.listen(engine.sync_engine, "checkout", _checkout)
        event.listen(engine.sync_engine, "checkin", _checkin)


def unwatch_engines(*engines: AsyncEngine) -> None:
    for engine in engines:
        event.remove(engine.sync_engine, "checkout", _checkout)
        event.remove(engine.sync_engine, "checkin", _checkin)
    _holders.clear()


class WatchingGateway:
    """The real gateway client; each call first checks that its task holds no connection."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def watched(*args: Any, **kwargs: Any) -> Any:
            if holds_connection():
                where = "".join(traceback.format_stack(limit=14)[:-1])
                violations.append(f"gateway.{name} called holding a connection:\n{where}")
            return await attr(*args, **kwargs)

        return watched


def watch_function(module: Any, name: str) -> None:
    """Watch a network call that is not a gateway method (the simulator's scan, called as
    ``module.name``) the same way."""
    real = getattr(module, name)

    async def watched(*args: Any, **kwargs: Any) -> Any:
        if holds_connection():
            where = "".join(traceback.format_stack(limit=14)[:-1])
            violations.append(f"{module.__name__}.{name} called holding a connection:\n{where}")
        return await real(*args, **kwargs)

    setattr(module, name, watched)
