"""Hypothesis strategies and independent oracles for the policy engine tests.

The oracles here re-state each rule directly (minute-based window specs, literal ramp table,
plain wall-clock arithmetic) instead of calling the code under test, so a property that compares
the engine with them is a real cross-check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
BAND_NAMES = ("green", "yellow", "orange", "red", "critical")
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


@cache
def instants(zone: str) -> st.SearchStrategy[datetime]:
    """One strategy object per zone: a new one per example would be validated afresh."""
    return _instants(zone)


@st.composite
def _instants(draw: st.DrawFn, zone: str) -> datetime:
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


@cache
def policies(zone: str, *, allow_zero_caps: bool = True) -> st.SearchStrategy[TenantPolicy]:
    """One strategy object per zone (see ``instants``)."""
    return _policies(zone, allow_zero_caps=allow_zero_caps)


@st.composite
def _policies(draw: st.DrawFn, zone: str, *, allow_zero_caps: bool = True) -> TenantPolicy:

    def cap(high: int) -> int:
        # A cap of 0 (sending stopped) now and then; otherwise small enough to be reached.
        if allow_zero_caps and draw(st.integers(0, 24)) == 24:
            return 0
        return draw(st.integers(1, high))

    quiet: tuple[time | None, time | None] = (None, None)
    if draw(st.integers(0, 3)):
        # Two different minutes, each uniform (the second over the 1439 others).
        qs_m = draw(st.integers(0, MINUTES_PER_DAY - 1))
        qe_m = draw(st.integers(0, MINUTES_PER_DAY - 2))
        quiet = (_minute_time(qs_m), _minute_time(qe_m + (qe_m >= qs_m)))
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
        band_new_contacts_per_day=cap(6),
    )
    assert not policy.problems(), policy.problems()
    return policy


RAMP_TABLE = ((31, 1000), (15, 200), (8, 100), (4, 50), (0, 20))


def tight(health: str, band: str) -> bool:
    """Caps are halved (once) for a degraded number and in the yellow, orange and red bands."""
    return health == "degraded" or band in ("yellow", "orange", "red")


STAGE_TABLE = (20, 50, 100, 200, 1000)


def ramp_oracle(age: int, health: str, band: str = "green", stage: int | None = None) -> int:
    if health not in ("healthy", "degraded"):
        return 0
    cap = next(per_day for first, per_day in RAMP_TABLE if max(age, 0) >= first)
    if stage is not None:  # the stage earned by health also bounds it
        cap = min(cap, STAGE_TABLE[min(max(stage, 0), 4)])
    return max(1, cap // 2) if tight(health, band) else cap


def halve(cap: int, health: str, band: str = "green") -> int:
    if not tight(health, band) or cap == 0:
        return cap
    return max(1, cap // 2)


# -- histories ----------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """Send times (UTC) of the number and of the tenant's other numbers, all <= the start;
    ``strangers``: those of the number's sends that went to new contacts (campaign sends)."""

    own: tuple[datetime, ...]
    others: tuple[datetime, ...]
    strangers: tuple[datetime, ...] = ()

    def number_state(
        self,
        at: datetime,
        zone: ZoneInfo,
        *,
        connected: bool,
        health: str,
        paused: bool,
        first_connected_at: datetime | None,
        band: str = "green",
        warmup_stage: int | None = None,
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
            band=band,
            warmup_stage=warmup_stage,
            new_contacts_today=sum(
                1 for t in self.strangers if t <= at and t.astimezone(zone).date() == today
            ),
        )

    def tenant_load(self, at: datetime) -> TenantLoad:
        everything = self.own + self.others
        return TenantLoad(
            sent_last_hour=sum(1 for t in everything if at - timedelta(hours=1) < t <= at),
            last_sent_at=max(everything, default=None),
        )


def draw_history(draw: st.DrawFn, now: datetime) -> History:
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


# -- outreach -----------------------------------------------------------------------------

#: Where recipients may be: Brazil's four offsets (and its old DST), plus DST zones abroad.
RECIPIENT_ZONES = (
    "America/Sao_Paulo",
    "America/Recife",
    "America/Noronha",
    "America/Manaus",
    "America/Eirunepe",
    "America/Rio_Branco",
    "America/Cuiaba",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
)
DAYPART_NAMES = ("night", "morning", "afternoon", "evening")  # 6-hour parts from midnight


def subsets(items: tuple[datetime, ...]) -> st.SearchStrategy[tuple[datetime, ...]]:
    """Some of ``items``, chosen by one drawn bit mask (one draw, however many items)."""
    return st.integers(0, 2 ** len(items) - 1).map(lambda mask: _subset(items, mask))


def draw_subset(draw: st.DrawFn, items: tuple[datetime, ...]) -> tuple[datetime, ...]:
    """``draw(subsets(items))`` without building a new strategy per draw."""
    return _subset(items, draw(st.integers(0, 2 ** len(items) - 1)))


def _subset(items: tuple[datetime, ...], mask: int) -> tuple[datetime, ...]:
    return tuple(t for i, t in enumerate(items) if mask >> i & 1)


