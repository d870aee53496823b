"""The warm-up ramp by number age and health."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirage.policy import HEALTH_STATES, WARMUP_RAMP, warmup_daily_cap


@pytest.mark.parametrize(
    ("age", "cap"),
    [(-3, 20), (0, 20), (3, 20), (4, 50), (8, 100), (15, 200), (30, 200), (31, 1000), (400, 1000)],
)
def test_healthy_ramp_follows_deskcommcrm_then_wapower(age: int, cap: int) -> None:
    assert warmup_daily_cap(age, "healthy") == cap


def test_degraded_numbers_get_half() -> None:
    assert warmup_daily_cap(0, "degraded") == 10
    assert warmup_daily_cap(31, "degraded") == 500


@pytest.mark.parametrize("health", ["restricted", "banned", "quarantined", "unknown", ""])
def test_non_sending_health_gets_nothing(health: str) -> None:
    assert warmup_daily_cap(100, health) == 0


def test_ramp_table_starts_at_day_zero_and_grows() -> None:
    assert WARMUP_RAMP[0] == (0, 20)
    days = [d for d, _ in WARMUP_RAMP]
    caps = [c for _, c in WARMUP_RAMP]
    assert days == sorted(days) and caps == sorted(caps)


@given(st.integers(-10, 1000), st.integers(0, 1000), st.sampled_from(HEALTH_STATES))
def test_ramp_never_shrinks_with_age_and_health_only_lowers_it(a: int, b: int, health: str) -> None:
    young, old = sorted((a, b))
    assert warmup_daily_cap(young, health) <= warmup_daily_cap(old, health)
    assert warmup_daily_cap(old, health) <= warmup_daily_cap(old, "healthy")
    assert warmup_daily_cap(old, "degraded") >= 1
