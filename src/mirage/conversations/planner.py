"""The round planner: where a conversation's rounds go in a window. Pure (rng and times in).

Each open window (the conversation's weekly windows minus the tenant's quiet hours) gets
``rounds_per_window`` rounds — proportionally fewer in what is left of a window already under
way — spread across it: the pause between two rounds aims at an even spread and is kept
within the conversation's pause bounds. A round holds its numbers for ``duration`` (the
longest a round of 4 messages takes at the conversation's delays), and never starts while one
of its numbers is held by another conversation's round (``busy``): it moves to after it, or
is dropped when it would no longer end inside the window. So a number's planned rounds never
overlap. The very first round of a conversation starts soon, so a new conversation (or the
demo) shows activity within a minute or two.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_ROUND_DELAY_S = (5.0, 25.0)
# After another conversation's round on the same number, at least this long before the next.
GAP_AFTER_BUSY_S = 60.0
# A window's first round starts up to this long after it opens: people do not all start at
# 08:00:00.
OPENING_JITTER_S = 15 * 60.0


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Cadence:
    """How many rounds a window gets and the pause between them (seconds)."""

    rounds_per_window: int
    pause_min_s: float
    pause_max_s: float


def plan_window(
    window: Span,
    *,
    earliest: datetime,
    cadence: Cadence,
    duration: timedelta,
    busy: Sequence[Span],
    rng: random.Random,
    first_soon: bool = False,
    pause: Callable[[float], float] = lambda s: s,
) -> list[Span]:
    """The rounds planned in ``window`` from ``earliest`` on, none overlapping ``busy``.

    ``pause`` maps a human pause to the wait actually taken (the test time scale); the
    window itself is never scaled.
    """
    start = max(window.start, earliest)
    left = (window.end - start).total_seconds()
    length = (window.end - window.start).total_seconds()
    if left <= 0 or length <= 0:
        return []
    wanted = max(1, math.ceil(cadence.rounds_per_window * left / length - 1e-9))
    spacing = left / wanted
    span = duration.total_seconds()
    if first_soon:
        at = start + timedelta(seconds=pause(rng.uniform(*FIRST_ROUND_DELAY_S)))
    else:
        room = max(0.0, min(spacing - span, OPENING_JITTER_S))
        at = start + timedelta(seconds=pause(rng.uniform(0.0, room)))
    taken = sorted(busy, key=lambda s: s.start)
    planned: list[Span] = []
    for _ in range(wanted):
        at = _first_free(at, duration, taken, pause)
        if at + duration > window.end:
            break
        slot = Span(at, at + duration)
        planned.append(slot)
        gap = min(
            max(rng.uniform(0.7, 1.0) * spacing - span, cadence.pause_min_s), cadence.pause_max_s
        )
        at = slot.end + timedelta(seconds=pause(gap))
    return planned


def _first_free(
    at: datetime, duration: timedelta, taken: Sequence[Span], pause: Callable[[float], float]
) -> datetime:
    """The first start at or after ``at`` whose span overlaps none of ``taken`` (sorted)."""
    moved = True
    while moved:
        moved = False
        for other in taken:
            if Span(at, at + duration).overlaps(other):
                at = other.end + timedelta(seconds=pause(GAP_AFTER_BUSY_S))
                moved = True
    return at


def round_duration(delay_max_s: float, pause: Callable[[float], float] = lambda s: s) -> timedelta:
    """How long a round holds its numbers: 4 turns, each read (≤ 30 s), thought over (≤ the
    maximum delay) and typed (≤ 25 s) — an upper bound, so rounds planned apart stay apart."""
    return timedelta(seconds=pause(4 * (delay_max_s + 55.0)))
