"""A conversation's weekly windows: JSON in the database ⇄ the policy engine's WeeklyWindows.

Stored as {"0": [["08:00", "12:00"], ...], ...} (weekday 0 = Monday, tenant wall clock,
"00:00" (or "24:00") as an end means midnight at the end of the day).

Validation reports every problem with the place it is in (``windows.<day>.<range>``), so the
API's problem lists them and the dashboard's week grid puts each under its own cell: a range
must lie inside one day, start before it ends, last at least ``MIN_RANGE_MINUTES``, and not
overlap another range of the same day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.policy.windows import WeeklyWindows, local_day_start

DEFAULT_WINDOWS: dict[str, list[list[str]]] = {
    str(d): [["08:00", "12:00"], ["13:00", "18:00"], ["19:00", "21:30"]] for d in range(7)
}
ALL_DAY: dict[str, list[list[str]]] = {str(d): [["00:00", "00:00"]] for d in range(7)}
MAX_RANGES = 12
MIN_RANGE_MINUTES = 15
DAY_NAMES = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)

NOT_A_MAP = N_("windows map weekdays 0 (Monday) to 6 (Sunday) to lists of [start, end] ranges")
BAD_DAY = N_("weekdays are 0 (Monday) to 6 (Sunday)")
TOO_MANY = N_("%(day)s: at most %(limit)s ranges")
NOT_A_RANGE = N_("%(day)s, range %(n)s: a range is a start and an end")
BAD_TIME = N_("%(day)s, range %(n)s: enter times as HH:MM (an end of 00:00 is midnight)")
START_AFTER_END = N_(
    "%(day)s, range %(n)s: the start must be before the end (a range that crosses midnight is "
    "split into one range on each day)"
)
TOO_SHORT = N_("%(day)s, range %(n)s: a range lasts at least %(limit)s minutes")
OVERLAP = N_("%(day)s, range %(n)s overlaps range %(m)s")
NEVER_OPEN = N_("the windows never open: add at least one range")


@dataclass(frozen=True)
class WindowProblem:
    """One thing wrong in a calendar, and where: ``windows``, ``windows.<day>`` or
    ``windows.<day>.<range>`` (range numbers from 0, in the order given)."""

    field: str
    message: Message


class WindowsInvalid(ValidationFailed):
    """Windows that cannot be used; ``problems`` has every one (the detail is the first)."""

    def __init__(self, problems: list[WindowProblem]) -> None:
        first = problems[0]
        super().__init__(
            first.message.msgid,
            params=first.message.params,
            field=first.field,
            errors=[{"field": p.field, "detail": str(p.message)} for p in problems],
        )
        self.problems = problems


def _time(value: object, *, end: bool) -> time | None:
    text = str(value).strip()
    if end and text in ("24:00", "24:00:00"):
        return time(0)
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    try:
        return time(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 0)
    except ValueError:
        return None


def _minutes(t: time, *, end: bool) -> int:
    m = t.hour * 60 + t.minute
    return 24 * 60 if end and m == 0 and t.second == 0 else m


def check_windows(data: object) -> tuple[dict[int, list[tuple[time, time]]], list[WindowProblem]]:
    """The ranges by weekday, and every problem found (empty when they are usable)."""
    if not isinstance(data, dict):
        return {}, [WindowProblem("windows", Message(NOT_A_MAP))]
    problems: list[WindowProblem] = []
    by_day: dict[int, list[tuple[time, time]]] = {}
    for key, ranges in data.items():
        if str(key) not in {str(d) for d in range(7)}:
            problems.append(WindowProblem("windows", Message(BAD_DAY)))
            continue
        day = int(key)
        label = Message(DAY_NAMES[day])
        if not isinstance(ranges, list):
            problems.append(WindowProblem(f"windows.{day}", Message(NOT_A_MAP)))
            continue
        if len(ranges) > MAX_RANGES:
            problems.append(
                WindowProblem(
                    f"windows.{day}", Message(TOO_MANY, {"day": label, "limit": MAX_RANGES})
                )
            )
            continue
        spans: list[tuple[int, int, int]] = []
        pairs: list[tuple[time, time]] = []
        for i, r in enumerate(ranges):
            where, params = f"windows.{day}.{i}", {"day": label, "n": i + 1}
            if not isinstance(r, list | tuple) or len(r) != 2:
                problems.append(WindowProblem(where, Message(NOT_A_RANGE, params)))
                continue
            start, end = _time(r[0], end=False), _time(r[1], end=True)
            if start is None or end is None:
                problems.append(WindowProblem(where, Message(BAD_TIME, params)))
                continue
            s, e = _minutes(start, end=False), _minutes(end, end=True)
            if s >= e:
                problems.append(WindowProblem(where, Message(START_AFTER_END, params)))
                continue
            if e - s < MIN_RANGE_MINUTES:
                problems.append(
                    WindowProblem(where, Message(TOO_SHORT, {**params, "limit": MIN_RANGE_MINUTES}))
                )
                continue
            for other_s, other_e, j in spans:
                if s < other_e and other_s < e:
                    problems.append(WindowProblem(where, Message(OVERLAP, {**params, "m": j + 1})))
                    break
            else:
                spans.append((s, e, i))
                pairs.append((start, end))
        by_day[day] = pairs
    if not problems and not any(by_day.values()):
        problems.append(WindowProblem("windows", Message(NEVER_OPEN)))
    return by_day, problems


def parse_windows(data: object) -> WeeklyWindows:
    """Validate the JSON form (the API's, the week grid's) into WeeklyWindows."""
    by_day, problems = check_windows(data)
    if problems:
        raise WindowsInvalid(problems)
    return WeeklyWindows.from_mapping(by_day)


def to_json(windows: WeeklyWindows) -> dict[str, list[list[str]]]:
    return {
        str(d): [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in ranges]
        for d, ranges in enumerate(windows.days)
        if ranges
    }


@dataclass(frozen=True)
class ConversationWindows:
    weekly: WeeklyWindows

    def is_open_at(self, instant: datetime, zone: ZoneInfo) -> bool:
        return self.weekly.contains(instant.astimezone(zone))

    def next_open_at(self, instant: datetime, zone: ZoneInfo) -> datetime | None:
        found = self.weekly.next_open(instant.astimezone(zone))
        return found.astimezone(UTC) if found is not None else None

    def current_end(self, instant: datetime, zone: ZoneInfo) -> datetime | None:
        """The end of the open range containing ``instant`` (None when closed)."""
        local = instant.astimezone(zone)
        for start, end in self.weekly.days[local.weekday()]:
            # DST-safe midnight at the end of the day (wall-clock + timedelta is not).
            day_end = local_day_start(local.date() + timedelta(days=1), zone)
            end_dt = day_end if end == time(0) else datetime.combine(local.date(), end, zone)
            start_dt = datetime.combine(local.date(), start, zone)
            if start_dt <= local < end_dt:
                return end_dt.astimezone(UTC)
        return None


def windows_of(data: dict[str, list[list[str]]]) -> ConversationWindows:
    """Stored windows (validated when they were saved) as the engine uses them."""
    return ConversationWindows(WeeklyWindows.from_json(data))
