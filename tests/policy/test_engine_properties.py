"""Property tests of the policy engine over random policies, windows, clocks (including DST
transitions in several zones), number states and send histories."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.policy import (
    Decision,
    NumberState,
    Reason,
    SendContext,
    TenantLoad,
    TenantPolicy,
    decide,
    effective_windows,
)
from tests.policy.strategies import (
    HEALTHS,
    ZONES,
    History,
    Spec,
    halve,
    histories,
    instants,
    policies,
    quiet_oracle,
    ramp_oracle,
    spec_open,
    spec_to_windows,
    specs,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TIME_REASONS = {
    Reason.OUTSIDE_WINDOW,
    Reason.QUIET_HOURS,
    Reason.HOURLY_CAP,
    Reason.DAILY_CAP,
    Reason.WARMUP_CAP,
    Reason.BURST_LIMIT,
    Reason.MIN_GAP,
}


@dataclass(frozen=True)
class Scenario:
    now: datetime
    zone: ZoneInfo
    policy: TenantPolicy
    spec: Spec
    global_kill: bool
    connected: bool
    health: str
    paused: bool
    active: bool
    first_connected_at: datetime | None
    history: History

    @property
    def ctx(self) -> SendContext:
        return SendContext(conversation_active=self.active, windows=spec_to_windows(self.spec))

    def number_at(self, at: datetime) -> NumberState:
        return self.history.number_state(
            at,
            self.zone,
            connected=self.connected,
            health=self.health,
            paused=self.paused,
            first_connected_at=self.first_connected_at,
        )

    def decide_at(self, at: datetime) -> Decision:
        """Decide at ``at`` with counters derived from the same history (no new sends)."""
        return decide(
            at,
            global_kill=self.global_kill,
            policy=self.policy,
            number=self.number_at(at),
            tenant=self.history.tenant_load(at),
            ctx=self.ctx,
        )


@st.composite
def scenarios(draw: st.DrawFn, *, sending: bool = False) -> Scenario:
    """A random situation. ``sending=True`` fixes the state-based rules so that only the
    calendar and the caps can block (the interesting part for ``until``)."""
    zone = draw(st.sampled_from(ZONES))
    now = draw(instants(zone))
    policy = draw(policies(zone))
    if sending:
        policy = replace(policy, kill_switch=False)
    # Young numbers are frequent so the warm-up ramp (20/day at first) binds often.
    age = draw(st.one_of(st.none(), st.sampled_from((0, 1, 3, 4, 8, 15, 31)), st.integers(0, 45)))
    return Scenario(
        now=now,
        zone=ZoneInfo(zone),
        policy=policy,
        spec=draw(specs),
        global_kill=False if sending else draw(st.integers(0, 9)) == 0,
        connected=True if sending else draw(st.integers(0, 7)) > 0,
        health=draw(st.sampled_from(HEALTHS[:2] if sending else HEALTHS)),
        paused=False if sending else draw(st.integers(0, 7)) == 0,
        active=True if sending else draw(st.integers(0, 7)) > 0,
        first_connected_at=None
        if age is None
        else now - timedelta(days=age, seconds=draw(st.integers(0, 86_399))),
        history=draw(histories(now)),
    )


def oracle(
    now: datetime,
    *,
    global_kill: bool,
    policy: TenantPolicy,
    number: NumberState,
    tenant: TenantLoad,
    active: bool,
    spec: Spec,
) -> tuple[str, str | None]:
    """(action, reason) restated rule by rule, independently of the engine's code."""
    if global_kill:
        return "deny", "kill_switch_global"
    if policy.kill_switch:
        return "deny", "kill_switch_tenant"
    if number.health == "quarantined":
        return "deny", "number_quarantined"
    if number.health not in ("healthy", "degraded"):
        return "deny", "number_unhealthy"
    if number.paused:
        return "deny", "number_paused"
    if not number.connected:
        return "defer", "number_not_connected"
    if not active:
        return "deny", "conversation_paused"
    zone = ZoneInfo(policy.timezone)
    local = now.astimezone(zone)
    if not spec_open(spec, local):
        return "defer", "outside_window"
    if quiet_oracle(policy, local):
        return "defer", "quiet_hours"
    if number.sent_last_hour >= halve(policy.hourly_cap_per_number, number.health):
        return "defer", "hourly_cap"
    if number.sent_today >= halve(policy.daily_cap_per_number, number.health):
        return "defer", "daily_cap"
    age = 0
    if number.first_connected_at is not None:
        age = (local.date() - number.first_connected_at.astimezone(zone).date()).days
    if number.sent_today >= ramp_oracle(age, number.health):
        return "defer", "warmup_cap"
    if tenant.sent_last_hour >= policy.burst_per_hour:
        return "defer", "burst_limit"
    gap = timedelta(seconds=policy.min_gap_seconds)
    if number.last_sent_at is not None and now - number.last_sent_at < gap:
        return "defer", "min_gap"
    return "allow", None


