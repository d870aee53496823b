"""A conversation's weekly windows: JSON in the database ⇄ the policy engine's WeeklyWindows.

Stored as {"0": [["08:00", "12:00"], ...], ...} (weekday 0 = Monday, tenant wall clock,
"00:00" as an end means midnight at the end of the day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mirage.kit.errors import ValidationFailed
from mirage.policy.windows import WeeklyWindows, local_day_start

DEFAULT_WINDOWS: dict[str, list[list[str]]] = {
    str(d): [["08:00", "12:00"], ["13:00", "18:00"], ["19:00", "21:30"]] for d in range(7)
}
ALL_DAY: dict[str, list[list[str]]] = {str(d): [["00:00", "00:00"]] for d in range(7)}


def _time(value: str) -> time:
    try:
        hh, mm = value.strip().split(":")
        return time(int(hh), int(mm))
    except (ValueError, AttributeError) as exc:
        raise ValidationFailed(f"not a time (HH:MM): {value!r}", field="windows") from exc


def parse_windows(data: object) -> WeeklyWindows:
    """Validate the JSON form (used by the API and the form) into WeeklyWindows."""
    if not isinstance(data, dict):
        raise ValidationFailed("windows must map weekdays 0–6 to time ranges", field="windows")
    by_day: dict[int, list[tuple[time, time]]] = {}
    for key, ranges in data.items():
        if str(key) not in {str(d) for d in range(7)}:
            raise ValidationFailed(
                f"weekdays are 0 (Monday) to 6 (Sunday), got {key!r}", field="windows"
            )
        if not isinstance(ranges, list) or len(ranges) > 12:
            raise ValidationFailed("each weekday takes a list of up to 12 ranges", field="windows")
        pairs = []
        for r in ranges:
            if not isinstance(r, list | tuple) or len(r) != 2:
                raise ValidationFailed("a range is [start, end]", field="windows")
            pairs.append((_time(str(r[0])), _time(str(r[1]))))
        by_day[int(key)] = pairs
    try:
        windows = WeeklyWindows.from_mapping(by_day)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="windows") from exc
    if windows.is_empty:
        raise ValidationFailed("the windows never open: add at least one range", field="windows")
    return windows


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
    return ConversationWindows(parse_windows(data))
