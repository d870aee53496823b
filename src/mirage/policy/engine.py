"""The policy engine: the single answer to "may this number send this message now?".

`decide` is a pure function of its inputs and ``now``: no I/O, no clock. It is consulted when a
send is planned and again at the moment of sending (PRODUCT.md §5), and returns ``allow``,
``defer`` (with the earliest instant worth asking again) or ``deny``, always with a stable
reason code for the dashboard and the decision log.

Rules, in the order they are checked (the first that blocks gives the reason):

1. kill switches: global, then the tenant's (deny);
2. the tenant policy itself must be valid (deny ``policy_invalid``: fail closed);
3. the number: quarantined (deny), restricted/banned/unknown health (deny), paused by an
   operator (deny), its risk band (`mirage.policy.bands`): ``critical`` (deny), ``orange``
   or ``red`` for a campaign send that is not a reply (deny ``band_no_outreach``), ``red``
   for any send that is not a reply (deny ``band_replies_only``); then not connected to the
   gateway (defer, no ``until``: it depends on the gateway, not on time). A ``degraded``
   number, or one in the yellow, orange or red band, still sends, with halved caps;
4. the conversation must be active (deny);
5. the calendar: outside the conversation's weekly windows, then inside the tenant's quiet
   hours (defer);
6. caps: per-number hourly, per-number daily, the warm-up ramp, in the yellow band the
   daily number of campaign sends to new contacts (``band_new_contacts``), the tenant-wide
   burst per rolling hour, and the per-number minimum gap between sends (defer).

A send to an external contact (a campaign's) carries an `Outreach` in its context
(``SendContext.outreach``); without one (warm-up) none of the rules below exists and every
decision is what it always was. With one, in the same order:

- after the policy checks: the outreach policy must be valid (deny ``policy_invalid``), the
  recipient must not be suppressed (deny ``suppressed``) and must have a legal basis — consent
  granted, or legitimate interest — (deny ``no_basis``) that was not revoked (deny
  ``consent_revoked``); a message past its validity is never sent (deny ``expired``);
- in the calendar, after the tenant's quiet hours, in the recipient's local time and in *each*
  of the zones the recipient may be in (`mirage.policy.locality`): an allowed weekday
  (``recipient_weekday``), the contact hours (``contact_hours``), an allowed daypart
  (``daypart``), not a holiday there when the policy skips holidays (``holiday``) (defer);
- in the caps: the policy's per-number caps and minimum gap only tighten the number's own
  (the effective cap is the smaller one, the gap the longer one; warm-up and campaigns count
  against the same per-number budget), then the campaign's own hourly and daily caps
  (``campaign_hourly_cap``, ``campaign_daily_cap``) and the duplicate-content guard (no more
  than ``duplicate_limit`` sends of the same text in ``duplicate_window_seconds``:
  ``duplicate_content``), before the gap (defer);
- a defer whose ``until`` is not before the message's ``valid_until`` is a deny ``expired``
  instead: a message that can no longer go out in time is skipped, never sent late.

One send, and only one, may reach a person on the do-not-contact list: the confirmation owed
to someone who has just opted out (``SendContext.confirmation``, an `OptOutConfirmation`). It
answers the message they just sent, so it is outside the calendar and the caps, but not
outside the kill switches or the number's own state. It is allowed with its own reason code
(``optout_confirmation``) only while the person is still opted out, no other confirmation has
been sent (or claimed) to them, and within its validity; otherwise it is denied
(``confirmation_not_owed``, ``confirmation_sent``, ``expired``). A context with both an
``outreach`` and a ``confirmation`` is a caller's mistake: denied ``policy_invalid``.

``until`` for a defer is the earliest instant at which, if nothing else is sent meanwhile and
no setting or number state changes, *no* time-based rule (calendar or cap) blocks any more: the
caller can sleep until then and expect ``allow``. It is computed in the tenant's zone (and the
recipient's) and is DST-safe. The hourly and burst figures are counts, not timestamps, so their
clearing instant is bounded conservatively: every send counted in the last hour happened at or
before the last send, so all of them have left the rolling hour one hour after it
(``last_sent_at + 1 h``; ``now + 1 h`` when the last send is unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from mirage.kit.i18n import N_
from mirage.policy.bands import BANDS, NO_OUTREACH, TIGHTENED, Band
from mirage.policy.locality import HolidayCalendar
from mirage.policy.ramp import (
    BANNED,
    DEGRADED,
    QUARANTINED,
    RESTRICTED,
    SENDING_HEALTH,
    degrade,
    stage_cap,
    warmup_daily_cap,
)
from mirage.policy.windows import (
    DAY_US,
    SEARCH_DAYS,
    WeeklyWindows,
    in_daily_period,
    local_day_start,
    time_to_us,
    us_to_time,
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
D_BAND_HALVED = N_(" (halved in the %(band)s risk band)")
D_CRITICAL = N_("The number's risk band is critical: it is paused.")
D_NO_OUTREACH = N_("The number's risk band is %(band)s: replies and warm-up only.")
D_REPLIES_ONLY = N_("The number's risk band is red: replies only.")
D_NEW_CONTACTS = N_(
    "The number sent %(sent)s messages to new contacts today; in the yellow risk band the "
    "limit is %(cap)s."
)
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
    D_CRITICAL,
    D_NO_OUTREACH,
    D_REPLIES_ONLY,
    D_NEW_CONTACTS,
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
    NUMBER_CRITICAL = "number_critical"
    BAND_NO_OUTREACH = "band_no_outreach"
    BAND_REPLIES_ONLY = "band_replies_only"
    BAND_NEW_CONTACTS = "band_new_contacts"
    CONVERSATION_PAUSED = "conversation_paused"
    OUTSIDE_WINDOW = "outside_window"
    QUIET_HOURS = "quiet_hours"
    HOURLY_CAP = "hourly_cap"
    DAILY_CAP = "daily_cap"
    WARMUP_CAP = "warmup_cap"
    BURST_LIMIT = "burst_limit"
    MIN_GAP = "min_gap"
    # Outreach (sends to external contacts) only:
    SUPPRESSED = "suppressed"
    NO_BASIS = "no_basis"
    CONSENT_REVOKED = "consent_revoked"
    EXPIRED = "expired"
    RECIPIENT_WEEKDAY = "recipient_weekday"
    CONTACT_HOURS = "contact_hours"
    DAYPART = "daypart"
    HOLIDAY = "holiday"
    CAMPAIGN_HOURLY_CAP = "campaign_hourly_cap"
    CAMPAIGN_DAILY_CAP = "campaign_daily_cap"
    DUPLICATE_CONTENT = "duplicate_content"
    # The opt-out confirmation (the one send to a suppressed person):
    OPTOUT_CONFIRMATION = "optout_confirmation"  # an *allow* with a reason: the exception
    CONFIRMATION_SENT = "confirmation_sent"
    CONFIRMATION_NOT_OWED = "confirmation_not_owed"


#: Reasons that concern the whole number (or tenant) whatever the message: every other message
#: of the number would be held back alike now.
NUMBER_WIDE: frozenset[Reason] = frozenset(
    {
        Reason.KILL_SWITCH_GLOBAL,
        Reason.KILL_SWITCH_TENANT,
        Reason.POLICY_INVALID,
        Reason.NUMBER_QUARANTINED,
        Reason.NUMBER_UNHEALTHY,
        Reason.NUMBER_PAUSED,
        Reason.NUMBER_NOT_CONNECTED,
        Reason.NUMBER_CRITICAL,
        Reason.QUIET_HOURS,
        Reason.BURST_LIMIT,
    }
)
#: The number's own caps and gap: a campaign's rules only lower the caps and lengthen the gap
#: for its own messages, so these hold every message of the number back when a message
#: without such rules meets them.
_NUMBER_CAPS: frozenset[Reason] = frozenset(
    {Reason.HOURLY_CAP, Reason.DAILY_CAP, Reason.WARMUP_CAP, Reason.MIN_GAP}
)


def holds_number(reason: str, *, outreach: bool) -> bool:
    """Whether a decision for this reason, on a message that is (or not) outreach with its
    own rules, would be the same now for every other message of the number."""
    return reason in NUMBER_WIDE or (not outreach and reason in _NUMBER_CAPS)


#: What the dashboard shows for each reason (catalog ids; pt-BR in the catalog).
REASON_LABELS: dict[Reason, str] = {
    Reason.KILL_SWITCH_GLOBAL: N_("Global kill switch on"),
    Reason.KILL_SWITCH_TENANT: N_("Tenant kill switch on"),
    Reason.POLICY_INVALID: N_("Invalid settings"),
    Reason.NUMBER_QUARANTINED: N_("Number quarantined"),
    Reason.NUMBER_UNHEALTHY: N_("Number restricted or banned"),
    Reason.NUMBER_PAUSED: N_("Number paused"),
    Reason.NUMBER_NOT_CONNECTED: N_("Number not connected"),
    Reason.NUMBER_CRITICAL: N_("Number at critical risk"),
    Reason.BAND_NO_OUTREACH: N_("Risk band: replies and warm-up only"),
    Reason.BAND_REPLIES_ONLY: N_("Risk band: replies only"),
    Reason.BAND_NEW_CONTACTS: N_("Risk band: new contacts limited"),
    Reason.CONVERSATION_PAUSED: N_("Conversation paused"),
    Reason.OUTSIDE_WINDOW: N_("Outside the sending windows"),
    Reason.QUIET_HOURS: N_("Quiet hours"),
    Reason.HOURLY_CAP: N_("Hourly cap of the number"),
    Reason.DAILY_CAP: N_("Daily cap of the number"),
    Reason.WARMUP_CAP: N_("Warm-up ramp of the number"),
    Reason.BURST_LIMIT: N_("Tenant burst limit"),
    Reason.MIN_GAP: N_("Minimum gap between sends"),
    Reason.SUPPRESSED: N_("Recipient on the do-not-contact list"),
    Reason.NO_BASIS: N_("Recipient without a legal basis"),
    Reason.CONSENT_REVOKED: N_("Recipient revoked consent"),
    Reason.EXPIRED: N_("Expired: could not go out within its validity"),
    Reason.RECIPIENT_WEEKDAY: N_("Weekday not allowed where the recipient is"),
    Reason.CONTACT_HOURS: N_("Outside the recipient's contact hours"),
    Reason.DAYPART: N_("Daypart not allowed where the recipient is"),
    Reason.HOLIDAY: N_("Holiday where the recipient is"),
    Reason.CAMPAIGN_HOURLY_CAP: N_("Hourly cap of the campaign"),
    Reason.CAMPAIGN_DAILY_CAP: N_("Daily cap of the campaign"),
    Reason.DUPLICATE_CONTENT: N_("Same text sent too often"),
    Reason.OPTOUT_CONFIRMATION: N_("Opt-out confirmation (the one message after an opt-out)"),
    Reason.CONFIRMATION_SENT: N_("Opt-out already confirmed once"),
    Reason.CONFIRMATION_NOT_OWED: N_("No opt-out to confirm any more"),
}


def reason_label(code: str | None) -> str:
    """The label of a reason code (a catalog id), or the code itself if it is unknown."""
    if code is None:
        return ""
    try:
        return REASON_LABELS[Reason(code)]
    except ValueError:
        return code


@dataclass(frozen=True)
class Decision:
    """The engine's answer. ``allow`` has no reason (except the opt-out confirmation's, which
    says why a suppressed person may get it); ``until`` is only set on some defers."""

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
    #: In the yellow band, campaign sends to new contacts per number and day: baileys-antiban's
    #: "≤ 5 strangers/day" (market-anchors §1.2), also the triangulated default (§4).
    band_new_contacts_per_day: int = 5

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
        for name in (
            "hourly_cap_per_number",
            "daily_cap_per_number",
            "burst_per_hour",
            "band_new_contacts_per_day",
        ):
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
    mirage.instances.health: healthy, degraded, restricted, banned or quarantined. ``band``
    is the number's risk band (`mirage.policy.bands`; an unknown word counts as critical) and
    ``new_contacts_today`` its campaign sends on the current tenant-local day (every campaign
    recipient is an external contact, new to the number).
    """

    connected: bool
    health: str
    paused: bool
    first_connected_at: datetime | None
    sent_last_hour: int
    sent_today: int
    last_sent_at: datetime | None
    band: str = Band.GREEN
    new_contacts_today: int = 0
    #: The warm-up stage earned by health (`mirage.policy.ramp.warmup_stage`); None: by age
    #: only. The ramp is the smaller of the two.
    warmup_stage: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "first_connected_at", _utc(self.first_connected_at, "first_connected_at")
        )
        object.__setattr__(self, "last_sent_at", _utc(self.last_sent_at, "last_sent_at"))
        if self.sent_last_hour < 0 or self.sent_today < 0 or self.new_contacts_today < 0:
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