def _oracle_for(s: Scenario, at: datetime) -> tuple[str, str | None]:
    return oracle(
        at,
        global_kill=s.global_kill,
        policy=s.policy,
        number=s.number_at(at),
        tenant=s.history.tenant_load(at),
        active=s.active,
        spec=s.spec,
    )


@FAST
@given(scenarios())
def test_engine_matches_the_rule_by_rule_oracle(s: Scenario) -> None:
    d = s.decide_at(s.now)
    assert (d.action, d.reason) == _oracle_for(s, s.now), d.detail
    assert (d.reason is None) == (d.action == "allow")
    assert d.detail


@st.composite
def arbitrary_counters(draw: st.DrawFn) -> tuple[Scenario, NumberState, TenantLoad]:
    """Counters not tied to any history (as a buggy or racing caller might pass them)."""
    s = draw(scenarios())
    last = draw(st.one_of(st.none(), st.integers(-600, 3 * 86_400)))
    tenant_last = draw(st.one_of(st.none(), st.integers(0, 3 * 3600)))
    number = NumberState(
        connected=s.connected,
        health=s.health,
        paused=s.paused,
        first_connected_at=s.first_connected_at,
        sent_last_hour=draw(st.integers(0, 12)),
        sent_today=draw(st.integers(0, 1200)),
        last_sent_at=None if last is None else s.now - timedelta(seconds=last),
    )
    tenant = TenantLoad(
        sent_last_hour=draw(st.integers(0, 30)),
        last_sent_at=None if tenant_last is None else s.now - timedelta(seconds=tenant_last),
    )
    return s, number, tenant


