"""The round planner (pure): rounds per window, pauses within their bounds, rounds inside the
window, and never over a span another conversation holds on the same number."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from mirage.conversations import planner

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WINDOW = planner.Span(T0, T0 + timedelta(hours=4))
DURATION = timedelta(minutes=10)


def test_a_window_gets_its_rounds_spread_with_pauses_in_bounds() -> None:
    cadence = planner.Cadence(rounds_per_window=3, pause_min_s=600, pause_max_s=3600)
    for seed in range(200):
        spans = planner.plan_window(
            WINDOW,
            earliest=T0,
            cadence=cadence,
            duration=DURATION,
            busy=[],
            rng=random.Random(seed),
        )
        assert len(spans) == 3
        assert all(WINDOW.start <= s.start and s.end <= WINDOW.end for s in spans)
        for a, b in pairwise(spans):
            pause = (b.start - a.end).total_seconds()
            assert 600 <= pause <= 3600
        # Spread: the last round is well into the window, not bunched at its start.
        assert spans[-1].start >= T0 + timedelta(hours=1)


def test_a_window_under_way_gets_its_share_and_a_first_round_soon() -> None:
    cadence = planner.Cadence(rounds_per_window=4, pause_min_s=60, pause_max_s=7200)
    now = T0 + timedelta(hours=3)  # a quarter of the window left: one round
    spans = planner.plan_window(
        WINDOW,
        earliest=now,
        cadence=cadence,
        duration=DURATION,
        busy=[],
        rng=random.Random(1),
        first_soon=True,
    )
    assert len(spans) == 1 and spans[0].start <= now + timedelta(seconds=25)


def test_rounds_never_overlap_what_holds_their_numbers() -> None:
    cadence = planner.Cadence(rounds_per_window=12, pause_min_s=60, pause_max_s=900)
    for seed in range(200):
        rng = random.Random(seed)
        busy = []
        for _ in range(rng.randint(0, 12)):
            start = T0 + timedelta(minutes=rng.uniform(-20, 240))
            busy.append(planner.Span(start, start + timedelta(minutes=rng.uniform(1, 30))))
        spans = planner.plan_window(
            WINDOW, earliest=T0, cadence=cadence, duration=DURATION, busy=busy, rng=rng
        )
        assert all(WINDOW.start <= s.start and s.end <= WINDOW.end for s in spans)
        assert not any(s.overlaps(b) for s in spans for b in busy), seed
        assert all(a.end <= b.start for a, b in pairwise(spans))


def test_a_window_shorter_than_a_round_gets_none() -> None:
    short = planner.Span(T0, T0 + timedelta(minutes=5))
    cadence = planner.Cadence(rounds_per_window=3, pause_min_s=60, pause_max_s=600)
    assert not planner.plan_window(
        short, earliest=T0, cadence=cadence, duration=DURATION, busy=[], rng=random.Random(0)
    )
