"""The injected clock: every time-dependent rule asks it for "now" (DESIGN.md §habits 4).

Process-wide, so that pinning it reaches the whole stack — the API's handlers and the jobs the
worker runs in other tasks — not only the caller's context. Production never sets it; tests
pin it (``pinned``) to put a rule at an exact instant (quiet hours, a day boundary, DST).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

_now: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    fn = _now
    return fn() if fn is not None else datetime.now(UTC)


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (None: the real one). The function must return aware UTC times."""
    global _now
    _now = fn


@contextlib.contextmanager
def pinned(at: datetime) -> Iterator[None]:
    """The clock stands at ``at`` (aware) inside the block, then is real again."""
    if at.tzinfo is None:
        raise ValueError("a pinned time must be timezone-aware")
    previous = _now
    set_clock(lambda: at.astimezone(UTC))
    try:
        yield
    finally:
        set_clock(previous)