@FAST
@given(arbitrary_counters())
def test_never_allows_a_send_any_rule_forbids(
    case: tuple[Scenario, NumberState, TenantLoad],
) -> None:
    s, number, tenant = case
    d = decide(
        s.now, global_kill=s.global_kill, policy=s.policy, number=number, tenant=tenant, ctx=s.ctx
    )
    expected = oracle(
        s.now,
        global_kill=s.global_kill,
        policy=s.policy,
        number=number,
        tenant=tenant,
        active=s.active,
        spec=s.spec,
    )
    assert (d.action, d.reason) == expected
    if d.action != "allow":
        return
    local = s.now.astimezone(s.zone)
    assert not s.global_kill and not s.policy.kill_switch
    assert number.connected and not number.paused
    assert number.health in ("healthy", "degraded")
    assert s.active
    assert spec_open(s.spec, local), "allowed outside the windows"
    assert not quiet_oracle(s.policy, local), "allowed inside quiet hours"
    assert number.sent_last_hour < s.policy.hourly_cap_per_number
    assert number.sent_today < s.policy.daily_cap_per_number
    assert tenant.sent_last_hour < s.policy.burst_per_hour
    if number.last_sent_at is not None:
        assert s.now - number.last_sent_at >= timedelta(seconds=s.policy.min_gap_seconds)
    if number.health == "degraded":
        assert number.sent_last_hour < max(1, s.policy.hourly_cap_per_number // 2)


@FAST
@given(scenarios())
def test_defer_until_is_a_future_utc_instant(s: Scenario) -> None:
    d = s.decide_at(s.now)
    if d.action != "defer":
        assert d.until is None
        return
    if d.until is None:
        time_based = d.reason in TIME_REASONS
        zero_cap = 0 in (
            s.policy.hourly_cap_per_number,
            s.policy.daily_cap_per_number,
            s.policy.burst_per_hour,
        )
        never_opens = (
            effective_windows(s.policy, s.ctx.windows).next_open(s.now.astimezone(s.zone)) is None
        )
        assert d.reason == Reason.NUMBER_NOT_CONNECTED or (time_based and (zero_cap or never_opens))
        return
    assert d.until.tzinfo is UTC
    assert d.until > s.now


@FAST
@given(scenarios(sending=True))
def test_redeciding_at_until_allows(s: Scenario) -> None:
    """With no new sends and no state change, asking again at ``until`` gets ``allow``; in
    particular the same reason never defers twice."""
    d = s.decide_at(s.now)
    if d.action != "defer" or d.until is None:
        return
    again = s.decide_at(d.until)
    assert again.reason != d.reason
    assert again.action == "allow", (d, again)


@FAST
@given(scenarios(sending=True), st.floats(0, 1, exclude_max=True))
def test_nothing_is_allowed_before_until(s: Scenario, fraction: float) -> None:
    """``until`` is the earliest instant: exact for the calendar, daily caps and the gap.

    The hourly and burst rules only know counts, so their ``until`` is a conservative bound;
    cases where they block are excluded.
    """
    d = s.decide_at(s.now)
    if d.action != "defer" or d.until is None:
        return
    hourly = halve(s.policy.hourly_cap_per_number, s.health)
    if s.number_at(s.now).sent_last_hour >= hourly and hourly != 1:
        return
    if s.history.tenant_load(s.now).sent_last_hour >= s.policy.burst_per_hour:
        return
    span = d.until - s.now
    # timedelta * float rounds to the microsecond: keep the probe strictly before until.
    probe = min(s.now + span * fraction, d.until - timedelta(microseconds=1))
    if probe < s.now:
        return
    assert s.decide_at(probe).action != "allow", (d, probe)
    just_before = d.until - timedelta(microseconds=1)
    if just_before >= s.now:
        assert s.decide_at(just_before).action != "allow", (d, just_before)


@st.composite
def young_numbers(draw: st.DrawFn) -> Scenario:
    """Always-open calendar, generous caps: only the warm-up ramp (and the gap) can bind."""
    zone = draw(st.sampled_from(ZONES))
    now = draw(instants(zone))
    local = now.astimezone(ZoneInfo(zone))
    # Wall-clock seconds since midnight: at most the real elapsed time plus a DST hour, so
    # some "today" sends may land yesterday; the counters are derived from the history anyway.
    seconds_today = local.hour * 3600 + local.minute * 60 + local.second
    sends_today = draw(st.integers(0, 120))
    # Spread today's sends before the last hour, so the hourly cap stays out of the way.
    offsets = draw(
        st.lists(
            st.integers(3601, max(3601, seconds_today)),
            min_size=sends_today,
            max_size=sends_today,
        )
    )
    age = draw(st.integers(0, 40))
    return Scenario(
        now=now,
        zone=ZoneInfo(zone),
        policy=TenantPolicy(
            timezone=zone,
            quiet_start=None,
            quiet_end=None,
            hourly_cap_per_number=50,
            daily_cap_per_number=5000,
            burst_per_hour=5000,
            min_gap_seconds=draw(st.sampled_from((0, 30, 3600))),
        ),
        spec=(((0, 1440),),) * 7,
        global_kill=False,
        connected=True,
        health=draw(st.sampled_from(("healthy", "degraded"))),
        paused=False,
        active=True,
        first_connected_at=now - timedelta(days=age),
        history=History(own=tuple(now - timedelta(seconds=o) for o in offsets), others=()),
    )


@FAST
@given(young_numbers())
def test_warmup_ramp_binds_and_clears_at_the_next_local_day(s: Scenario) -> None:
    number = s.number_at(s.now)
    d = s.decide_at(s.now)
    assert s.first_connected_at is not None
    today = s.now.astimezone(s.zone).date()
    age = (today - s.first_connected_at.astimezone(s.zone).date()).days
    ramp = ramp_oracle(age, s.health)
    assert (d.reason == Reason.WARMUP_CAP) == (number.sent_today >= ramp)
    if d.reason == Reason.WARMUP_CAP:
        assert d.until is not None
        local_until = d.until.astimezone(s.zone)
        assert local_until.date() > today
        assert (d.until - timedelta(microseconds=1)).astimezone(s.zone).date() == today
        assert s.decide_at(d.until).action == "allow"
