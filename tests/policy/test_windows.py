"""Weekly windows: construction, wall-clock membership, DST-safe next_open and day starts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.policy import ALWAYS, DEFAULT, NEVER, WeeklyWindows, local_day_start
from tests.policy.strategies import (
    ZONES,
    Spec,
    instants,
    minute_times,
    quiet_oracle,
    spec_open,
    spec_to_windows,
    specs,
)

SP = ZoneInfo("America/Sao_Paulo")
NY = ZoneInfo("America/New_York")
HAVANA = ZoneInfo("America/Havana")
SCAN = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def t(h: int, m: int = 0) -> time:
    return time(h, m)


# -- construction -------------------------------------------------------------------------


def test_ranges_are_sorted_and_merged() -> None:
    w = WeeklyWindows.every_day((t(13), t(18)), (t(8), t(12)), (t(11), t(12, 30)), (t(18), t(19)))
    assert w.days[0] == ((t(8), t(12, 30)), (t(13), t(19)))


@pytest.mark.parametrize(
    "bad",
    [
        (t(12), t(8)),  # crosses midnight
        (t(8), t(8)),  # empty
        (time(8, tzinfo=UTC), t(9)),  # zoned
    ],
)
def test_invalid_ranges_are_rejected(bad: tuple[time, time]) -> None:
    with pytest.raises(ValueError):
        WeeklyWindows.every_day(bad)


def test_seven_days_are_required() -> None:
    with pytest.raises(ValueError, match="7 days"):
        WeeklyWindows(((),) * 6)
    with pytest.raises(ValueError, match="weekdays"):
        WeeklyWindows.from_mapping({7: [(t(8), t(9))]})


def test_builtin_calendars() -> None:
    assert ALWAYS.contains(datetime(2024, 5, 5, 0, 0, tzinfo=SP))
    assert ALWAYS.contains(datetime(2024, 5, 5, 23, 59, 59, 999_999, tzinfo=SP))
    assert NEVER.is_empty and NEVER.next_open(datetime(2024, 5, 5, tzinfo=SP)) is None
    monday = datetime(2024, 5, 6, tzinfo=SP)
    assert not DEFAULT.contains(monday.replace(hour=7, minute=59))
    assert DEFAULT.contains(monday.replace(hour=8))
    assert not DEFAULT.contains(monday.replace(hour=12))  # lunch
    assert DEFAULT.contains(monday.replace(hour=20, minute=59))
    assert not DEFAULT.contains(monday.replace(hour=21))


def test_midnight_end_means_end_of_day() -> None:
    w = WeeklyWindows.from_mapping({4: [(t(22), t(0))], 5: [(t(0), t(2))]})  # Fri 22 → Sat 02
    friday = datetime(2024, 5, 10, 23, 59, tzinfo=SP)
    assert w.contains(friday)
    assert w.contains(friday + timedelta(minutes=1))  # Saturday 00:00
    assert not w.contains(datetime(2024, 5, 11, 2, 0, tzinfo=SP))


def test_json_form_matches_the_stored_shape() -> None:
    data = {"0": [["08:00", "12:00"], ["22:00", "24:00"]], "5": [["09:30:15", "10:00"]]}
    w = WeeklyWindows.from_json(data)
    assert w.days[0] == ((t(8), t(12)), (t(22), t(0)))
    assert w.days[5] == ((time(9, 30, 15), t(10)),)
    assert w.to_json()["0"] == [["08:00", "12:00"], ["22:00", "24:00"]]
    assert w.to_json()["1"] == []
    with pytest.raises(ValueError):
        WeeklyWindows.from_json({"x": []})
    with pytest.raises(ValueError):
        WeeklyWindows.from_json({"0": [["8h", "9h"]]})


@given(specs)
def test_json_round_trip(spec: Spec) -> None:
    w = spec_to_windows(spec)
    assert WeeklyWindows.from_json(w.to_json()) == w


# -- membership ---------------------------------------------------------------------------


@given(specs, st.sampled_from(ZONES).flatmap(lambda z: st.tuples(st.just(z), instants(z))))
def test_contains_matches_the_spec(spec: Spec, zoned: tuple[str, datetime]) -> None:
    zone, instant = zoned
    local = instant.astimezone(ZoneInfo(zone))
    assert spec_to_windows(spec).contains(local) == spec_open(spec, local)


@given(
    specs,
    minute_times,
    minute_times,
    st.sampled_from(ZONES).flatmap(lambda z: st.tuples(st.just(z), instants(z))),
)
def test_without_daily_removes_exactly_the_quiet_period(
    spec: Spec, start: time, end: time, zoned: tuple[str, datetime]
) -> None:
    from mirage.policy import TenantPolicy

    zone, instant = zoned
    local = instant.astimezone(ZoneInfo(zone))
    w = spec_to_windows(spec)
    if start == end:
        assert w.without_daily(start, end) == w
        return
    quiet = TenantPolicy(timezone=zone, quiet_start=start, quiet_end=end)
    expected = spec_open(spec, local) and not quiet_oracle(quiet, local)
    assert w.without_daily(start, end).contains(local) == expected


# -- next_open ----------------------------------------------------------------------------


def test_next_open_same_day_and_next_day() -> None:
    monday_7 = datetime(2024, 5, 6, 7, 0, tzinfo=SP)
    assert DEFAULT.next_open(monday_7) == monday_7.replace(hour=8)
    assert DEFAULT.next_open(monday_7.replace(hour=12, minute=30)) == monday_7.replace(hour=13)
    assert DEFAULT.next_open(monday_7.replace(hour=22)) == datetime(2024, 5, 7, 8, tzinfo=SP)
    open_now = monday_7.replace(hour=9)
    assert DEFAULT.next_open(open_now) == open_now


def test_next_open_skips_closed_days() -> None:
    weekdays_only = WeeklyWindows.from_mapping({d: [(t(9), t(17))] for d in range(5)})
    friday_evening = datetime(2024, 5, 10, 18, tzinfo=SP)
    assert weekdays_only.next_open(friday_evening) == datetime(2024, 5, 13, 9, tzinfo=SP)


def test_next_open_requires_an_aware_datetime() -> None:
    with pytest.raises(ValueError):
        DEFAULT.next_open(datetime(2024, 5, 6, 7))


def test_next_open_into_a_midnight_gap_is_the_transition() -> None:
    # Brazil, 2018-11-04: clocks jumped from 00:00 (-03) to 01:00 (-02).
    w = WeeklyWindows.every_day((t(0, 15), t(2)))
    before = datetime(2018, 11, 3, 23, 0, tzinfo=SP)
    opened = w.next_open(before)
    assert opened is not None
    assert opened.astimezone(UTC) == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert opened.time() == t(1)  # the wall clock reads 01:00 at that instant


def test_range_entirely_inside_a_gap_never_opens_that_day() -> None:
    w = WeeklyWindows.every_day((t(0, 15), t(0, 45)))
    opened = w.next_open(datetime(2018, 11, 3, 23, 0, tzinfo=SP))
    assert opened is not None
    assert opened.astimezone(UTC) == datetime(2018, 11, 5, 2, 15, tzinfo=UTC)  # Nov 5 00:15 -02


def test_next_open_in_a_repeated_hour_takes_the_second_pass() -> None:
    # Brazil, 2019-02-17 00:00 (-02) → 2019-02-16 23:00 (-03): 23:00–24:00 happens twice.
    w = WeeklyWindows.every_day((t(23), t(23, 30)))
    first_pass_2345 = datetime(2019, 2, 16, 23, 45, tzinfo=SP)  # fold=0: -02
    assert first_pass_2345.utcoffset() == timedelta(hours=-2)
    opened = w.next_open(first_pass_2345)
    assert opened is not None
    assert opened.astimezone(UTC) == datetime(2019, 2, 17, 2, 0, tzinfo=UTC)
    assert opened.utcoffset() == timedelta(hours=-3)


def _first_open_minute(w: WeeklyWindows, start: datetime, tz: ZoneInfo) -> datetime | None:
    """Brute force: the first UTC minute boundary at or after ``start`` that is open."""
    minute = start.replace(second=0, microsecond=0)
    if minute < start:
        minute += timedelta(minutes=1)
    end = start + timedelta(days=8)
    while minute <= end:
        if w.contains(minute.astimezone(tz)):
            return minute
        minute += timedelta(minutes=1)
    return None


@SCAN
@given(specs, st.sampled_from(ZONES).flatmap(lambda z: st.tuples(st.just(z), instants(z))))
def test_next_open_is_the_earliest_open_instant(spec: Spec, zoned: tuple[str, datetime]) -> None:
    """Against a minute-by-minute scan. Windows are minute-aligned and real offsets are whole
    minutes, so every open stretch contains a minute boundary and starts on one."""
    zone, instant = zoned
    tz = ZoneInfo(zone)
    w = spec_to_windows(spec)
    local = instant.astimezone(tz)
    opened = w.next_open(local)
    if w.contains(local):
        assert opened == local
        return
    expected = _first_open_minute(w, instant, tz)
    if opened is None:
        assert expected is None
        return
    assert opened.tzinfo is tz
    assert w.contains(opened)
    assert opened.astimezone(UTC) > instant
    assert expected is not None and opened.astimezone(UTC) == expected
    assert not w.contains((opened.astimezone(UTC) - timedelta(microseconds=1)).astimezone(tz))


# -- local day start ----------------------------------------------------------------------


def test_day_start_in_a_midnight_gap_is_the_transition() -> None:
    start = local_day_start(date(2018, 11, 4), SP)
    assert start.astimezone(UTC) == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert start.date() == date(2018, 11, 4)
    havana = local_day_start(date(2024, 3, 10), HAVANA)  # 00:00 → 01:00
    assert havana.time() == t(1)


def test_day_start_with_a_repeated_midnight_is_the_first_pass() -> None:
    # Havana, 2024-11-03: 01:00 (-04) → 00:00 (-05); 00:00–01:00 happens twice.
    start = local_day_start(date(2024, 11, 3), HAVANA)
    assert start.utcoffset() == timedelta(hours=-4)
    assert start.astimezone(UTC) == datetime(2024, 11, 3, 4, 0, tzinfo=UTC)


@given(st.sampled_from(ZONES).flatmap(lambda z: st.tuples(st.just(z), instants(z))))
def test_day_start_is_the_first_instant_of_the_local_day(zoned: tuple[str, datetime]) -> None:
    zone, instant = zoned
    tz = ZoneInfo(zone)
    day = instant.astimezone(tz).date()
    start = local_day_start(day, tz)
    assert start.date() == day
    assert start.astimezone(UTC) <= instant
    # Aware arithmetic is wall-clock arithmetic within one zone: step back in UTC.
    assert (start.astimezone(UTC) - timedelta(microseconds=1)).astimezone(tz).date() < day
    nxt = local_day_start(day + timedelta(days=1), tz)
    assert instant < nxt.astimezone(UTC)
    assert timedelta(hours=22) <= nxt.astimezone(UTC) - start.astimezone(UTC) <= timedelta(hours=26)
