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


def test_a_scaled_pause_keeps_the_round_inside_its_window() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    window_end = now + timedelta(hours=2)
    for seed in range(200):
        kwargs = {
            "rounds_per_window": 4,
            "window_end": window_end,
            "next_open": lambda t: t,
            "in_window": lambda t: t < window_end,
        }
        real = planner.plan_next_round(now, last_round_at=now, rng=random.Random(seed), **kwargs)
        fast = planner.plan_next_round(
            now, last_round_at=now, rng=random.Random(seed), pause=lambda s: s / 20, **kwargs
        )
        assert real is not None and fast is not None
        # The same draw, waited 20x faster; both within the window.
        assert abs((fast - now) - (real - now) / 20) < timedelta(milliseconds=1)
        assert now < fast <= real < window_end
