"""The risk score and its bands: pure functions of the timeline, ``now`` and the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirage.models.safety import SIGNAL_KINDS
from mirage.policy import Band, BandThresholds, band_of
from mirage.policy.bands import band_rank
from mirage.safety.score import (
    HORIZON,
    Signal,
    SignalKind,
    points,
    risk_score,
    series,
)
from mirage.safety.score import (
    SIGNAL_KINDS as SCORE_KINDS,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HALF = timedelta(hours=2)
WEIGHING = [k for k in SignalKind if points(k) > 0]
PROPS = settings(max_examples=150, deadline=None)

signals_st = st.lists(
    st.builds(
        Signal,
        kind=st.sampled_from([k.value for k in SignalKind]),
        at=st.integers(0, 8 * 86_400).map(lambda s: NOW - timedelta(seconds=s)),
        code=st.sampled_from((None, 401, 403, 406, 408, 428, 515, 1401)),
    ),
    max_size=25,
)


def test_the_models_check_lists_every_kind() -> None:
    assert SIGNAL_KINDS == SCORE_KINDS


def test_documented_weights() -> None:
    """baileys-antiban's weights (docs/number-safety.md): 401 +60, the 463 time lock +25;
    a ban is critical at once; an operator's own logout and a 515 after pairing are no fault."""
    assert points("disconnect", 401) == 60
    assert points("time_lock") == 25
    assert risk_score([Signal("disconnect", NOW, 403)], NOW) == 100
    assert points("disconnect", 1401) == points("disconnect", 515) == 0
    assert points("quarantined") == points("band_changed") == 0
    assert points("no such kind") == 0


def test_a_signal_halves_each_half_life_and_is_forgotten_after_the_horizon() -> None:
    lock = [Signal("time_lock", NOW)]
    assert risk_score(lock, NOW, HALF) == 25
    assert risk_score(lock, NOW + HALF, HALF) == 12  # 12.5 rounds to even
    assert risk_score(lock, NOW + 2 * HALF, HALF) == 6
    assert risk_score([Signal("disconnect", NOW, 403)], NOW + HORIZON + timedelta(1)) == 0
    # A signal "from the future" (clock skew) does not count yet.
    assert risk_score(lock, NOW - timedelta(seconds=1), HALF) == 0


def test_five_failed_sends_in_an_hour_make_a_number_yellow() -> None:
    """baileys-antiban: 5 failed sends/h → +20 (the yellow band's lower bound)."""
    failures = [Signal("send_failed", NOW - timedelta(minutes=m)) for m in range(5)]
    assert band_of(risk_score(failures, NOW, HALF)) == Band.YELLOW
    assert band_of(risk_score(failures[:4], NOW, HALF)) == Band.GREEN
    assert band_of(risk_score(failures * 2, NOW, HALF)) == Band.ORANGE


@PROPS
@given(signals_st, st.integers(0, 86_400))
def test_score_is_bounded_and_only_fades_without_new_signals(
    signals: list[Signal], later: int
) -> None:
    score = risk_score(signals, NOW, HALF)
    assert 0 <= score <= 100
    past = [s for s in signals if s.at <= NOW]
    # Later, with no signal added, the score is never higher (decay and the horizon).
    assert risk_score(past, NOW + timedelta(seconds=later), HALF) <= risk_score(past, NOW, HALF)


@PROPS
@given(signals_st, st.sampled_from(WEIGHING))
def test_a_new_bad_signal_never_lowers_the_score(signals: list[Signal], kind: str) -> None:
    assert risk_score([*signals, Signal(kind, NOW)], NOW, HALF) >= risk_score(signals, NOW, HALF)


@PROPS
@given(st.integers(0, 100), st.integers(0, 100))
def test_bands_follow_the_score_in_order(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert band_rank(band_of(lo)) <= band_rank(band_of(hi))


def test_default_band_thresholds() -> None:
    """whats-agents' trust bands on a risk scale (risk = 100 − trust)."""
    assert [band_of(s) for s in (0, 19, 20, 39, 40, 59, 60, 79, 80, 100)] == [
        Band.GREEN,
        Band.GREEN,
        Band.YELLOW,
        Band.YELLOW,
        Band.ORANGE,
        Band.ORANGE,
        Band.RED,
        Band.RED,
        Band.CRITICAL,
        Band.CRITICAL,
    ]
    assert band_rank("nonsense") == band_rank(Band.CRITICAL)


def test_thresholds_must_rise() -> None:
    assert BandThresholds().problems() == ()
    assert BandThresholds(yellow=50, orange=40).problems()
    assert BandThresholds(critical=101).problems()


def test_series_ends_now_and_shows_the_fade() -> None:
    points_ = series([Signal("time_lock", NOW - timedelta(hours=4))], NOW, half_life=HALF)
    assert len(points_) == 49 and points_[-1][0] == NOW
    scores = [s for _at, s in points_]
    assert scores[0] == 0 and max(scores) == 25 and scores[-1] == 6
    with pytest.raises(ValueError):
        series([], NOW, steps=0)
