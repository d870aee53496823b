"""The human cadence model: bounds, variability, growth with text length, caps."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirage.messaging.cadence import (
    READ_CAP_S,
    READ_GLANCE_S,
    TYPE_CAP_S,
    TYPE_FLOOR_S,
    TurnTiming,
    human_delay,
    plan_turn,
    reading_time,
    typing_time,
)

seeds = st.integers(0, 2**32 - 1)
bounds = st.tuples(
    st.floats(0, 10_000, allow_nan=False, allow_infinity=False),
    st.floats(0, 10_000, allow_nan=False, allow_infinity=False),
).map(sorted)
texts = st.text(max_size=600)
words = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzçãé", min_size=1, max_size=12))


# -- human_delay --------------------------------------------------------------------------


@given(seeds, bounds)
def test_delay_is_always_within_bounds(seed: int, b: list[float]) -> None:
    lo, hi = b
    rng = random.Random(seed)
    for _ in range(20):
        assert lo <= human_delay(rng, lo, hi) <= hi


@given(seeds, bounds.filter(lambda b: b[1] - b[0] >= 1e-3))
def test_delay_is_never_a_fixed_interval(seed: int, b: list[float]) -> None:
    lo, hi = b
    rng = random.Random(seed)
    draws = [human_delay(rng, lo, hi) for _ in range(10)]
    assert len(set(draws)) > 1


@given(seeds, st.floats(0, 1000, allow_nan=False))
def test_equal_bounds_give_that_value(seed: int, value: float) -> None:
    assert human_delay(random.Random(seed), value, value) == value


@pytest.mark.parametrize(
    ("lo", "hi"), [(5, 1), (-1, 3), (0, math.inf), (math.nan, 3), (1, math.nan)]
)
def test_invalid_bounds_raise(lo: float, hi: float) -> None:
    with pytest.raises(ValueError):
        human_delay(random.Random(0), lo, hi)


def test_delay_distribution_is_right_skewed_and_spread() -> None:
    rng = random.Random(1234)
    draws = [human_delay(rng, 30, 90) for _ in range(5000)]
    mean, median = statistics.fmean(draws), statistics.median(draws)
    assert mean > median  # right skew: a long tail of slow answers
    assert 45 < median < 55  # median at ~35% of the range (30 + 0.35 * 60 = 51)
    assert min(draws) < 35 and max(draws) > 85  # the whole range is used
    assert statistics.pstdev(draws) > 8
    # Not uniform: the lower half of the range is visited far more than the upper half.
    assert sum(d < 60 for d in draws) > 2 * sum(d >= 60 for d in draws)


def test_same_seed_replays_the_same_delays() -> None:
    a, b = random.Random(7), random.Random(7)
    assert [human_delay(a, 1, 9) for _ in range(50)] == [human_delay(b, 1, 9) for _ in range(50)]


# -- reading and typing -------------------------------------------------------------------


@given(seeds, texts)
def test_reading_time_is_bounded(seed: int, text: str) -> None:
    t = reading_time(text, random.Random(seed))
    assert READ_GLANCE_S[0] <= t <= READ_CAP_S


@given(seeds, texts)
def test_typing_time_is_bounded(seed: int, text: str) -> None:
    t = typing_time(text, random.Random(seed))
    assert TYPE_FLOOR_S <= t <= TYPE_CAP_S


@given(seeds, words, words)
def test_reading_time_grows_with_the_number_of_words(seed: int, a: list[str], b: list[str]) -> None:
    short, long = " ".join(a), " ".join(a + b)
    assert reading_time(short, random.Random(seed)) <= reading_time(long, random.Random(seed))


@given(seeds, st.text(max_size=300), st.text(min_size=1, max_size=300))
def test_typing_time_grows_with_the_number_of_characters(seed: int, a: str, b: str) -> None:
    short, long = a.strip(), (a.strip() + "x" + b).strip()
    assert typing_time(short, random.Random(seed)) <= typing_time(long, random.Random(seed))


def test_reading_rate_is_human() -> None:
    text = " ".join(["palavra"] * 100)  # 100 words at 200–300 wpm: 20–30 s plus a glance
    for seed in range(200):
        t = reading_time(text, random.Random(seed))
        assert 20 + READ_GLANCE_S[0] <= t <= READ_CAP_S
    assert reading_time(" ".join(["a"] * 10_000), random.Random(0)) == READ_CAP_S


def test_typing_rate_is_human() -> None:
    text = "x" * 42  # 42 chars at 3–7 chars/s: 6–14 s plus a 0.6–1.2 s start
    times = [typing_time(text, random.Random(seed)) for seed in range(300)]
    assert all(6.6 <= t <= 15.2 for t in times)
    assert len(set(times)) == len(times)
    assert typing_time("ok", random.Random(0)) >= TYPE_FLOOR_S
    assert typing_time("y" * 5000, random.Random(0)) == TYPE_CAP_S


def test_surrounding_whitespace_is_not_typed() -> None:
    assert typing_time("  oi  \n", random.Random(3)) == typing_time("oi", random.Random(3))


# -- plan_turn ----------------------------------------------------------------------------


@given(seeds, st.one_of(st.none(), texts), texts, bounds)
def test_turn_is_read_then_think_then_type(
    seed: int, incoming: str | None, reply: str, b: list[float]
) -> None:
    lo, hi = b
    turn = plan_turn(incoming, reply, random.Random(seed), lo, hi)
    assert isinstance(turn, TurnTiming)
    if incoming is None:
        assert turn.read_s == 0.0
    else:
        assert READ_GLANCE_S[0] <= turn.read_s <= READ_CAP_S
    assert lo <= turn.think_s <= hi
    assert TYPE_FLOOR_S <= turn.typing_s <= TYPE_CAP_S
    assert turn.total == pytest.approx(turn.read_s + turn.think_s + turn.typing_s)


def test_turn_is_reproducible_and_varies_between_seeds() -> None:
    turns = [
        plan_turn("Bom dia! Tudo bem?", "Tudo ótimo", random.Random(s), 5, 20) for s in range(20)
    ]
    assert turns[0] == plan_turn("Bom dia! Tudo bem?", "Tudo ótimo", random.Random(0), 5, 20)
    assert len({t.total for t in turns}) == len(turns)
