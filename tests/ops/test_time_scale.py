"""The test time scale compresses human waits only, and production refuses it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mirage.config import Settings
from mirage.conversations import planner


def test_production_refuses_a_time_scale(production_env: None) -> None:
    with pytest.raises(ValidationError, match="MIRAGE_TIME_SCALE"):
        Settings(env="prod", time_scale=0.05, secret_key="k" * 40)
    assert Settings(env="prod", secret_key="k" * 40).time_scale == 1
    assert Settings(env="test", time_scale=0.05).time_scale == 0.05
    for bad in (0, -1, 2):
        with pytest.raises(ValidationError):
            Settings(env="test", time_scale=bad)


def test_a_scaled_pause_keeps_the_rounds_inside_their_window() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    window = planner.Span(now, now + timedelta(hours=2))
    cadence = planner.Cadence(rounds_per_window=4, pause_min_s=600, pause_max_s=1800)
    for seed in range(100):
        kwargs = {"earliest": now, "cadence": cadence, "busy": []}
        real = planner.plan_window(
            window,
            duration=planner.round_duration(90),
            rng=random.Random(seed),
            **kwargs,  # type: ignore[arg-type]
        )
        fast = planner.plan_window(
            window,
            duration=planner.round_duration(90, lambda s: s / 20),
            rng=random.Random(seed),
            pause=lambda s: s / 20,
            **kwargs,  # type: ignore[arg-type]
        )
        assert real and len(fast) == 4
        # The same draws, waited 20x faster; all within the window.
        first_real, first_fast = real[0].start - now, fast[0].start - now
        assert abs(first_fast - first_real / 20) < timedelta(milliseconds=1)
        assert all(window.start <= s.start and s.end <= window.end for s in real + fast)
