"""An injectable clock: domain code asks it for 'now' so tests can pin time."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from mirage.config import get_settings

_now: ContextVar[Callable[[], datetime] | None] = ContextVar("clock_now", default=None)


def utcnow() -> datetime:
    fn = _now.get()
    return fn() if fn is not None else datetime.now(UTC)


def set_clock(fn: Callable[[], datetime] | None) -> None:
    _now.set(fn)


def human_seconds(seconds: float) -> float:
    """A human wait (reading, thinking, typing, a pause) as the deployment runs it: real
    seconds in production, compressed by ``MIRAGE_TIME_SCALE`` in tests. Never use it for a
    rule (quiet hours, caps, gaps): rules keep real time."""
    return seconds * get_settings().time_scale
