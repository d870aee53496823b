"""An injectable clock: domain code asks it for 'now' so tests can pin time."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

_now: ContextVar[Callable[[], datetime] | None] = ContextVar("clock_now", default=None)


def utcnow() -> datetime:
    fn = _now.get()
    return fn() if fn is not None else datetime.now(UTC)


def set_clock(fn: Callable[[], datetime] | None) -> None:
    _now.set(fn)
