"""Hypothesis strategies and independent oracles for the policy engine tests.

The oracles here re-state each rule directly (minute-based window specs, literal ramp table,
plain wall-clock arithmetic) instead of calling the code under test, so a property that compares
the engine with them is a real cross-check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from mirage.policy import NumberState, TenantLoad, TenantPolicy, WeeklyWindows

# Zones with interesting DST: Brazil's old DST (starting at midnight, ending with a repeated
# 23:00 hour), midnight gaps (Santiago, Havana), a repeated midnight hour (Havana), a 30-minute
# shift (Lord Howe), the usual 02:00 ones (New York, London), and zones without DST.
ZONES = (
    "America/Sao_Paulo",
    "America/New_York",
    "Europe/London",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
)
# Years with DST in each zone (Brazil abolished DST in 2019).
DST_YEARS = {
    "America/Sao_Paulo": (2016, 2017, 2018),
    "America/New_York": (2024,),
    "Europe/London": (2024,),
    "America/Santiago": (2024,),
    "America/Havana": (2024,),
    "Australia/Lord_Howe": (2024,),
}

HEALTHS = ("healthy", "degraded", "restricted", "banned", "quarantined")
MINUTES_PER_DAY = 1440


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """UTC instants (to the half hour) where ``zone`` changes offset, found by brute force."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    for year in DST_YEARS.get(zone, ()):
        t = datetime(year, 1, 1, tzinfo=UTC)
        prev = t.astimezone(tz).utcoffset()
        while t.year == year:
            off = t.astimezone(tz).utcoffset()
            if off != prev:
                found.append(t)
                prev = off
            t += timedelta(minutes=30)
    return tuple(found)


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """An aware UTC instant: often within two days of a DST transition of ``zone``."""
    near = transitions(zone)
    if len(near) > 0 and draw(st.booleans()):
        base = draw(st.sampled_from(near))
        return base + timedelta(seconds=draw(st.integers(-2 * 86_400, 2 * 86_400)))
    naive = draw(st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2032, 12, 31)))
    return naive.replace(tzinfo=UTC)


# -- windows ------------------------------------------------------------------------------

#: A window spec: per weekday, a list of (start_minute, end_minute) with end up to 1440.
Spec = tuple[tuple[tuple[int, int], ...], ...]


