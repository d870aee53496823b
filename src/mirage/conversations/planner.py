"""The round planner: when the next round of a conversation starts. Pure (rng and now in).

Rounds are spread across each open window (``rounds_per_window`` per window), with a human
pause between them; the very first round of a conversation starts soon, so a new
conversation (or the demo) shows activity within a minute or two.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

FIRST_ROUND_DELAY_S = (5.0, 25.0)
MIN_PAUSE_S = 60.0


def plan_next_round(
    now: datetime,
    *,
    last_round_at: datetime | None,
    rounds_per_window: int,
    window_end: datetime | None,
    next_open: Callable[[datetime], datetime | None],
    in_window: Callable[[datetime], bool],
    rng: random.Random,
    pause: Callable[[float], float] = lambda s: s,
) -> datetime | None:
    """The start of the next round, or None when no window opens in the coming week.

    ``window_end`` is the end of the window containing ``now`` (None when outside);
    ``next_open(t)`` is the next instant ≥ t inside a window. ``pause`` maps a human pause
    to the wait actually taken (the test time scale); windows are never scaled.
    """
    if last_round_at is None:
        start = now + timedelta(seconds=pause(rng.uniform(*FIRST_ROUND_DELAY_S)))
        return start if in_window(start) else next_open(start)
    if window_end is not None and window_end > now:
        remaining = (window_end - now).total_seconds()
        slot = max(MIN_PAUSE_S, remaining / max(1, rounds_per_window))
        start = now + timedelta(seconds=pause(rng.uniform(0.4 * slot, 1.0 * slot)))
        if start < window_end:
            return start
    opening = next_open(now + timedelta(seconds=1))
    if opening is None:
        return None
    # Not right at the opening minute: people do not all start at 08:00:00.
    return opening + timedelta(seconds=rng.uniform(30, 600))
