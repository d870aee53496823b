"""Weekly sending windows in wall-clock time, and DST-safe search for the next open instant.

A window calendar says, for each weekday (0 = Monday), during which wall-clock ranges of the
tenant's time zone a conversation may send. Ranges are half-open, ``[start, end)``; an ``end``
of ``00:00`` means midnight at the *end* of the day, so ``(time(0), time(0))`` is the whole day.
A range never crosses midnight: a night range that does is written as two ranges, one on each
day (e.g. Friday ``22:00–00:00`` and Saturday ``00:00–02:00``).

Wall-clock rules meet absolute time at DST transitions. ``contains`` reads only the wall clock,
so during a repeated hour both passes count, and a wall time skipped by a spring-forward gap is
never seen. ``next_open`` returns the earliest *instant* at which ``contains`` becomes true: the
first occurrence of a range start, the second pass of a repeated hour, or the transition instant
itself when the clock jumps into a range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise

DAY_US = 86_400 * 1_000_000
SEARCH_DAYS = 8  # next_open looks this many days ahead (a week plus a day for DST shifts)

TimeRange = tuple[time, time]
DayRanges = tuple[TimeRange, ...]


def time_to_us(t: time) -> int:
    """Microseconds since midnight for a wall-clock time (ignores tzinfo and fold)."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def us_to_time(us: int) -> time:
    """The inverse of `time_to_us`; ``DAY_US`` (24:00) maps to ``00:00``."""
    us %= DAY_US
    seconds, micro = divmod(us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


def _end_us(t: time) -> int:
    """A range end in microseconds: ``00:00`` stands for 24:00."""
    us = time_to_us(t)
    return DAY_US if us == 0 else us


def _check_naive(t: time) -> None:
    if t.tzinfo is not None:
        raise ValueError(f"window times are wall-clock times and must be naive, got {t!r}")


def _normalize(ranges: Iterable[TimeRange]) -> DayRanges:
    """Validate, sort and merge overlapping or touching ranges."""
    spans: list[tuple[int, int]] = []
    for item in ranges:
        if len(item) != 2:
            raise ValueError(f"a window range is a (start, end) pair, got {item!r}")
        start, end = item
        if not isinstance(start, time) or not isinstance(end, time):
            raise ValueError(f"window bounds must be datetime.time values, got {item!r}")
        _check_naive(start)
        _check_naive(end)
        s, e = time_to_us(start), _end_us(end)
        if s >= e:
            raise ValueError(
                f"window range {start.isoformat()}–{end.isoformat()} is empty or crosses "
                "midnight; split it into one range per day"
            )
        spans.append((s, e))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return tuple((us_to_time(s), us_to_time(e)) for s, e in merged)


def _parse_clock(text: str, *, end: bool = False) -> time:
    if end and text.strip() in ("24:00", "24:00:00"):
        return time(0)
    try:
        parsed = time.fromisoformat(text.strip())
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"expected a wall-clock time like '08:30', got {text!r}") from exc
    if parsed.tzinfo is not None:
        raise ValueError(f"window times are wall-clock times without a zone, got {text!r}")
    return parsed


def _clock(t: time, *, end: bool = False) -> str:
    if end and time_to_us(t) == 0:
        return "24:00"
    return t.isoformat(timespec="auto" if t.second or t.microsecond else "minutes")


def _spans(ranges: DayRanges) -> list[tuple[int, int]]:
    return [(time_to_us(s), _end_us(e)) for s, e in ranges]


def daily_spans(start: time, end: time) -> list[tuple[int, int]]:
    """The microsecond spans of one day covered by a daily period that may wrap midnight.

    ``start == end`` covers nothing (callers that mean "all day" use ``00:00–00:00`` windows).
    """
    s, e = time_to_us(start), time_to_us(end)
    if s == e:
        return []
    if s < e:
        return [(s, e)]
    return [(0, e), (s, DAY_US)] if e > 0 else [(s, DAY_US)]


def in_daily_period(t: time, start: time, end: time) -> bool:
    """Whether wall time ``t`` falls in ``[start, end)``, wrapping midnight when start > end."""
    us = time_to_us(t)
    return any(s <= us < e for s, e in daily_spans(start, end))


