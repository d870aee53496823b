"""The dashboard's schedule editor and week grid: form fields ⇄ schedules, and what the grid
draws (pure; views.py reads and renders).

The editor is a week grid: one row per day, one column per range (morning, afternoon, night,
and more when a day has more), each a start and an end time; then rounds per window and the
pauses between rounds, in minutes. Every problem is attached to its cell or field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mirage.conversations import schedule
from mirage.conversations.schedule import Schedule
from mirage.conversations.windows import DAY_NAMES, WindowProblem, check_windows
from mirage.kit.errors import DomainError, ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.web.forms import WHOLE_NUMBER

COLUMNS = (N_("Morning"), N_("Afternoon"), N_("Night"))
SHORT_DAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
LABELS = {
    "rounds_per_window": N_("Rounds per window"),
    "pause_min_s": N_("Shortest pause between rounds (min)"),
    "pause_max_s": N_("Longest pause between rounds (min)"),
}
BOTH_ENDS = N_("%(day)s, range %(n)s: enter both the start and the end")
PAUSE_RANGE = N_("%(field)s: between %(low)s and %(high)s minutes")
ROUNDS_RANGE = N_("%(field)s: between 1 and 50")
PAUSES_ORDER = N_("the shortest pause must not be longer than the longest pause")


class FormProblems(ValidationFailed):
    """Every problem of a submitted schedule form, by field (``windows.<d>.<i>`` or a name)."""

    def __init__(self, problems: list[WindowProblem]) -> None:
        first = problems[0]
        super().__init__(first.message.msgid, params=first.message.params, field=first.field)
        self.problems = problems


def columns(windows: Mapping[str, Sequence[Sequence[str]]]) -> int:
    return max([3, *(len(r) for r in windows.values())])


def form_values(sched: Schedule) -> dict[str, str]:
    """A schedule as the editor's field values."""
    values = {
        "source": sched.source,
        "rounds_per_window": str(sched.rounds_per_window),
        "pause_min_m": _minutes(sched.pause_min_s),
        "pause_max_m": _minutes(sched.pause_max_s),
    }
    for day, ranges in sched.windows.items():
        for i, (start, end) in enumerate(ranges):
            values[f"w{day}_{i}_start"] = start
            values[f"w{day}_{i}_end"] = "00:00" if end == "24:00" else end
    return values


def _minutes(seconds: int) -> str:
    m = seconds / 60
    return str(int(m)) if m == int(m) else f"{m:.1f}"


def _whole(fields: Mapping[str, str], name: str) -> int | None:
    raw = fields.get(name, "").strip()
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        return None
    return int(raw)


def parse_form(
    fields: Mapping[str, str], *, cols: int
) -> tuple[dict[str, list[list[str]]], int, int, int]:
    """(windows, rounds per window, pause min s, pause max s), or FormProblems."""
    problems: list[WindowProblem] = []
    windows: dict[str, list[list[str]]] = {}
    columns_of: dict[int, list[int]] = {}  # per day, the editor column of each range given
    for day in range(7):
        ranges: list[list[str]] = []
        for i in range(cols):
            start = fields.get(f"w{day}_{i}_start", "").strip()
            end = fields.get(f"w{day}_{i}_end", "").strip()
            if not start and not end:
                continue
            if not start or not end:
                problems.append(
                    WindowProblem(
                        f"windows.{day}.{i}",
                        Message(BOTH_ENDS, {"day": Message(DAY_NAMES[day]), "n": i + 1}),
                    )
                )
                continue
            columns_of.setdefault(day, []).append(i)
            ranges.append([start, end])
        windows[str(day)] = ranges
    _, found = check_windows(windows)
    if problems:  # half-filled cells were left out: "never opens" would only mislead
        found = [p for p in found if p.field != "windows"]
    problems.extend(_in_columns(p, columns_of) for p in found)
    rounds = _whole(fields, "rounds_per_window")
    if rounds is None:
        problems.append(_field("rounds_per_window", WHOLE_NUMBER))
    elif not 1 <= rounds <= 50:
        problems.append(_field("rounds_per_window", ROUNDS_RANGE))
    pauses: list[int] = []
    for name, key in (("pause_min_m", "pause_min_s"), ("pause_max_m", "pause_max_s")):
        minutes = _whole(fields, name)
        if minutes is None:
            problems.append(_field(key, WHOLE_NUMBER))
        elif not 1 <= minutes <= 1440:
            problems.append(_field(key, PAUSE_RANGE, low=1, high=1440))
        else:
            pauses.append(minutes * 60)
    if len(pauses) == 2 and pauses[0] > pauses[1]:
        problems.append(WindowProblem("pause_min_s", Message(PAUSES_ORDER)))
    if problems or rounds is None:
        raise FormProblems(problems)
    return windows, rounds, pauses[0], pauses[1]


