"""The overview, the dashboard's home: the fleet at a glance and what needs an operator now.

It shows numbers by connection state and health, today's sends against the caps, the warm-up
step of each number, what is planned next, and alerts — each linking to where to act. It is
one cheap page: a fixed number of statements whatever the size of the fleet (counts are
grouped in the database; the numbers listed are a bounded page, problems first), covered by
``tests/tenants/test_overview_bounded.py``. It updates live: the page's stream re-renders it
when a number, a conversation or the settings change (``views.overview_events``).

Numbers come from ``instances`` (below this package). Sends and rounds belong to ``messaging``
and ``conversations``, which sit above it: they provide their parts through ``provide`` at
start-up (``mirage.app``), so this module imports neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.instances import service as instances
from mirage.instances.service import FleetGroup
from mirage.kit.clock import utcnow
from mirage.kit.i18n import N_, Message
from mirage.models import Instance, Tenant, TenantSettings
from mirage.models.tenancy import Role
from mirage.ops import service as ops_service
from mirage.policy import SENDING_HEALTH, WARMUP_RAMP, age_days
from mirage.policy.ramp import DEGRADED, degrade
from mirage.tenants import settings as tenant_settings
from mirage.tenants import team
from mirage.tenants.repository import MembershipRepository, TenantRepository

# How many numbers the overview lists (problems first); the Numbers page has them all.
NUMBERS_SHOWN = 25
UNUSABLE_HEALTH = ("restricted", "banned", "quarantined")
# Round outcomes that mean something went wrong (a "failing" conversation).
FAILED_ROUNDS = ("failed", "unsent", "unknown")


@dataclass(frozen=True)
class Step:
    """A step of the warm-up ramp (``policy.WARMUP_RAMP``): from ``first_day`` of a number's
    life (day 0 is the day it first connected), ``per_day`` messages a day."""

    number: int  # 1-based, as the page says it
    first_day: int
    per_day: int
    last_day: int | None  # None: the last step

    @property
    def is_last(self) -> bool:
        return self.last_day is None


STEPS: tuple[Step, ...] = tuple(
    Step(
        i + 1,
        first,
        per_day,
        WARMUP_RAMP[i + 1][0] - 1 if i + 1 < len(WARMUP_RAMP) else None,
    )
    for i, (first, per_day) in enumerate(WARMUP_RAMP)
)


def step_for(age: int) -> Step:
    found = STEPS[0]
    for step in STEPS:
        if age >= step.first_day:
            found = step
    return found


def can_send(state: str, connected: bool, paused: bool, health: str) -> bool:
    """As ``messaging.can_send``: connected, not paused, a health that sends."""
    return connected and not paused and health in SENDING_HEALTH


def cap_today(step: Step | None, health: str, daily_cap: int) -> int:
    """What a number that can send may send today: its warm-up step's allowance and the
    tenant's daily cap, both halved while it is degraded (``policy.decide``'s rules)."""
    per_day = (step or STEPS[0]).per_day
    if health == DEGRADED:
        return min(degrade(per_day), degrade(daily_cap))
    return min(per_day, daily_cap)


# --- the parts other domains provide -------------------------------------------------------


@dataclass(frozen=True)
class SendsToday:
    """What the tenant's numbers sent: on the tenant's day and in the rolling hour, in total
    and for the numbers listed."""

    today: int = 0
    last_hour: int = 0
    by_number: Mapping[uuid.UUID, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationRef:
    id: uuid.UUID
    name: str
    detail: str | None = None


@dataclass(frozen=True)
class UpcomingRound:
    conversation_id: uuid.UUID
    conversation_name: str
    state: str  # planned or running
    topic: str
    at: datetime  # when it starts (planned) or started (running)


@dataclass(frozen=True)
class FailingConversation:
    id: uuid.UUID
    name: str
    rounds: int
    last_state: str
    last_at: datetime | None


@dataclass(frozen=True)
class ConversationsPart:
    active: int = 0
    paused: int = 0
    waiting: int = 0  # active, but waiting for two of its numbers to be able to send
    waiting_list: Sequence[ConversationRef] = ()
    upcoming: Sequence[UpcomingRound] = ()
    outcomes: Mapping[str, int] = field(default_factory=dict)  # rounds ended in 24 h, by state
    failing: Sequence[FailingConversation] = ()

    @property
    def total(self) -> int:
        return self.active + self.paused

    @property
    def failed_rounds(self) -> int:
        return sum(self.outcomes.get(s, 0) for s in FAILED_ROUNDS)


SendsReader = Callable[
    [AsyncSession, datetime, ZoneInfo, Sequence[uuid.UUID]], Awaitable[SendsToday]
]
ConversationsReader = Callable[[AsyncSession, datetime], Awaitable[ConversationsPart]]


@dataclass(frozen=True)
class RiskPart:
    """The fleet by risk band (mirage.safety), and the numbers at risk: (name, where)."""

    by_band: Mapping[str, int] = field(default_factory=dict)
    at_risk: Sequence[tuple[str, str]] = ()
    open_alerts: int = 0  # safety alerts not resolved yet (the Alerts page lists them)


RiskReader = Callable[[AsyncSession, datetime], Awaitable[RiskPart]]
_providers: dict[str, Any] = {}


def provide(
    *,
    sends: SendsReader | None = None,
    conversations: ConversationsReader | None = None,
    risk: RiskReader | None = None,
) -> None:
    """Register the readers of the parts owned by domains above this one (``mirage.app``)."""
    if sends is not None:
        _providers["sends"] = sends
    if conversations is not None:
        _providers["conversations"] = conversations
    if risk is not None:
        _providers["risk"] = risk


# --- the overview ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberLine:
    """One number as the overview lists it."""

    instance: Instance
    age_days: int | None  # None: never connected (its warm-up has not started)
    step: Step | None
    can_send: bool
    cap_today: int
    sent_today: int
    sent_last_hour: int

    @property
    def next_step(self) -> Step | None:
        if self.step is None or self.step.is_last:
            return None
        return STEPS[self.step.number]

    @property
    def days_to_next_step(self) -> int | None:
        nxt = self.next_step
        return None if nxt is None or self.age_days is None else nxt.first_day - self.age_days

    @property
    def used_pct(self) -> int:
        return min(100, round(100 * self.sent_today / self.cap_today)) if self.cap_today else 0


@dataclass(frozen=True)
class Alert:
    """Something an operator must act on now, and where."""

    level: Literal["danger", "warn"]
    code: str
    text: Message
    href: str | None = None
    action: str | None = None  # the link's words (a catalog id)
    links: Sequence[tuple[str, str]] = ()  # (a name, where to act on it)
    admin_only_action: bool = False


@dataclass(frozen=True)
class Overview:
    tenant: Tenant
    now: datetime
    zone: ZoneInfo
    settings: TenantSettings
    kill_tenant: bool
    kill_global: bool
    worker: Mapping[str, Any]
    total: int
    by_state: Mapping[str, int]
    by_health: Mapping[str, int]
    paused: int
    needs_pairing: int  # not open, waiting for a QR code scan (new, or logged out)
    unpaired: int  # of those, never connected yet (new numbers)
    disconnected: int  # closed, refused or unknown, and not waiting for a pairing
    connected: int
    sending: int  # numbers that can send now
    by_step: Mapping[int, int]  # step number -> numbers (never connected ones left out)
    never_connected: int
    capacity_today: int
    sends: SendsToday
    numbers: Sequence[NumberLine]
    conversations: ConversationsPart
    members: int
    open_invitations: int
    alerts: Sequence[Alert] = ()
    risk: RiskPart = field(default_factory=RiskPart)

    @property
    def capacity_pct(self) -> int:
        if not self.capacity_today:
            return 0
        return min(100, round(100 * self.sends.today / self.capacity_today))

    @property
    def burst_pct(self) -> int:
        burst = self.settings.burst_per_hour
        return min(100, round(100 * self.sends.last_hour / burst)) if burst else 100

    @property
    def unusable(self) -> int:
        return sum(self.by_health.get(h, 0) for h in UNUSABLE_HEALTH)

    @property
    def getting_started(self) -> bool:
        """Until two numbers are connected and a conversation exists (inviting the team is
        the list's last step, but a team of one is no reason to keep showing it)."""
        return self.connected < 2 or self.conversations.total == 0


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("America/Sao_Paulo")


def _fleet(groups: Sequence[FleetGroup], daily_cap: int) -> dict[str, Any]:
    by_state: dict[str, int] = {}
    by_health: dict[str, int] = {}
    by_step: dict[int, int] = {}
    out = dict.fromkeys(
        (
            "paused",
            "needs_pairing",
            "unpaired",
            "disconnected",
            "connected",
            "sending",
            "never",
            "cap",
        ),
        0,
    )
    for g in groups:
        by_state[g.state] = by_state.get(g.state, 0) + g.numbers
        by_health[g.health] = by_health.get(g.health, 0) + g.numbers
        out["paused"] += g.numbers if g.paused else 0
        to_pair = g.needs_pairing and g.state != "open"
        out["needs_pairing"] += g.numbers if to_pair else 0
        out["unpaired"] += g.numbers if to_pair and g.step is None else 0
        down = g.state not in ("open", "connecting") and not g.needs_pairing
        out["disconnected"] += g.numbers if down else 0
        out["connected"] += g.numbers if g.connected else 0
        step = STEPS[g.step] if g.step is not None and g.step < len(STEPS) else None
        if step is None:
            out["never"] += g.numbers
        else:
            by_step[step.number] = by_step.get(step.number, 0) + g.numbers
        if can_send(g.state, g.connected, g.paused, g.health):
            out["sending"] += g.numbers
            out["cap"] += g.numbers * cap_today(step, g.health, daily_cap)
    return {"by_state": by_state, "by_health": by_health, "by_step": by_step, **out}


def _line(i: Instance, now: datetime, zone: ZoneInfo, daily: int, sends: SendsToday) -> NumberLine:
    age = age_days(i.first_connected_at, now, zone) if i.first_connected_at else None
    step = step_for(age) if age is not None else None
    sending = can_send(i.state, i.connected, i.paused, i.health)
    today, hour = sends.by_number.get(i.id, (0, 0))
    return NumberLine(
        i, age, step, sending, cap_today(step, i.health, daily) if sending else 0, today, hour
    )


async def build(
    session: AsyncSession,
    principal: Principal,
    *,
    tenant: Tenant | None = None,
    now: datetime | None = None,
    limit: int = NUMBERS_SHOWN,
) -> Overview:
    """Everything the overview shows, in a fixed number of statements."""
    require(principal, "read")
    now = now or utcnow()
    if tenant is None:
        tenant = await TenantRepository(session).get(principal.tenant_id)
        if tenant is None:
            raise LookupError("the tenant is gone")
    zone = _zone(tenant.timezone)
    row = await tenant_settings.get_or_create(session, tenant.id)
    kill_global = await tenant_settings.global_kill_switch(session)
    fleet = _fleet(
        await instances.fleet(session, principal, zone=zone.key, today=now.astimezone(zone).date()),
        row.daily_cap_per_number,
    )
    listed = await instances.needing_attention(session, principal, limit)
    read_sends: SendsReader | None = _providers.get("sends")
    sends = (
        await read_sends(session, now, zone, [i.id for i in listed]) if read_sends else SendsToday()
    )
    read_conversations: ConversationsReader | None = _providers.get("conversations")
    conversations = (
        await read_conversations(session, now) if read_conversations else ConversationsPart()
    )
    read_risk: RiskReader | None = _providers.get("risk")
    risk = await read_risk(session, now) if read_risk else RiskPart()
    overview = Overview(
        risk=risk,
        tenant=tenant,
        now=now,
        zone=zone,
        settings=row,
        kill_tenant=row.kill_switch,
        kill_global=kill_global,
        worker=await ops_service.worker_status(session),
        total=sum(fleet["by_state"].values()),
        by_state=fleet["by_state"],
        by_health=fleet["by_health"],
        paused=fleet["paused"],
        needs_pairing=fleet["needs_pairing"],
        unpaired=fleet["unpaired"],
        disconnected=fleet["disconnected"],
        connected=fleet["connected"],
        sending=fleet["sending"],
        by_step=fleet["by_step"],
        never_connected=fleet["never"],
        capacity_today=fleet["cap"],
        sends=sends,
        numbers=[_line(i, now, zone, row.daily_cap_per_number, sends) for i in listed],
        conversations=conversations,
        members=await MembershipRepository(session).count(tenant.id),
        open_invitations=await team.open_invitations(session, now)
        if principal.role.at_least(Role.ADMIN)
        else 0,
    )
    return _with_alerts(overview)


def _with_alerts(o: Overview) -> Overview:
    return replace(o, alerts=alerts(o))


def _numbers_page(instance: Instance) -> str:
    return "/instances"


def _pairing_window(instance: Instance) -> str:
    return f"/instances?connect={instance.id}"  # the Numbers page opens its QR window


def _to_pair(n: NumberLine) -> bool:
    return n.instance.needs_pairing and n.instance.state != "open"


def _names(
    o: Overview, keep: Callable[[NumberLine], bool], href: Callable[[Instance], str]
) -> list[tuple[str, str]]:
    """Up to three of the listed numbers ``keep`` picks: (name, where to act on it)."""
    return [(n.instance.display_name, href(n.instance)) for n in o.numbers if keep(n)][:3]


# What each alert says (catalog ids; %(n)s is how many).
ALERT_TEXT = {
    "kill_switch_global": N_(
        "Global kill switch on: no message is being sent for any organization. "
        "The operator of this Mirage installation turns it off."
    ),
    "kill_switch": N_("Kill switch on: no message is being sent for this organization."),
    "worker_missing": N_(
        "No job worker has reported in the last minute: nothing is sent or planned until "
        "one runs (mirage worker)."
    ),
    "numbers_unusable": N_(
        "Numbers that cannot send because of their health (restricted, banned or "
        "quarantined): %(n)s."
    ),
    "numbers_at_risk": N_(
        "Numbers in the orange, red or critical risk band (no campaigns, replies only, or "
        "nothing): %(n)s."
    ),
    "safety_alerts_open": N_(
        "Open safety alerts (numbers that entered a risky band or quarantine): %(n)s."
    ),
    "numbers_need_pairing": N_(
        "Numbers logged out that must be paired again (scan their QR code): %(n)s."
    ),
    "numbers_not_paired": N_("Numbers not paired yet (scan their QR code to start): %(n)s."),
    "numbers_disconnected": N_(
        "Numbers disconnected (reconnecting by themselves or waiting for the gateway): %(n)s."
    ),
    "numbers_paused": N_("Numbers paused by an operator (they send nothing until resumed): %(n)s."),
    "numbers_degraded": N_("Degraded numbers (sending at half their caps): %(n)s."),
    "rounds_failing": N_("Rounds that failed in the last 24 hours: %(n)s."),
    "conversations_waiting": N_(
        "Conversations waiting for their numbers (fewer than two can send): %(n)s."
    ),
}
SEE_NUMBERS = N_("See them in Numbers")
SEE_CONVERSATIONS = N_("See the conversations")


def _alert(
    level: Literal["danger", "warn"],
    code: str,
    n: int | None = None,
    href: str | None = None,
    action: str | None = None,
    links: Sequence[tuple[str, str]] = (),
    *,
    admin_only_action: bool = False,
) -> Alert:
    text = Message(ALERT_TEXT[code], {"n": n} if n is not None else {})
    return Alert(level, code, text, href, action, links, admin_only_action)


def alerts(o: Overview) -> list[Alert]:
    """What an operator must act on now, the most serious first (a pure function of the
    overview, so it is tested without a database)."""
    found: list[Alert] = []
    if o.kill_global:
        found.append(_alert("danger", "kill_switch_global"))
    if o.kill_tenant:
        found.append(
            _alert(
                "danger",
                "kill_switch",
                href="/settings#cadence",
                action=N_("Turn it off in Settings"),
                admin_only_action=True,
            )
        )
    if not o.worker.get("ok"):
        found.append(
            _alert("danger", "worker_missing", href="/health/ready", action=N_("Check readiness"))
        )
    if o.unusable:
        unusable = _names(o, lambda n: n.instance.health in UNUSABLE_HEALTH, _numbers_page)
        found.append(
            _alert("danger", "numbers_unusable", o.unusable, "/instances", SEE_NUMBERS, unusable)
        )
    if o.risk.at_risk:
        found.append(
            _alert(
                "danger",
                "numbers_at_risk",
                len(o.risk.at_risk),
                "/instances",
                SEE_NUMBERS,
                list(o.risk.at_risk)[:3],
            )
        )
    if o.risk.open_alerts:
        found.append(
            _alert(
                "warn",
                "safety_alerts_open",
                o.risk.open_alerts,
                "/alerts",
                N_("See the alerts"),
            )
        )
    repair = o.needs_pairing - o.unpaired
    if repair:
        logged_out = _names(
            o,
            lambda n: _to_pair(n) and n.instance.first_connected_at is not None,
            _pairing_window,
        )
        found.append(
            _alert(
                "danger",
                "numbers_need_pairing",
                repair,
                "/instances?state=close",
                N_("Pair them in Numbers"),
                logged_out,
            )
        )
    if o.disconnected:
        down = _names(
            o,
            lambda n: (
                n.instance.state not in ("open", "connecting") and not n.instance.needs_pairing
            ),
            _numbers_page,
        )
        found.append(
            _alert(
                "warn",
                "numbers_disconnected",
                o.disconnected,
                "/instances?state=close",
                SEE_NUMBERS,
                down,
            )
        )
    if o.unpaired:
        new = _names(
            o, lambda n: _to_pair(n) and n.instance.first_connected_at is None, _pairing_window
        )
        found.append(
            _alert(
                "warn",
                "numbers_not_paired",
                o.unpaired,
                "/instances?state=close",
                N_("Pair them in Numbers"),
                new,
            )
        )
    if o.paused:
        paused = _names(o, lambda n: n.instance.paused, _numbers_page)
        found.append(
            _alert(
                "warn",
                "numbers_paused",
                o.paused,
                "/instances",
                N_("Resume them in Numbers"),
                paused,
            )
        )
    degraded = o.by_health.get("degraded", 0)
    if degraded:
        slow = _names(o, lambda n: n.instance.health == "degraded", _numbers_page)
        found.append(_alert("warn", "numbers_degraded", degraded, "/instances", SEE_NUMBERS, slow))
    c = o.conversations
    if c.failed_rounds:
        failing = [(f.name, f"/conversations/{f.id}") for f in c.failing[:3]]
        found.append(
            _alert(
                "warn",
                "rounds_failing",
                c.failed_rounds,
                "/conversations",
                SEE_CONVERSATIONS,
                failing,
            )
        )
    if c.waiting:
        waiting = [(w.name, f"/conversations/{w.id}") for w in c.waiting_list[:3]]
        found.append(
            _alert(
                "warn",
                "conversations_waiting",
                c.waiting,
                "/conversations",
                SEE_CONVERSATIONS,
                waiting,
            )
        )
    return found