def _subtract(spans: Sequence[tuple[int, int]], holes: Sequence[tuple[int, int]]) -> DayRanges:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        pieces = [(s, e)]
        for hs, he in holes:
            nxt: list[tuple[int, int]] = []
            for ps, pe in pieces:
                if he <= ps or hs >= pe:
                    nxt.append((ps, pe))
                    continue
                if ps < hs:
                    nxt.append((ps, hs))
                if he < pe:
                    nxt.append((he, pe))
            pieces = nxt
        out.extend(pieces)
    return tuple((us_to_time(s), us_to_time(e)) for s, e in out)


def resolve_local(day: date, t: time, tz: tzinfo, *, fold: int = 0) -> datetime:
    """The instant (as an aware local datetime) of wall time ``t`` on ``day`` in ``tz``.

    Ambiguous wall times pick the pass given by ``fold``. A wall time inside a spring-forward
    gap does not exist; with ``fold=0`` it resolves to an instant after the gap (the same
    convention as PEP 495), which is never earlier than the transition.
    """
    naive = datetime.combine(day, t).replace(fold=fold)
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _offset(instant: datetime, tz: tzinfo) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


def _transitions(tz: tzinfo, first: date, last: date) -> list[datetime]:
    """UTC instants in ``[first, last]`` (local days) at which the zone's UTC offset changes.

    Samples the offset at each local midnight and bisects (to the second) between samples
    that differ; real zones change offset at most once a day.
    """
    samples: list[datetime] = []
    day = first
    while day <= last + timedelta(days=1):
        samples.append(resolve_local(day, time(0), tz).astimezone(UTC))
        day += timedelta(days=1)
    found: list[datetime] = []
    for lo, hi in pairwise(samples):
        before = _offset(lo, tz)
        if before == _offset(hi, tz):
            continue
        lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
        while hi_s - lo_s > 1:
            mid = (lo_s + hi_s) // 2
            if _offset(datetime.fromtimestamp(mid, UTC), tz) == before:
                lo_s = mid
            else:
                hi_s = mid
        found.append(datetime.fromtimestamp(hi_s, UTC))
    return found


