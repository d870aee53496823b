"""The warm-up ramp by health: it climbs only on green days with sends, steps back on a day
that left green, starts over after idle days; the engine applies the smaller of the stage's
cap and the age ramp's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mirage.policy.ramp import IDLE_RESTART_DAYS, WARMUP_RAMP, stage_cap, warmup_stage

GREEN, RED, IDLE = (True, True), (True, False), (False, True)


def test_stages() -> None:
    assert warmup_stage([]) == 0
    assert warmup_stage([GREEN] * 3) == 3
    assert warmup_stage([GREEN] * 9) == len(WARMUP_RAMP) - 1
    assert warmup_stage([GREEN, GREEN, GREEN, RED]) == 2
    assert warmup_stage([GREEN, GREEN, IDLE, IDLE, GREEN]) == 3  # two idle days keep the step
    assert warmup_stage([GREEN] * 4 + [IDLE] * IDLE_RESTART_DAYS) == 0
    assert [stage_cap(s) for s in (-1, 0, 2, 99)] == [20, 20, 100, 1000]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from((GREEN, RED, IDLE)), max_size=40))
def test_a_bad_day_never_raises_the_stage_and_a_green_one_never_lowers_it(
    days: list[tuple[bool, bool]],
) -> None:
    stage = warmup_stage(days)
    assert 0 <= stage < len(WARMUP_RAMP)
    assert warmup_stage([*days, RED]) <= stage <= warmup_stage([*days, GREEN])