@dataclass(frozen=True)
class FakeHolidays:
    """A holiday calendar from a set of dates (the engine only asks ``holiday(day)``)."""

    days: frozenset[date]

    def holiday(self, day: date) -> str | None:
        return "Feriado" if day in self.days else None


@dataclass(frozen=True)
class OutreachCase:
    """A send to an external contact, as plain data the oracle reads directly."""

    contact: tuple[int, int]  # minutes, [start, end), end up to 1440
    weekdays: frozenset[int]
    dayparts: frozenset[str]
    skip_holidays: bool
    number_hourly_cap: int | None
    number_daily_cap: int | None
    campaign_hourly_cap: int | None
    campaign_daily_cap: int | None
    min_gap_seconds: int
    duplicate_limit: int
    duplicate_window_seconds: int
    zones: tuple[str, ...]
    holidays: frozenset[date] | None
    basis: str | None
    consent: str
    suppressed: bool
    valid_until: datetime
    campaign_sends: tuple[datetime, ...]
    same_text_sends: tuple[datetime, ...]

    @property
    def rules_valid(self) -> bool:
        """Restated: non-empty weekdays and dayparts, and a daypart overlapping the hours."""
        cs, ce = self.contact
        overlap = any(
            max(cs, 360 * i) < min(ce, 360 * (i + 1))
            for i, name in enumerate(DAYPART_NAMES)
            if name in self.dayparts
        )
        return bool(self.weekdays) and bool(self.dayparts) and overlap


def draw_outreach_case(
    draw: st.DrawFn, now: datetime, history: History, *, sending: bool
) -> OutreachCase:
    """A random outreach send. ``sending=True``: valid rules, a recipient who may be messaged
    and a validity far ahead, so only time rules can block."""
    # Open all week half of the time, so that the caps and the guard bind often too.
    open_week = draw(st.booleans())
    start = draw(st.integers(0, MINUTES_PER_DAY - 1))
    end = draw(st.integers(start + 1, MINUTES_PER_DAY))
    if open_week:
        start, end = 0, MINUTES_PER_DAY
    elif draw(st.booleans()):
        start, end = draw(st.sampled_from(((480, 1080), (540, 1260), (420, 720), (0, 1440))))
    weekdays = frozenset(draw(st.sets(st.integers(0, 6), min_size=0 if not sending else 1)))
    if open_week:
        weekdays = frozenset(range(7))
    elif draw(st.booleans()):
        weekdays = frozenset(range(5)) if draw(st.booleans()) else frozenset(range(6))
    dayparts = frozenset(draw(st.sets(st.sampled_from(DAYPART_NAMES), min_size=1)))
    if open_week or draw(st.booleans()):
        dayparts = frozenset(DAYPART_NAMES)
    everything = history.own + history.others
    base = (history.own + history.others) or (now,)
    holidays: frozenset[date] | None = None
    if draw(st.integers(0, 3)):
        today = now.date()
        offsets = draw(st.lists(st.integers(-2, 10), max_size=5))
        holidays = frozenset(today + timedelta(days=o) for o in offsets)
    case = OutreachCase(
        contact=(start, end),
        weekdays=weekdays,
        dayparts=dayparts,
        skip_holidays=draw(st.integers(0, 3)) > 0,
        number_hourly_cap=draw(st.one_of(st.none(), st.integers(1, 10))),
        number_daily_cap=draw(st.one_of(st.none(), st.integers(1, 60))),
        campaign_hourly_cap=draw(st.one_of(st.none(), st.integers(1, 2), st.integers(1, 8))),
        campaign_daily_cap=draw(st.one_of(st.none(), st.integers(1, 3), st.integers(1, 30))),
        min_gap_seconds=draw(st.sampled_from((0, 30, 600, 3600))),
        duplicate_limit=draw(st.integers(1, 4)),
        duplicate_window_seconds=draw(st.sampled_from((60, 600, 3600, 7200))),
        zones=tuple(
            draw(st.lists(st.sampled_from(RECIPIENT_ZONES), min_size=1, max_size=2, unique=True))
        ),
        holidays=holidays,
        basis=None
        if not sending and draw(st.integers(0, 7)) == 0
        else draw(st.sampled_from(("consent", "legitimate_interest"))),
        consent="granted"
        if sending
        else draw(st.sampled_from(("granted", "granted", "granted", "none", "revoked"))),
        suppressed=False if sending else draw(st.integers(0, 7)) == 0,
        # Sending: usually far ahead, sometimes close enough to turn a defer into "expired".
        valid_until=now
        + timedelta(
            seconds=draw(
                st.one_of(st.integers(60 * 86_400, 90 * 86_400), st.integers(1, 2 * 86_400))
                if sending
                else st.one_of(st.integers(-3600, 3 * 86_400), st.integers(1, 600))
            )
        ),
        campaign_sends=draw_subset(draw, everything),
        same_text_sends=draw_subset(draw, base),
    )
    if sending and not case.rules_valid:
        return replace(case, dayparts=frozenset(DAYPART_NAMES))
    return case