class Daypart(StrEnum):
    """The four parts of a day, in the recipient's local time; together they cover it."""

    NIGHT = "night"  # 00:00–06:00 (madrugada)
    MORNING = "morning"  # 06:00–12:00
    AFTERNOON = "afternoon"  # 12:00–18:00
    EVENING = "evening"  # 18:00–24:00


#: Each daypart's wall-clock range, ``[start, end)``; an end of 00:00 is midnight.
DAYPART_HOURS: dict[Daypart, tuple[time, time]] = {
    Daypart.NIGHT: (time(0), time(6)),
    Daypart.MORNING: (time(6), time(12)),
    Daypart.AFTERNOON: (time(12), time(18)),
    Daypart.EVENING: (time(18), time(0)),
}
LEGAL_BASES = ("consent", "legitimate_interest")
CONSENT_STATES = ("granted", "revoked", "none")
WEEKDAYS = range(7)  # 0 = Monday


def daypart_of(t: time) -> Daypart:
    """The daypart a wall-clock time falls in."""
    return (Daypart.NIGHT, Daypart.MORNING, Daypart.AFTERNOON, Daypart.EVENING)[t.hour // 6]


def _end_of(t: time) -> int:
    """A range end in microseconds since midnight; 00:00 stands for 24:00."""
    return time_to_us(t) or DAY_US


@dataclass(frozen=True)
class OutreachRules:
    """An outreach policy as the engine applies it to one send (see the module doc).

    Defaults follow reference/market-anchors.md §5, "safe product default": Monday to Friday,
    08:00–18:00 in the recipient's local time, no holidays. Caps of None leave the number's own
    (a policy can only tighten them); a campaign cap of None means no campaign-wide cap.
    """

    #: Contact hours in the recipient's wall-clock time, ``[start, end)``; end 00:00 = midnight.
    contact_start: time = time(8, 0)
    contact_end: time = time(18, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    dayparts: frozenset[Daypart] = frozenset(Daypart)
    skip_holidays: bool = True
    number_hourly_cap: int | None = None
    number_daily_cap: int | None = None
    campaign_hourly_cap: int | None = None
    campaign_daily_cap: int | None = None
    min_gap_seconds: int = 0
    #: baileys-antiban blocks the same text after 3 sends in an hour (§1.2); DeskcommCRM's
    #: gate vetoes a copy seen twice in the last 20 sends (§7).
    duplicate_limit: int = 3
    duplicate_window_seconds: int = 3600

    def problems(self) -> tuple[tuple[str, str], ...]:
        """Every reason these rules cannot be enforced, as (field, message); empty if valid."""
        found: list[tuple[str, str]] = []
        hours_ok = True
        for name in ("contact_start", "contact_end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                found.append((name, "contact hours are wall-clock times without a zone"))
                hours_ok = False
        if hours_ok and time_to_us(self.contact_start) >= _end_of(self.contact_end):
            found.append(("contact_end", "contact hours must end after they start"))
            hours_ok = False
        if not self.weekdays or not set(self.weekdays) <= set(WEEKDAYS):
            found.append(("weekdays", "allow at least one weekday (0 = Monday … 6 = Sunday)"))
        if not self.dayparts or not set(self.dayparts) <= set(Daypart):
            found.append(("dayparts", "allow at least one daypart"))
        elif hours_ok and self.weekdays and self.windows().is_empty:
            found.append(("dayparts", "no allowed daypart overlaps the contact hours"))
        for name in (
            "number_hourly_cap",
            "number_daily_cap",
            "campaign_hourly_cap",
            "campaign_daily_cap",
        ):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                found.append((name, "must be a whole number, 1 or more (or no cap)"))
        if not _is_int(self.min_gap_seconds) or not 0 <= self.min_gap_seconds <= MAX_SECONDS:
            found.append(("min_gap_seconds", f"must be between 0 and {MAX_SECONDS} seconds"))
        if not _is_int(self.duplicate_limit) or self.duplicate_limit < 1:
            found.append(("duplicate_limit", "must be a whole number, 1 or more"))
        window = self.duplicate_window_seconds
        if not _is_int(window) or not 1 <= window <= MAX_SECONDS:
            found.append(("duplicate_window_seconds", f"must be between 1 and {MAX_SECONDS} s"))
        if not isinstance(self.skip_holidays, bool):
            found.append(("skip_holidays", "must be true or false"))
        return tuple(found)

    def windows(self) -> WeeklyWindows:
        """Where a send may land in the recipient's wall-clock week: the allowed weekdays,
        the contact hours, the allowed dayparts (holidays are separate: they are dates)."""
        start, end = time_to_us(self.contact_start), _end_of(self.contact_end)
        ranges: list[tuple[time, time]] = []
        for part in sorted(self.dayparts):
            ps, pe = DAYPART_HOURS[Daypart(part)]
            lo, hi = max(start, time_to_us(ps)), min(end, _end_of(pe))
            if lo < hi:
                ranges.append((us_to_time(lo), us_to_time(hi)))
        return WeeklyWindows(
            tuple(tuple(ranges) if day in self.weekdays else () for day in WEEKDAYS)
        )


@dataclass(frozen=True)
class Recipient:
    """Who a send goes to, as the engine needs it: where they may be (every zone their number
    may put them in, `mirage.policy.locality`; all must be respected), that place's holidays,
    their legal basis and consent, and whether they are suppressed tenant-wide."""

    zones: tuple[str, ...]
    basis: str | None
    consent: str
    suppressed: bool
    holidays: HolidayCalendar | None = None

    def __post_init__(self) -> None:
        if not self.zones:
            raise ValueError("a recipient has at least one time zone")
        for zone in self.zones:
            ZoneInfo(zone)  # raises for an unknown zone: a caller's bug, not a decision
        if self.basis is not None and self.basis not in LEGAL_BASES:
            raise ValueError(f"unknown legal basis {self.basis!r}")
        if self.consent not in CONSENT_STATES:
            raise ValueError(f"unknown consent state {self.consent!r}")


@dataclass(frozen=True)
class CampaignLoad:
    """The campaign's own sends, by all its numbers: in the rolling hour, on the current
    tenant-local day, and its latest (optional; tightens the hourly cap's ``until``)."""

    sent_last_hour: int = 0
    sent_today: int = 0
    last_sent_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "last_sent_at", _utc(self.last_sent_at, "last_sent_at"))
        if self.sent_last_hour < 0 or self.sent_today < 0:
            raise ValueError("send counters cannot be negative")


@dataclass(frozen=True)
class Outreach:
    """A send to an external contact: the rules of its outreach policy, its recipient, its
    campaign's load, the tenant's recent sends of the same text (any number; the guard
    counts those inside its window) and the instant after which it may no longer go out."""

    rules: OutreachRules
    recipient: Recipient
    valid_until: datetime
    campaign: CampaignLoad = field(default_factory=CampaignLoad)
    same_text_sent: tuple[datetime, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "valid_until", _utc(self.valid_until, "valid_until"))
        object.__setattr__(
            self,
            "same_text_sent",
            tuple(_utc(t, "same_text_sent") for t in self.same_text_sent),
        )


@dataclass(frozen=True)
class OptOutConfirmation:
    """The single confirmation owed to a person who has just opted out, as its owner reads it
    fresh at the send: whether they are still opted out (a VOLTAR since makes it moot), how
    many confirmations other than this one were sent or claimed to them (ever), and until
    when it is worth sending (it answers their message: late, it would be noise)."""

    still_opted_out: bool
    others_sent: int
    valid_until: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "valid_until", _utc(self.valid_until, "valid_until"))
        if self.others_sent < 0:
            raise ValueError("send counters cannot be negative")


@dataclass(frozen=True)
class SendContext:
    """What is being sent: a message of a conversation (or campaign) that may send within
    these windows (tenant-local); a send to an external contact carries its ``outreach``;
    the opt-out confirmation carries its ``confirmation`` (and nothing else). ``reply``: the
    message answers one the other side sent (the orange and red bands still let replies
    out)."""

    conversation_active: bool
    windows: WeeklyWindows
    outreach: Outreach | None = None
    confirmation: OptOutConfirmation | None = None
    reply: bool = False


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
    out = ctx.outreach

    if global_kill:
        return Decision.deny(Reason.KILL_SWITCH_GLOBAL, D_GLOBAL_KILL)
    if policy.kill_switch:
        return Decision.deny(Reason.KILL_SWITCH_TENANT, D_TENANT_KILL)
    problems = policy.problems()
    if problems:
        listed = "; ".join(f"{name}: {message}" for name, message in problems)
        return Decision.deny(Reason.POLICY_INVALID, D_POLICY_INVALID % {"problems": listed})
    if ctx.confirmation is not None:
        return _confirmation(now, ctx.confirmation, ctx, number)
    if out is not None:
        recipient_block = _recipient_denial(now, out)
        if recipient_block is not None:
            return recipient_block

    number_block = _number_block(number, ctx)
    if number_block is not None:
        return number_block
    band = _band(number)
    if not ctx.conversation_active:
        return Decision.deny(Reason.CONVERSATION_PAUSED, D_CONVERSATION_PAUSED)

    zone = policy.zone()
    local = now.astimezone(zone)
    degraded = number.health == DEGRADED
    # Degraded health and a risky band each halve the caps; together they halve them once.
    tight = degraded or band in TIGHTENED
    halved = D_HALVED if degraded else D_BAND_HALVED % {"band": band.value} if tight else ""

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
    elif out is not None:
        calendar = _recipient_calendar(now, out)

    caps: list[_Block] = []
    rules = out.rules if out is not None else None
    limits = number_caps(now, policy, number, rules)
    hourly, daily, ramp, age = limits.hourly, limits.daily, limits.warmup, limits.age
    if number.sent_last_hour >= hourly:
        caps.append(
            _Block(
                Reason.HOURLY_CAP,
                D_HOURLY % {"sent": number.sent_last_hour, "cap": hourly, "halved": halved},
                _rolling_hour_clears(now, number.last_sent_at) if hourly > 0 else None,
            )
        )
    next_day = local_day_start(local.date() + timedelta(days=1), zone).astimezone(UTC)
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
    strangers = policy.band_new_contacts_per_day
    if (
        band == Band.YELLOW
        and out is not None
        and not ctx.reply
        and number.new_contacts_today >= strangers
    ):
        caps.append(
            _Block(
                Reason.BAND_NEW_CONTACTS,
                D_NEW_CONTACTS % {"sent": number.new_contacts_today, "cap": strangers},
                next_day if strangers > 0 else None,
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
    if out is not None:
        caps.extend(_campaign_caps(now, out, next_day))
    gap_seconds = max(policy.min_gap_seconds, rules.min_gap_seconds if rules else 0)
    gap = timedelta(seconds=gap_seconds)
    if number.last_sent_at is not None and now - number.last_sent_at < gap:
        ago = max((now - number.last_sent_at).total_seconds(), 0.0)
        caps.append(
            _Block(
                Reason.MIN_GAP,
                D_MIN_GAP % {"ago": f"{ago:.0f}", "gap": gap_seconds},
                number.last_sent_at + gap,
            )
        )

    first = calendar or (caps[0] if caps else None)
    if first is None:
        return Decision.allow()

    if any(b.clears_at is None for b in caps):
        return Decision.defer(first.reason, None, f"{first.detail} {D_CAP_ZERO}")
    clears = max([now, *(b.clears_at for b in caps if b.clears_at is not None)])
    opens = _next_open(clears, _calendars(policy, ctx, zone))
    if opens is None:
        if out is not None and out.valid_until <= clears + timedelta(days=SEARCH_DAYS):
            return _expired(first, out, None, zone)
        return Decision.defer(
            first.reason,
            None,
            f"{first.detail} {D_NO_WINDOW % {'days': SEARCH_DAYS}}",
        )
    until = opens.astimezone(UTC)
    if out is not None and until >= out.valid_until:
        return _expired(first, out, until, zone)
    next_try = D_NEXT_TRY % {"when": _fmt(until, zone)}
    return Decision.defer(first.reason, until, f"{first.detail} {next_try}")


@dataclass(frozen=True)
class NumberCaps:
    """A number's caps as the engine applies them now: its own hourly and daily caps (halved
    while it is degraded or in a risky band, lowered by an outreach policy's), and the warm-up
    ramp's daily allowance (age and stage earned by health, halved likewise)."""

    hourly: int
    daily: int
    warmup: int
    #: Its age in tenant-local days (the ramp's input).
    age: int
    #: Whether the caps are halved (degraded health or a yellow, orange or red band).
    tightened: bool

    @property
    def daily_effective(self) -> int:
        """What the number may send today: the smaller of its daily cap and the ramp's."""
        return min(self.daily, self.warmup)


def number_caps(
    now: datetime,
    policy: TenantPolicy,
    number: NumberState,
    rules: OutreachRules | None = None,
) -> NumberCaps:
    """The caps ``decide`` checks the number's sends against (one definition: the engine and
    the pages that show "sent / cap" use this). ``rules``: a campaign's outreach policy."""
    band = _band(number)
    tight = number.health == DEGRADED or band in TIGHTENED
    own_hourly = _tighter(policy.hourly_cap_per_number, rules.number_hourly_cap if rules else None)
    own_daily = _tighter(policy.daily_cap_per_number, rules.number_daily_cap if rules else None)
    age = age_days(number.first_connected_at, now.astimezone(UTC), policy.zone())
    ramp = warmup_daily_cap(age, DEGRADED if tight else number.health)
    if number.warmup_stage is not None:
        staged = stage_cap(number.warmup_stage)
        ramp = min(ramp, degrade(staged) if tight else staged)
    if band == Band.CRITICAL or number.health not in SENDING_HEALTH:
        # Nothing at all (``decide`` denies such a number before any cap): shown as 0.
        return NumberCaps(hourly=0, daily=0, warmup=0, age=age, tightened=tight)
    return NumberCaps(
        hourly=degrade(own_hourly) if tight else own_hourly,
        daily=degrade(own_daily) if tight else own_daily,
        warmup=ramp,
        age=age,
        tightened=tight,
    )


def _band(number: NumberState) -> Band:
    """The number's risk band; one not known is taken as the worst (fail closed)."""
    return Band(number.band) if number.band in BANDS else Band.CRITICAL


def _number_block(number: NumberState, ctx: SendContext | None = None) -> Decision | None:
    """The number's own state and risk band: what stops it sending this message. Without
    ``ctx`` (the opt-out confirmation, which answers the person), only what stops every send."""
    if number.health == QUARANTINED:
        return Decision.deny(Reason.NUMBER_QUARANTINED, D_QUARANTINED)
    if number.health not in SENDING_HEALTH:
        known = number.health in (RESTRICTED, BANNED)
        what = number.health if known else f"unknown ({number.health!r})"
        return Decision.deny(Reason.NUMBER_UNHEALTHY, D_UNHEALTHY % {"health": what})
    if number.paused:
        return Decision.deny(Reason.NUMBER_PAUSED, D_PAUSED)
    band = _band(number)
    if band == Band.CRITICAL:
        return Decision.deny(Reason.NUMBER_CRITICAL, D_CRITICAL)
    if ctx is not None and not ctx.reply:
        if band in NO_OUTREACH and ctx.outreach is not None:
            return Decision.deny(Reason.BAND_NO_OUTREACH, D_NO_OUTREACH % {"band": band.value})
        if band == Band.RED:
            return Decision.deny(Reason.BAND_REPLIES_ONLY, D_REPLIES_ONLY)
    if not number.connected:
        return Decision.defer(Reason.NUMBER_NOT_CONNECTED, None, D_NOT_CONNECTED)
    return None


def _confirmation(
    now: datetime, conf: OptOutConfirmation, ctx: SendContext, number: NumberState
) -> Decision:
    """The opt-out confirmation (after the kill switches and the tenant policy): owed, once,
    in time, by a number that can send; then allowed outside the calendar and the caps."""
    if ctx.outreach is not None:
        return Decision.deny(
            Reason.POLICY_INVALID, "A send is either a confirmation or outreach, not both."
        )
    if conf.others_sent > 0:
        return Decision.deny(
            Reason.CONFIRMATION_SENT, "This person's opt-out was already confirmed once."
        )
    if not conf.still_opted_out:
        return Decision.deny(Reason.CONFIRMATION_NOT_OWED, "This person is no longer opted out.")
    if now >= conf.valid_until:
        return Decision.deny(
            Reason.EXPIRED,
            f"The confirmation was valid until {conf.valid_until:%Y-%m-%d %H:%M:%S} UTC; "
            "it is not sent late.",
        )
    number_block = _number_block(number)
    if number_block is not None:
        return number_block
    return Decision(
        "allow",
        Reason.OPTOUT_CONFIRMATION.value,
        None,
        "The one confirmation owed to a person who just opted out (outside hours and caps).",
    )


def _tighter(own: int, policy_cap: int | None) -> int:
    """A number's cap under an outreach policy: the policy may only lower it."""
    return own if policy_cap is None else min(own, policy_cap)


def _recipient_denial(now: datetime, out: Outreach) -> Decision | None:
    """The rules that refuse a send to this recipient for good (policy, suppression, basis,
    validity), in that order; None when none does."""
    problems = out.rules.problems()
    if problems:
        listed = "; ".join(f"{name}: {message}" for name, message in problems)
        return Decision.deny(Reason.POLICY_INVALID, f"The outreach policy is invalid ({listed}).")
    who = out.recipient
    if who.suppressed:
        return Decision.deny(
            Reason.SUPPRESSED, "The recipient is on the tenant's do-not-contact list."
        )
    if who.consent == "revoked":
        return Decision.deny(Reason.CONSENT_REVOKED, "The recipient revoked their consent.")
    if who.basis is None or (who.basis == "consent" and who.consent != "granted"):
        what = "no legal basis" if who.basis is None else "no consent recorded"
        return Decision.deny(Reason.NO_BASIS, f"The recipient has {what}.")
    if now >= out.valid_until:
        return Decision.deny(
            Reason.EXPIRED,
            f"The message was valid until {out.valid_until:%Y-%m-%d %H:%M:%S} UTC; "
            "it is not sent late.",
        )
    return None


def _recipient_calendar(now: datetime, out: Outreach) -> _Block | None:
    """The first recipient-local calendar rule that blocks ``now``, checked in every zone
    the recipient may be in: weekday, contact hours, daypart, holiday."""
    rules, who = out.rules, out.recipient
    zones = [ZoneInfo(z) for z in who.zones]
    locals_ = [(now.astimezone(z), z) for z in zones]
    for loc, zone in locals_:
        if loc.weekday() not in rules.weekdays:
            return _Block(
                Reason.RECIPIENT_WEEKDAY,
                f"It is {_fmt(now, zone)} where the recipient may be; "
                "the policy does not send on that weekday.",
            )
    for loc, zone in locals_:
        if not _in_contact_hours(rules, loc.time()):
            return _Block(
                Reason.CONTACT_HOURS,
                f"It is {_fmt(now, zone)} where the recipient may be; "
                f"the contact hours are {rules.contact_start:%H:%M}–{rules.contact_end:%H:%M}.",
            )
    for loc, zone in locals_:
        part = daypart_of(loc.time())
        if part not in rules.dayparts:
            return _Block(
                Reason.DAYPART,
                f"It is {_fmt(now, zone)} where the recipient may be; "
                f"the policy does not send in the {part.value}.",
            )
    if rules.skip_holidays and who.holidays is not None:
        for loc, _zone in locals_:
            name = who.holidays.holiday(loc.date())
            if name is not None:
                return _Block(
                    Reason.HOLIDAY,
                    f"{loc.date().isoformat()} is a holiday where the recipient is ({name}).",
                )
    return None


def _in_contact_hours(rules: OutreachRules, t: time) -> bool:
    return time_to_us(rules.contact_start) <= time_to_us(t) < _end_of(rules.contact_end)


def _campaign_caps(now: datetime, out: Outreach, next_day: datetime) -> list[_Block]:
    """The campaign's own caps and the duplicate-content guard."""
    rules, load = out.rules, out.campaign
    found: list[_Block] = []
    if rules.campaign_hourly_cap is not None and load.sent_last_hour >= rules.campaign_hourly_cap:
        found.append(
            _Block(
                Reason.CAMPAIGN_HOURLY_CAP,
                f"The campaign sent {load.sent_last_hour} messages in the last hour; "
                f"its cap is {rules.campaign_hourly_cap}.",
                _rolling_hour_clears(now, load.last_sent_at),
            )
        )
    if rules.campaign_daily_cap is not None and load.sent_today >= rules.campaign_daily_cap:
        found.append(
            _Block(
                Reason.CAMPAIGN_DAILY_CAP,
                f"The campaign sent {load.sent_today} messages today; "
                f"its daily cap is {rules.campaign_daily_cap}.",
                next_day,
            )
        )
    window = timedelta(seconds=rules.duplicate_window_seconds)
    recent = sorted(t for t in out.same_text_sent if now - window < t <= now)
    if len(recent) >= rules.duplicate_limit:
        # The guard clears when enough of these sends have left the window that fewer than
        # the limit remain: the (n - limit + 1)-th oldest leaves at its time + the window.
        found.append(
            _Block(
                Reason.DUPLICATE_CONTENT,
                f"The same text went out {len(recent)} times in the last "
                f"{rules.duplicate_window_seconds} s; the limit is {rules.duplicate_limit}.",
                recent[len(recent) - rules.duplicate_limit] + window,
            )
        )
    return found


#: A calendar rule: (is this instant open?, the earliest open instant at or after it, or None).
_Calendar = tuple[Callable[[datetime], bool], Callable[[datetime], datetime | None]]


def _calendars(policy: TenantPolicy, ctx: SendContext, zone: ZoneInfo) -> list[_Calendar]:
    """The time rules a deferred send waits for: the tenant's windows minus quiet hours (in
    its zone), then, for outreach, the recipient's week and holidays in each of their zones."""
    tenant_windows = effective_windows(policy, ctx.windows)
    found: list[_Calendar] = [_weekly(tenant_windows, zone)]
    out = ctx.outreach
    if out is not None:
        week = out.rules.windows()
        for name in out.recipient.zones:
            found.append(_weekly(week, ZoneInfo(name)))
        calendar = out.recipient.holidays
        if out.rules.skip_holidays and calendar is not None:
            for name in out.recipient.zones:
                found.append(_holidays(calendar, ZoneInfo(name)))
    return found


def _weekly(windows: WeeklyWindows, zone: ZoneInfo) -> _Calendar:
    def is_open(t: datetime) -> bool:
        return windows.contains(t.astimezone(zone))

    def next_open(t: datetime) -> datetime | None:
        found = windows.next_open(t.astimezone(zone))
        return None if found is None else found.astimezone(UTC)

    return is_open, next_open


def _holidays(calendar: HolidayCalendar, zone: ZoneInfo) -> _Calendar:
    def is_open(t: datetime) -> bool:
        return calendar.holiday(t.astimezone(zone).date()) is None

    def next_open(t: datetime) -> datetime | None:
        day: date = t.astimezone(zone).date()
        for _ in range(SEARCH_DAYS * 4):  # holidays come one or two at a time
            if calendar.holiday(day) is None:
                start = local_day_start(day, zone).astimezone(UTC)
                return max(start, t.astimezone(UTC))
            day += timedelta(days=1)
        return None

    return is_open, next_open


def _next_open(start: datetime, calendars: Iterable[_Calendar]) -> datetime | None:
    """The earliest instant at or after ``start`` that every calendar rule leaves open, or
    None when there is none within `SEARCH_DAYS` days. Each rule's ``next_open`` is the
    earliest instant *it* is open, so jumping to it never passes the common earliest one:
    repeating until all are open finds that one."""
    rules = list(calendars)
    horizon = start + timedelta(days=SEARCH_DAYS)
    t = start
    for _ in range(64 * len(rules)):
        blocking = next((rule for rule in rules if not rule[0](t)), None)
        if blocking is None:
            return t
        nxt = blocking[1](t)
        if nxt is None or nxt > horizon:
            return None
        t = max(nxt, t)
    return None


def _expired(first: _Block, out: Outreach, until: datetime | None, zone: ZoneInfo) -> Decision:
    """A deferred send that cannot go out before its validity ends: skipped, not sent late."""
    when = "no later chance" if until is None else f"its next chance is {_fmt(until, zone)}"
    return Decision.deny(
        Reason.EXPIRED,
        f"{first.detail} The message is valid until {_fmt(out.valid_until, zone)} and "
        f"{when}: it is not sent late.",
    )