def _minute_time(m: int) -> time:
    return time(0) if m == MINUTES_PER_DAY else time(m // 60, m % 60)


def spec_to_windows(spec: Spec) -> WeeklyWindows:
    return WeeklyWindows(
        tuple(tuple((_minute_time(s), _minute_time(e)) for s, e in day) for day in spec)
    )


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    n = draw(st.integers(0, 3))
    out = []
    for _ in range(n):
        start = draw(st.integers(0, MINUTES_PER_DAY - 1))
        end = draw(st.integers(start + 1, MINUTES_PER_DAY))
        out.append((start, end))
    return tuple(out)


ALWAYS_SPEC: Spec = (((0, MINUTES_PER_DAY),),) * 7
DEFAULT_SPEC: Spec = (((480, 720), (780, 1080), (1140, 1260)),) * 7

specs: st.SearchStrategy[Spec] = st.one_of(
    st.just(ALWAYS_SPEC),
    st.just(DEFAULT_SPEC),
    st.tuples(*(day_ranges() for _ in range(7))),
)


def minute_of_day(local: datetime) -> float:
    return local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60


def spec_open(spec: Spec, local: datetime) -> bool:
    m = minute_of_day(local)
    return any(s <= m < e for s, e in spec[local.weekday()])


# -- policy -------------------------------------------------------------------------------


def quiet_oracle(policy: TenantPolicy, local: datetime) -> bool:
    if policy.quiet_start is None or policy.quiet_end is None:
        return False
    m = minute_of_day(local)
    qs = policy.quiet_start.hour * 60 + policy.quiet_start.minute
    qe = policy.quiet_end.hour * 60 + policy.quiet_end.minute
    return qs <= m < qe if qs < qe else (m >= qs or m < qe)


minute_times = st.integers(0, MINUTES_PER_DAY - 1).map(_minute_time)


@st.composite
def policies(draw: st.DrawFn, zone: str, *, allow_zero_caps: bool = True) -> TenantPolicy:

    def cap(high: int) -> int:
        # A cap of 0 (sending stopped) now and then; otherwise small enough to be reached.
        if allow_zero_caps and draw(st.integers(0, 24)) == 24:
            return 0
        return draw(st.integers(1, high))

    quiet: tuple[time | None, time | None] = (None, None)
    if draw(st.integers(0, 3)):
        qs = draw(minute_times)
        qe = draw(minute_times.filter(lambda t: t != qs))
        quiet = (qs, qe)
    delay_min = draw(st.integers(0, 300))
    policy = TenantPolicy(
        timezone=zone,
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        hourly_cap_per_number=cap(8),
        daily_cap_per_number=cap(draw(st.sampled_from((12, 60, 400)))),
        burst_per_hour=cap(30),
        min_gap_seconds=draw(st.sampled_from((0, 1, 30, 90, 600, 3600, 7200))),
        delay_min_s=delay_min,
        delay_max_s=draw(st.integers(max(delay_min, 1), 600)),
        kill_switch=draw(st.integers(0, 9)) == 0,
    )
    assert not policy.problems(), policy.problems()
    return policy


RAMP_TABLE = ((31, 1000), (15, 200), (8, 100), (4, 50), (0, 20))


def ramp_oracle(age: int, health: str) -> int:
    if health not in ("healthy", "degraded"):
        return 0
    cap = next(per_day for first, per_day in RAMP_TABLE if max(age, 0) >= first)
    return max(1, cap // 2) if health == "degraded" else cap


def halve(cap: int, health: str) -> int:
    if health != "degraded" or cap == 0:
        return cap
    return max(1, cap // 2)


# -- histories ----------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """Send times (UTC) of the number and of the tenant's other numbers, all <= the start."""

    own: tuple[datetime, ...]
    others: tuple[datetime, ...]

    def number_state(
        self,
        at: datetime,
        zone: ZoneInfo,
        *,
        connected: bool,
        health: str,
        paused: bool,
        first_connected_at: datetime | None,
    ) -> NumberState:
        today: date = at.astimezone(zone).date()
        return NumberState(
            connected=connected,
            health=health,
            paused=paused,
            first_connected_at=first_connected_at,
            sent_last_hour=sum(1 for t in self.own if at - timedelta(hours=1) < t <= at),
            sent_today=sum(1 for t in self.own if t.astimezone(zone).date() == today),
            last_sent_at=max(self.own, default=None),
        )

    def tenant_load(self, at: datetime) -> TenantLoad:
        everything = self.own + self.others
        return TenantLoad(
            sent_last_hour=sum(1 for t in everything if at - timedelta(hours=1) < t <= at),
            last_sent_at=max(everything, default=None),
        )


@st.composite
def histories(draw: st.DrawFn, now: datetime) -> History:
    own_offsets = draw(st.lists(st.integers(0, 2 * 86_400), max_size=30))
    # Cluster sends in the last hours (hourly caps) and earlier the same day (daily and
    # warm-up caps) so that every cap is reached regularly.
    recent = draw(st.lists(st.integers(0, 3 * 3600), max_size=12))
    n_earlier = draw(st.sampled_from((0, 0, 5, 15, 30, 60)))
    earlier = draw(st.lists(st.integers(3600, 14 * 3600), min_size=n_earlier, max_size=n_earlier))
    others = draw(st.lists(st.integers(0, 2 * 3600), max_size=30))
    return History(
        own=tuple(now - timedelta(seconds=s) for s in own_offsets + recent + earlier),
        others=tuple(now - timedelta(seconds=s) for s in others),
    )
