"""The policy engine: the single answer to "may this number send this message now?".

`decide` is a pure function of its inputs and ``now``: no I/O, no clock. It is consulted when a
send is planned and again at the moment of sending (PRODUCT.md §5), and returns ``allow``,
``defer`` (with the earliest instant worth asking again) or ``deny``, always with a stable
reason code for the dashboard and the decision log.

Rules, in the order they are checked (the first that blocks gives the reason):

1. kill switches: global, then the tenant's (deny);
2. the tenant policy itself must be valid (deny ``policy_invalid``: fail closed);
3. the number: quarantined (deny), restricted/banned/unknown health (deny), paused by an
   operator (deny), not connected to the gateway (defer, no ``until``: it depends on the
   gateway, not on time). A ``degraded`` number still sends, with halved caps;
4. the conversation must be active (deny);
5. the calendar: outside the conversation's weekly windows, then inside the tenant's quiet
   hours (defer);
6. caps: per-number hourly, per-number daily, the warm-up ramp, the tenant-wide burst per
   rolling hour, and the per-number minimum gap between sends (defer).

``until`` for a defer is the earliest instant at which, if nothing else is sent meanwhile and
no setting or number state changes, *no* time-based rule (calendar or cap) blocks any more: the
caller can sleep until then and expect ``allow``. It is computed in the tenant's zone and is
DST-safe. The hourly and burst figures are counts, not timestamps, so their clearing instant is
bounded conservatively: every send counted in the last hour happened at or before the last send,
so all of them have left the rolling hour one hour after it (``last_sent_at + 1 h``; ``now + 1 h``
when the last send is unknown).

Outreach rules (consent, suppression, recipient-local hours, campaign caps, duplicate content)
will arrive as new keyword arguments and new fields with defaults, so existing callers keep
working unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from mirage.kit.i18n import N_
from mirage.policy.ramp import (
    BANNED,
    DEGRADED,
    QUARANTINED,
    RESTRICTED,
    SENDING_HEALTH,
    degrade,
    warmup_daily_cap,
)
from mirage.policy.windows import (
    SEARCH_DAYS,
    WeeklyWindows,
    in_daily_period,
    local_day_start,
)

HOUR = timedelta(hours=1)
MAX_SECONDS = 86_400  # sanity ceiling for gaps and delays (one day)

Action = Literal["allow", "defer", "deny"]


# The details a decision carries, as catalog message ids (English; ``policy.reasons`` reads
# a stored detail back into its template and values to show it in the reader's language).
# Changing a wording here changes what old decisions can be read back as: add, don't edit.
D_GLOBAL_KILL = N_("The global kill switch is on.")
D_TENANT_KILL = N_("The tenant's kill switch is on.")
D_POLICY_INVALID = N_("The tenant's settings are invalid (%(problems)s).")
D_QUARANTINED = N_("The number is quarantined.")
D_UNHEALTHY = N_("The number's health is %(health)s.")
D_PAUSED = N_("The number is paused.")
D_NOT_CONNECTED = N_("The number is not connected to the gateway.")
D_CONVERSATION_PAUSED = N_("The conversation is paused.")
D_OUTSIDE_WINDOW = N_("%(when)s is outside the conversation's sending windows.")
D_QUIET_HOURS = N_("%(when)s is inside the tenant's quiet hours (%(start)s–%(end)s).")
D_HOURLY = N_("The number sent %(sent)s messages in the last hour; the cap is %(cap)s%(halved)s.")
D_DAILY = N_("The number sent %(sent)s messages today; the daily cap is %(cap)s%(halved)s.")
D_WARMUP = N_(
    "The number sent %(sent)s messages today; its warm-up ramp allows %(ramp)s on day "
    "%(age)s%(halved)s."
)
D_BURST = N_("The tenant sent %(sent)s messages in the last hour; the burst limit is %(cap)s.")
D_MIN_GAP = N_("The number's last send was %(ago)s s ago; the minimum gap is %(gap)s s.")
D_HALVED = N_(" (halved while the number is degraded)")
# What may follow a detail (after a space).
D_CAP_ZERO = N_("A cap of 0 stops sending until it is raised.")
D_NO_WINDOW = N_("No sending window outside quiet hours opens within %(days)s days.")
D_NEXT_TRY = N_("Next try: %(when)s.")
DETAILS = (
    D_GLOBAL_KILL,
    D_TENANT_KILL,
    D_POLICY_INVALID,
    D_QUARANTINED,
    D_UNHEALTHY,
    D_PAUSED,
    D_NOT_CONNECTED,
    D_CONVERSATION_PAUSED,
    D_OUTSIDE_WINDOW,
    D_QUIET_HOURS,
    D_HOURLY,
    D_DAILY,
    D_WARMUP,
    D_BURST,
    D_MIN_GAP,
)
SUFFIXES = (D_CAP_ZERO, D_NO_WINDOW, D_NEXT_TRY)


class Reason(StrEnum):
    """Stable machine codes for why a send was deferred or denied (translated in the UI)."""

    KILL_SWITCH_GLOBAL = "kill_switch_global"
    KILL_SWITCH_TENANT = "kill_switch_tenant"
    POLICY_INVALID = "policy_invalid"
    NUMBER_QUARANTINED = "number_quarantined"
    NUMBER_UNHEALTHY = "number_unhealthy"
    NUMBER_PAUSED = "number_paused"
    NUMBER_NOT_CONNECTED = "number_not_connected"
    CONVERSATION_PAUSED = "conversation_paused"
    OUTSIDE_WINDOW = "outside_window"
    QUIET_HOURS = "quiet_hours"
    HOURLY_CAP = "hourly_cap"
    DAILY_CAP = "daily_cap"
    WARMUP_CAP = "warmup_cap"
    BURST_LIMIT = "burst_limit"
    MIN_GAP = "min_gap"


@dataclass(frozen=True)
class Decision:
    """The engine's answer. ``allow`` has no reason; ``until`` is only set on some defers."""

    action: Action
    reason: str | None
    until: datetime | None
    detail: str

    @classmethod
    def allow(cls, detail: str = "All rules pass.") -> Decision:
        return cls("allow", None, None, detail)

    @classmethod
    def defer(cls, reason: Reason, until: datetime | None, detail: str) -> Decision:
        return cls("defer", reason.value, until, detail)

    @classmethod
    def deny(cls, reason: Reason, detail: str) -> Decision:
        return cls("deny", reason.value, None, detail)

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    def as_dict(self) -> dict[str, str | None]:
        """A JSON-ready form for the decision log."""
        return {
            "action": self.action,
            "reason": self.reason,
            "until": None if self.until is None else self.until.isoformat(),
            "detail": self.detail,
        }


