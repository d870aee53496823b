"""The human cadence model: how long a person takes to read, think and type a message.

Pure functions of their inputs and an injected `random.Random`, so callers (and tests) decide
the randomness: a seeded generator replays a schedule exactly. `reading_time` and
`typing_time` consume a fixed number of draws whatever the text, so with equal generator states
a longer text never takes less time.

Figures (reference/market-anchors.md §1 and §4):

- Think delay: a right-skewed draw between the configured min and max, never a fixed interval
  (PRODUCT.md §4). Human response latencies are right-skewed (many quick answers, a long tail
  of slow ones), so we use a log-normal with its median at 35% of the range and resample the
  tail beyond the maximum. baileys-antiban draws Gaussian delays (1.5–5 s); a Gaussian is
  symmetric and puts as much mass near the maximum as near the minimum, which looks less human.
- Reading: 200–300 words per minute, plus a glance of 0.8–1.6 s to notice and open the message,
  capped at 30 s.
- Typing: DeskcommCRM starts each bubble after 900 ms plus a per-character cost; chip-heater
  types ~3.3 chars/s ±30% and baileys-antiban 45±15 WPM (≈ 2.5–5 chars/s). We use a 0.6–1.2 s
  start plus 3–7 chars/s (most often ~4), at least 1 s and at most 25 s. Evolution's
  ``sendText.delay`` is exactly this "composing" time before the send.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

#: Log-normal think delay: median at this fraction of (max - min), and its shape.
DELAY_MEDIAN_FRACTION: Final = 0.35
DELAY_SIGMA: Final = 0.6
DELAY_MAX_RESAMPLES: Final = 64

READ_WPM: Final = (200.0, 300.0)
READ_GLANCE_S: Final = (0.8, 1.6)
READ_CAP_S: Final = 30.0

TYPE_CPS: Final = (3.0, 7.0)
TYPE_CPS_MODE: Final = 4.0
TYPE_START_S: Final = (0.6, 1.2)
TYPE_FLOOR_S: Final = 1.0
TYPE_CAP_S: Final = 25.0


def human_delay(rng: random.Random, min_s: float, max_s: float) -> float:
    """A human-like think delay in seconds, within ``[min_s, max_s]``.

    Right-skewed (log-normal, resampled above the maximum); returns ``min_s`` only when
    ``min_s == max_s``. Raises `ValueError` for negative, non-finite or inverted bounds.
    """
    if not (math.isfinite(min_s) and math.isfinite(max_s)):
        raise ValueError(f"delay bounds must be finite, got {min_s!r}..{max_s!r}")
    if min_s < 0 or max_s < min_s:
        raise ValueError(f"delay bounds need 0 <= min <= max, got {min_s!r}..{max_s!r}")
    if min_s == max_s:
        return float(min_s)
    span = max_s - min_s
    mu = math.log(DELAY_MEDIAN_FRACTION)
    fraction = rng.lognormvariate(mu, DELAY_SIGMA)
    resamples = 0
    while fraction >= 1.0:
        resamples += 1
        if resamples > DELAY_MAX_RESAMPLES:  # ~4% of draws resample once; this never happens
            fraction = rng.random()
            break
        fraction = rng.lognormvariate(mu, DELAY_SIGMA)
    return min(max_s, max(min_s, min_s + fraction * span))


def _words(text: str) -> int:
    return len(text.split())


def reading_time(text: str, rng: random.Random) -> float:
    """Seconds to notice and read ``text``: a glance plus words at 200–300 wpm, at most 30 s."""
    wpm = rng.uniform(*READ_WPM)
    glance = rng.uniform(*READ_GLANCE_S)
    return min(READ_CAP_S, glance + _words(text) * 60.0 / wpm)


def typing_time(text: str, rng: random.Random) -> float:
    """Seconds of "composing" before sending ``text``: a start plus its characters (code
    points, ignoring surrounding whitespace) at 3–7 chars/s; between 1 and 25 s."""
    cps = rng.triangular(TYPE_CPS[0], TYPE_CPS[1], TYPE_CPS_MODE)
    start = rng.uniform(*TYPE_START_S)
    seconds = start + len(text.strip()) / cps
    return min(TYPE_CAP_S, max(TYPE_FLOOR_S, seconds))


@dataclass(frozen=True)
class TurnTiming:
    """The waits of one turn, in order: read the incoming message, think, type the reply."""

    read_s: float
    think_s: float
    typing_s: float

    @property
    def total(self) -> float:
        return self.read_s + self.think_s + self.typing_s


def plan_turn(
    incoming: str | None, reply: str, rng: random.Random, min_s: float, max_s: float
) -> TurnTiming:
    """Timing for sending ``reply`` after receiving ``incoming`` (``None`` when the turn opens
    a round, so there is nothing to read). The think delay is `human_delay` in [min_s, max_s].
    """
    read_s = 0.0 if incoming is None else reading_time(incoming, rng)
    think_s = human_delay(rng, min_s, max_s)
    typing_s = typing_time(reply, rng)
    return TurnTiming(read_s=read_s, think_s=think_s, typing_s=typing_s)
