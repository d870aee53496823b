"""The warm-up ramp: how many messages a number may send per day, by its age and health.

Sources (reference/market-anchors.md §4):

- DeskcommCRM's pacing defaults: 20/50/100/200 messages per day from day 0/4/8/15 of a
  number's life, uncapped from day 31. These are the steps below.
- wapower: 20 → 50 → 120 → 300 → 600 → 1000 per day, advancing only while health stays high;
  an AT_RISK number gets half the cap and a CRITICAL one is paused. We halve the cap while a
  number is ``degraded`` and give 0 to anything worse.
- Where DeskcommCRM says "uncapped" (day 31 on), the ramp keeps wapower's last step, 1000/day,
  as a finite ceiling: the tenant's own daily cap (lower by default) governs a mature number.
- Effess (50/day on days 1–2), Whapi.Cloud (≤ 50/day for a new number) and the triangulated
  Evolution default (days 1–3 ≤ 20–50/day) all agree with a first step of 20.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Final


class Health(StrEnum):
    """Health verdicts a number can have, best first (see mirage.instances.health)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    RESTRICTED = "restricted"
    BANNED = "banned"
    QUARANTINED = "quarantined"


HEALTHY: Final = Health.HEALTHY
DEGRADED: Final = Health.DEGRADED
RESTRICTED: Final = Health.RESTRICTED
BANNED: Final = Health.BANNED
QUARANTINED: Final = Health.QUARANTINED
HEALTH_STATES: Final = tuple(Health)
#: Verdicts under which a number may send at all.
SENDING_HEALTH: Final = frozenset({Health.HEALTHY, Health.DEGRADED})

#: (first age in days, messages per day) — DeskcommCRM's steps, then wapower's ceiling.
WARMUP_RAMP: Final[tuple[tuple[int, int], ...]] = (
    (0, 20),
    (4, 50),
    (8, 100),
    (15, 200),
    (31, 1000),
)


def degrade(cap: int) -> int:
    """A cap halved for a degraded number (wapower's AT_RISK rule); a positive cap stays at
    least 1 and a cap of 0 stays 0."""
    return max(1, cap // 2) if cap > 0 else 0


def warmup_daily_cap(age_days: int, health: str) -> int:
    """Messages per day the warm-up ramp allows a number of this age (in tenant-local days
    since it was first connected; day 0 is the first day) and health.

    Healthy numbers follow `WARMUP_RAMP`; degraded ones get half of it; restricted, banned,
    quarantined or unknown verdicts get 0.
    """
    if health not in SENDING_HEALTH:
        return 0
    cap = WARMUP_RAMP[0][1]
    for first_day, per_day in WARMUP_RAMP:
        if max(age_days, 0) >= first_day:
            cap = per_day
    return degrade(cap) if health == DEGRADED else cap


#: A number idle this many days in a row starts its ramp over (baileys-antiban re-warms after
#: 72 h idle: market-anchors §7).
IDLE_RESTART_DAYS: Final = 3


def stage_cap(stage: int) -> int:
    """Messages per day at a warm-up stage (an index into `WARMUP_RAMP`)."""
    return WARMUP_RAMP[min(max(stage, 0), len(WARMUP_RAMP) - 1)][1]


def warmup_stage(days: Sequence[tuple[bool, bool]]) -> int:
    """The warm-up stage reached after ``days`` (oldest first; each is (sent anything, stayed
    green all day)): a green day with sends climbs one step, a day that left green steps back
    one, and ``IDLE_RESTART_DAYS`` idle days in a row start over at 0 (wapower: the ramp
    advances only while health stays high; market-anchors §7). The engine applies the smaller
    of this stage's cap and the age ramp's, so the ramp grows only while the number is green.
    """
    stage, idle = 0, 0
    top = len(WARMUP_RAMP) - 1
    for active, green in days:
        if not active:
            idle += 1
            if idle >= IDLE_RESTART_DAYS:
                stage = 0
            continue
        idle = 0
        stage = min(stage + 1, top) if green else max(stage - 1, 0)
    return stage