def local_day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant of local calendar day ``day`` in ``tz``, as an aware local datetime.

    Usually local midnight; when midnight falls in a spring-forward gap (as in Brazil's old
    DST, which started at 00:00), the day begins at the transition instant instead.
    """
    midnight = resolve_local(day, time(0), tz)
    if midnight.date() == day and midnight.time() == time(0):
        return midnight
    for instant in _transitions(tz, day - timedelta(days=1), day):
        local = instant.astimezone(tz)
        if local.date() == day and instant <= midnight.astimezone(UTC):
            return local
    return midnight


@dataclass(frozen=True)
class WeeklyWindows:
    """Sending ranges per weekday (0 = Monday), in the tenant's wall-clock time.

    ``days`` has exactly seven entries; ranges are validated, sorted and merged on creation.
    """

    days: tuple[DayRanges, ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError(f"weekly windows need 7 days (Monday first), got {len(self.days)}")
        object.__setattr__(self, "days", tuple(_normalize(day) for day in self.days))

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def every_day(cls, *ranges: TimeRange) -> WeeklyWindows:
        """The same ranges on all seven days."""
        return cls(tuple(tuple(ranges) for _ in range(7)))

    @classmethod
    def from_mapping(cls, by_weekday: Mapping[int, Iterable[TimeRange]]) -> WeeklyWindows:
        """Ranges keyed by weekday (0 = Monday); missing days are closed."""
        unknown = set(by_weekday) - set(range(7))
        if unknown:
            raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday), got {sorted(unknown)}")
        return cls(tuple(tuple(by_weekday.get(d, ())) for d in range(7)))

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[Sequence[str]]]) -> WeeklyWindows:
        """Parse the stored form ``{"0": [["08:00", "12:00"], ...], ...}`` (weekday keys,
        0 = Monday; ``"HH:MM"`` or ``"HH:MM:SS"``; an end of ``"24:00"`` means midnight)."""
        by_weekday: dict[int, list[TimeRange]] = {}
        for key, ranges in data.items():
            try:
                weekday = int(key)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"weekday keys are '0' (Monday) to '6', got {key!r}") from exc
            parsed: list[TimeRange] = []
            for pair in ranges:
                if len(pair) != 2:
                    raise ValueError(f"a window range is a [start, end] pair, got {pair!r}")
                parsed.append((_parse_clock(pair[0]), _parse_clock(pair[1], end=True)))
            by_weekday[weekday] = parsed
        return cls.from_mapping(by_weekday)

    def to_json(self) -> dict[str, list[list[str]]]:
        """The stored form read by `from_json`; ends at midnight are written ``"24:00"``."""
        return {
            str(weekday): [[_clock(start), _clock(end, end=True)] for start, end in ranges]
            for weekday, ranges in enumerate(self.days)
        }

    # -- queries --------------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        """True when no day has any range: nothing can ever be sent."""
        return not any(self.days)

    def contains(self, local_dt: datetime) -> bool:
        """Whether the wall-clock time of ``local_dt`` (already in the tenant's zone) is open."""
        us = time_to_us(local_dt.time())
        return any(s <= us < e for s, e in _spans(self.days[local_dt.weekday()]))

    def without_daily(self, start: time | None, end: time | None) -> WeeklyWindows:
        """These windows minus a daily period (e.g. quiet hours) that may wrap midnight."""
        if start is None or end is None:
            return self
        holes = daily_spans(start, end)
        if not holes:
            return self
        return WeeklyWindows(tuple(_subtract(_spans(day), holes) for day in self.days))

    def next_open(self, local_dt: datetime) -> datetime | None:
        """The earliest instant at or after ``local_dt`` that is open, in ``local_dt``'s zone.

        Returns ``local_dt`` itself when it is open, and ``None`` when nothing opens within
        `SEARCH_DAYS` days. ``local_dt`` must be aware.
        """
        tz = local_dt.tzinfo
        if tz is None or local_dt.utcoffset() is None:
            raise ValueError("next_open needs an aware datetime in the tenant's zone")
        local_dt = local_dt.astimezone(tz)  # normalize fold/offset
        if self.contains(local_dt):
            return local_dt
        if self.is_empty:
            return None
        start = local_dt.astimezone(UTC)
        horizon = start + timedelta(days=SEARCH_DAYS)
        first_day = local_dt.date()
        last_day = first_day + timedelta(days=SEARCH_DAYS)

        candidates: list[datetime] = []
        day = first_day - timedelta(days=1)  # a range start can resolve onto the next day
        while day <= last_day:
            for range_start, _ in self.days[day.weekday()]:
                for fold in (0, 1):
                    candidates.append(resolve_local(day, range_start, tz, fold=fold))
            day += timedelta(days=1)
        # The clock can also jump into an open range at a DST transition.
        candidates.extend(t.astimezone(tz) for t in _transitions(tz, first_day, last_day))

        best: datetime | None = None
        for cand in candidates:
            instant = cand.astimezone(UTC)
            if instant <= start or instant > horizon:
                continue
            if best is not None and instant >= best:
                continue
            if self.contains(cand):
                best = instant
        return None if best is None else best.astimezone(tz)


def _t(hour: int, minute: int = 0) -> time:
    return time(hour, minute)


#: Open all day, every day.
ALWAYS = WeeklyWindows.every_day((_t(0), _t(0)))
#: Closed all week (a conversation with this calendar never sends).
NEVER = WeeklyWindows(((),) * 7)
#: Morning, afternoon and evening ranges every day, with lunch and dinner pauses. Inside the
#: 07–22 h send window of DeskcommCRM's defaults and the 08–22 h schedules of chip-heater and
#: jhowbhz/warm-up-bot (reference/market-anchors.md §1.1, §1.5, §1.9, §4).
DEFAULT = WeeklyWindows.every_day((_t(8), _t(12)), (_t(13), _t(18)), (_t(19), _t(21)))