def _in_columns(p: WindowProblem, columns_of: dict[int, list[int]]) -> WindowProblem:
    """A problem of the n-th range given, told of the editor's column it was typed in (the
    grid skips empty cells: range 2 of a day may be its night column)."""
    parts = p.field.split(".")
    if len(parts) != 3:
        return p
    cols = columns_of.get(int(parts[1]), [])
    params = dict(p.message.params)
    for key in ("n", "m"):
        value = params.get(key)
        if isinstance(value, int) and 0 < value <= len(cols):
            params[key] = cols[value - 1] + 1
    column = cols[int(parts[2])] if int(parts[2]) < len(cols) else int(parts[2])
    return WindowProblem(f"windows.{parts[1]}.{column}", Message(p.message.msgid, params))


def _field(name: str, msgid: str, **params: object) -> WindowProblem:
    return WindowProblem(name, Message(msgid, {"field": Message(LABELS[name]), **params}))


def problems_by_field(exc: DomainError) -> dict[str, list[Message]]:
    """Messages keyed by the field they belong to ("" for the form as a whole)."""
    out: dict[str, list[Message]] = {}
    listed = getattr(exc, "problems", None)
    if listed:
        for p in listed:
            out.setdefault(_form_field(p.field), []).append(p.message)
    else:
        out.setdefault(_form_field(str(exc.extra.get("field") or "")), []).append(exc.message)
    return out


def _form_field(name: str) -> str:
    return {"pause_min_s": "pause_min_m", "pause_max_s": "pause_max_m"}.get(name, name)


# --- the week grid -------------------------------------------------------------------------


@dataclass
class Block:
    """Something drawn on a day: from ``a`` to ``b`` percent of the day."""

    a: float
    b: float
    label: str = ""
    start: str = ""
    end: str = ""
    state: str = ""
    href: str = ""
    lane: int = 0
    color: int = 0
    conversation_id: str = ""
    numbers: str = ""


@dataclass
class DayView:
    day: date
    name: str
    short: str
    today: bool
    windows: list[Block] = field(default_factory=list)
    quiet: list[Block] = field(default_factory=list)
    slots: list[Block] = field(default_factory=list)

    @property
    def iso(self) -> str:
        """The day as a URL or attribute value (a date, not an instant: no zone to apply)."""
        return self.day.isoformat()


def _pct(t: time | None, *, end: bool = False) -> float:
    if t is None:
        return 0.0
    minutes = t.hour * 60 + t.minute + t.second / 60
    if end and minutes == 0:
        return 100.0
    return round(minutes / 14.4, 3)


def day_blocks(
    days: Sequence[date],
    today: date,
    zone: ZoneInfo,
    windows: Sequence[tuple[int, Mapping[str, Sequence[Sequence[str]]]]],
    quiet: Mapping[date, Sequence[tuple[time, time]]],
    slots: Sequence[tuple[datetime, datetime, str, str, str, int, int, str]],
) -> list[DayView]:
    """The grid's days. ``windows``: (lane, windows), lane -1 for the whole day's width;
    ``slots``: (start, end, conversation name, conversation id, state, lane, colour,
    numbers); a slot across midnight is drawn on both days."""
    out = []
    views: dict[date, DayView] = {}
    for d in days:
        view = DayView(d, DAY_NAMES[d.weekday()], SHORT_DAYS[d.weekday()], d == today)
        for lane, weekly in windows:
            for start, end in weekly.get(str(d.weekday()), ()):
                s, e = time.fromisoformat(start), _end(end)
                view.windows.append(
                    Block(_pct(s), _pct(e, end=True), start=start, end=_hhmm(end), lane=lane)
                )
        for s, e in quiet.get(d, ()):
            view.quiet.append(
                Block(
                    _pct(s), _pct(e, end=True), start=s.strftime("%H:%M"), end=e.strftime("%H:%M")
                )
            )
        out.append(view)
        views[d] = view
    # Each slot visits only the days it overlaps (a week of a busy fleet has thousands).
    one_day = timedelta(days=1)
    for start_at, end_at, name, cid, state, lane, color, numbers in slots:
        local_s, local_e = start_at.astimezone(zone), end_at.astimezone(zone)
        start, end, href = local_s.strftime("%H:%M"), local_e.strftime("%H:%M"), ""
        d = local_s.date()
        while d <= local_e.date():
            view_of_day = views.get(d)
            day_start = datetime.combine(d, time(0), zone)
            day_end = datetime.combine(d + one_day, time(0), zone)
            if view_of_day is not None and local_e > day_start and local_s < day_end:
                a = 0.0 if local_s < day_start else _pct(local_s.time())
                b = 100.0 if local_e >= day_end else _pct(local_e.time(), end=True)
                href = href or f"/conversations/{cid}"
                view_of_day.slots.append(
                    Block(
                        a,
                        max(b, a + 0.35),
                        label=name,
                        start=start,
                        end=end,
                        state=state,
                        href=href,
                        lane=lane,
                        color=color,
                        conversation_id=cid,
                        numbers=numbers,
                    )
                )
            d += one_day
    return out


def _end(value: str) -> time:
    return time(0) if value in ("24:00", "00:00") else time.fromisoformat(value)


def _hhmm(value: str) -> str:
    return "24:00" if value in ("24:00", "00:00") else value


SOURCES = {schedule.DEFAULT: N_("the tenant default"), schedule.OWN: N_("its own schedule")}