class InvalidPolicy(ValueError):
    """A tenant policy that cannot be enforced; ``problems`` lists (field, message) pairs."""

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))


@dataclass(frozen=True)
class TenantPolicy:
    """A tenant's cadence settings. Defaults follow reference/market-anchors.md §4."""

    #: PRODUCT.md: times are computed in the tenant's zone, default America/Sao_Paulo.
    timezone: str = "America/Sao_Paulo"
    #: Quiet from 22:00 to 07:00: the complement of DeskcommCRM's 07–22 h send window (§1.1);
    #: chip-heater and jhowbhz/warm-up-bot also stop at 22 h. ``None`` for both = no quiet hours.
    quiet_start: time | None = time(22, 0)
    quiet_end: time | None = time(7, 0)
    #: Whapi.Cloud: "< 30 outbound/h"; the triangulated default: "≤ 30 outbound/h per cold
    #: number" (§4).
    hourly_cap_per_number: int = 30
    #: DeskcommCRM's last finite warm-up step (200/day from day 15); the ramp in
    #: mirage.policy.ramp lowers it further for young numbers.
    daily_cap_per_number: int = 200
    #: Tenant-wide sends in any rolling hour: baileys-antiban's 200/h ceiling, applied to the
    #: whole fleet as a burst guard.
    burst_per_hour: int = 200
    #: WAHA: "random 30–60 s between messages" (§1.4, §4); the gap is the lower bound.
    min_gap_seconds: int = 30
    #: Think delay before a reply: AquecedorWeb's 30–90 s, also the triangulated outreach
    #: jitter (§1.6, §4).
    delay_min_s: int = 30
    delay_max_s: int = 90
    kill_switch: bool = False

    def zone(self) -> ZoneInfo:
        """The tenant's zone; raises `InvalidPolicy` for an unknown name."""
        try:
            return ZoneInfo(self.timezone)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise InvalidPolicy((("timezone", f"unknown time zone {self.timezone!r}"),)) from exc

    def problems(self) -> tuple[tuple[str, str], ...]:
        """Every reason this policy cannot be enforced, as (field, message); empty if valid."""
        found: list[tuple[str, str]] = []
        try:
            self.zone()
        except InvalidPolicy as exc:
            found.extend(exc.problems)
        if (self.quiet_start is None) != (self.quiet_end is None):
            found.append(("quiet_end", "quiet hours need both a start and an end, or neither"))
        elif self.quiet_start is not None and self.quiet_end is not None:
            if self.quiet_start.tzinfo is not None or self.quiet_end.tzinfo is not None:
                found.append(("quiet_start", "quiet hours are wall-clock times without a zone"))
            if self.quiet_start.replace(tzinfo=None) == self.quiet_end.replace(tzinfo=None):
                found.append(("quiet_end", "quiet hours must not start and end at the same time"))
        for name in ("hourly_cap_per_number", "daily_cap_per_number", "burst_per_hour"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                found.append((name, "must be a whole number, 0 or more (0 stops sending)"))
        if not _is_int(self.min_gap_seconds) or not 0 <= self.min_gap_seconds <= MAX_SECONDS:
            found.append(("min_gap_seconds", f"must be between 0 and {MAX_SECONDS} seconds"))
        delays_ok = True
        for name in ("delay_min_s", "delay_max_s"):
            value = getattr(self, name)
            if not _is_int(value) or not 0 <= value <= MAX_SECONDS:
                found.append((name, f"must be between 0 and {MAX_SECONDS} seconds"))
                delays_ok = False
        if delays_ok:
            if self.delay_min_s > self.delay_max_s:
                found.append(("delay_max_s", "must not be smaller than delay_min_s"))
            elif self.delay_max_s == 0:
                found.append(("delay_max_s", "delays are never zero: must be at least 1 second"))
        if not isinstance(self.kill_switch, bool):
            found.append(("kill_switch", "must be true or false"))
        return tuple(found)

    def validate(self) -> None:
        """Raise `InvalidPolicy` listing every problem, or return if the policy is valid."""
        problems = self.problems()
        if problems:
            raise InvalidPolicy(problems)

    def in_quiet_hours(self, local_dt: datetime) -> bool:
        """Whether the wall-clock time of ``local_dt`` (in the tenant's zone) is quiet."""
        if self.quiet_start is None or self.quiet_end is None:
            return False
        return in_daily_period(local_dt.time(), self.quiet_start, self.quiet_end)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _utc(value: datetime | None, name: str) -> datetime | None:
    """``value`` as UTC. Arithmetic on zoned datetimes is wall-clock arithmetic in Python, so
    every instant is normalized to UTC before any ``+ timedelta``."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (store and pass UTC)")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class NumberState:
    """What the engine needs to know about the sending number, read just before deciding.

    Timestamps must be aware; they are normalized to UTC.

    ``sent_last_hour`` counts sends in the rolling hour ``(now - 1 h, now]``; ``sent_today``
    counts sends on the current tenant-local calendar day. ``health`` is a verdict from
    mirage.instances.health: healthy, degraded, restricted, banned or quarantined.
    """

    connected: bool
    health: str
    paused: bool
    first_connected_at: datetime | None
    sent_last_hour: int
    sent_today: int
    last_sent_at: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "first_connected_at", _utc(self.first_connected_at, "first_connected_at")
        )
        object.__setattr__(self, "last_sent_at", _utc(self.last_sent_at, "last_sent_at"))
        if self.sent_last_hour < 0 or self.sent_today < 0:
            raise ValueError("send counters cannot be negative")


@dataclass(frozen=True)
class TenantLoad:
    """Tenant-wide traffic for the burst limit: sends by all its numbers in the rolling hour.

    ``last_sent_at`` (the tenant's most recent send) is optional; it tightens the burst
    defer's ``until`` from ``now + 1 h`` to ``last_sent_at + 1 h``.
    """

    sent_last_hour: int
    last_sent_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "last_sent_at", _utc(self.last_sent_at, "last_sent_at"))
        if self.sent_last_hour < 0:
            raise ValueError("send counters cannot be negative")


@dataclass(frozen=True)
class SendContext:
    """What is being sent: for now a warm-up message of a conversation with these windows."""

    conversation_active: bool
    windows: WeeklyWindows


def effective_windows(policy: TenantPolicy, windows: WeeklyWindows) -> WeeklyWindows:
    """The wall-clock ranges in which a send can happen: the windows minus quiet hours."""
    return windows.without_daily(policy.quiet_start, policy.quiet_end)


def age_days(first_connected_at: datetime | None, now: datetime, zone: ZoneInfo) -> int:
    """A number's age in tenant-local calendar days (0 on the day it first connected).

    Unknown first connection counts as day 0 (the most conservative step of the ramp).
    """
    if first_connected_at is None:
        return 0
    days = (now.astimezone(zone).date() - first_connected_at.astimezone(zone).date()).days
    return max(days, 0)


def _rolling_hour_clears(now: datetime, last_sent_at: datetime | None) -> datetime:
    """When every send counted in the rolling hour at ``now`` has left it (see module doc)."""
    if last_sent_at is not None and last_sent_at + HOUR > now:
        return last_sent_at + HOUR
    return now + HOUR


def _fmt(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%a %Y-%m-%d %H:%M:%S %Z")


@dataclass(frozen=True)
class _Block:
    reason: Reason
    detail: str
    #: For caps: when the rule stops applying if nothing else is sent; None = never (cap 0).
    clears_at: datetime | None = None


def decide(
    now: datetime,
    *,
    global_kill: bool,
    policy: TenantPolicy,
    number: NumberState,
    tenant: TenantLoad,
    ctx: SendContext,
) -> Decision:
    """Whether ``number`` may send the message described by ``ctx`` at ``now`` (aware)."""
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime (UTC)")
    now = now.astimezone(UTC)

    if global_kill:
        return Decision.deny(Reason.KILL_SWITCH_GLOBAL, D_GLOBAL_KILL)
    if policy.kill_switch:
        return Decision.deny(Reason.KILL_SWITCH_TENANT, D_TENANT_KILL)
    problems = policy.problems()
    if problems:
        listed = "; ".join(f"{name}: {message}" for name, message in problems)
        return Decision.deny(Reason.POLICY_INVALID, D_POLICY_INVALID % {"problems": listed})

    if number.health == QUARANTINED:
        return Decision.deny(Reason.NUMBER_QUARANTINED, D_QUARANTINED)
    if number.health not in SENDING_HEALTH:
        known = number.health in (RESTRICTED, BANNED)
        what = number.health if known else f"unknown ({number.health!r})"
        return Decision.deny(Reason.NUMBER_UNHEALTHY, D_UNHEALTHY % {"health": what})
    if number.paused:
        return Decision.deny(Reason.NUMBER_PAUSED, D_PAUSED)
    if not number.connected:
        return Decision.defer(Reason.NUMBER_NOT_CONNECTED, None, D_NOT_CONNECTED)
    if not ctx.conversation_active:
        return Decision.deny(Reason.CONVERSATION_PAUSED, D_CONVERSATION_PAUSED)

    zone = policy.zone()
    local = now.astimezone(zone)
    degraded = number.health == DEGRADED
    halved = D_HALVED if degraded else ""

    calendar: _Block | None = None
    if not ctx.windows.contains(local):
        calendar = _Block(
            Reason.OUTSIDE_WINDOW,
            D_OUTSIDE_WINDOW % {"when": _fmt(now, zone)},
        )
    elif (
        policy.quiet_start is not None
        and policy.quiet_end is not None
        and policy.in_quiet_hours(local)
    ):
        calendar = _Block(
            Reason.QUIET_HOURS,
            D_QUIET_HOURS
            % {
                "when": _fmt(now, zone),
                "start": f"{policy.quiet_start:%H:%M}",
                "end": f"{policy.quiet_end:%H:%M}",
            },
        )

    caps: list[_Block] = []
    hourly = degrade(policy.hourly_cap_per_number) if degraded else policy.hourly_cap_per_number
    if number.sent_last_hour >= hourly:
        caps.append(
            _Block(
                Reason.HOURLY_CAP,
                D_HOURLY % {"sent": number.sent_last_hour, "cap": hourly, "halved": halved},
                _rolling_hour_clears(now, number.last_sent_at) if hourly > 0 else None,
            )
        )
    next_day = local_day_start(local.date() + timedelta(days=1), zone).astimezone(UTC)
    daily = degrade(policy.daily_cap_per_number) if degraded else policy.daily_cap_per_number
    age = age_days(number.first_connected_at, now, zone)
    ramp = warmup_daily_cap(age, number.health)
    if number.sent_today >= daily:
        caps.append(
            _Block(
                Reason.DAILY_CAP,
                D_DAILY % {"sent": number.sent_today, "cap": daily, "halved": halved},
                next_day if daily > 0 else None,
            )
        )
    elif number.sent_today >= ramp:
        caps.append(
            _Block(
                Reason.WARMUP_CAP,
                D_WARMUP % {"sent": number.sent_today, "ramp": ramp, "age": age, "halved": halved},
                next_day,
            )
        )
    if tenant.sent_last_hour >= policy.burst_per_hour:
        caps.append(
            _Block(
                Reason.BURST_LIMIT,
                D_BURST % {"sent": tenant.sent_last_hour, "cap": policy.burst_per_hour},
                _rolling_hour_clears(now, tenant.last_sent_at) if policy.burst_per_hour else None,
            )
        )
    gap = timedelta(seconds=policy.min_gap_seconds)
    if number.last_sent_at is not None and now - number.last_sent_at < gap:
        ago = max((now - number.last_sent_at).total_seconds(), 0.0)
        caps.append(
            _Block(
                Reason.MIN_GAP,
                D_MIN_GAP % {"ago": f"{ago:.0f}", "gap": policy.min_gap_seconds},
                number.last_sent_at + gap,
            )
        )

    first = calendar or (caps[0] if caps else None)
    if first is None:
        return Decision.allow()

    if any(b.clears_at is None for b in caps):
        return Decision.defer(first.reason, None, f"{first.detail} {D_CAP_ZERO}")
    clears = max([now, *(b.clears_at for b in caps if b.clears_at is not None)])
    opens = effective_windows(policy, ctx.windows).next_open(clears.astimezone(zone))
    if opens is None:
        return Decision.defer(
            first.reason,
            None,
            f"{first.detail} {D_NO_WINDOW % {'days': SEARCH_DAYS}}",
        )
    until = opens.astimezone(UTC)
    next_try = D_NEXT_TRY % {"when": _fmt(until, zone)}
    return Decision.defer(first.reason, until, f"{first.detail} {next_try}")
