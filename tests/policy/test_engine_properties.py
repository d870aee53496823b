"""Property tests of the policy engine over random policies, windows, clocks (including DST
transitions in several zones), number states and send histories — and, for sends to external
contacts, random outreach policies, recipients (consent, suppression, one or two zones among
Brazil's four offsets and DST zones abroad, holidays), campaign loads, repeated texts and
validities."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.policy import (
    CampaignLoad,
    Daypart,
    Decision,
    NumberState,
    OptOutConfirmation,
    Outreach,
    OutreachRules,
    Reason,
    Recipient,
    SendContext,
    TenantLoad,
    TenantPolicy,
    decide,
    effective_windows,
)
from tests.policy.strategies import (
    ALWAYS_SPEC,
    BAND_NAMES,
    DAYPART_NAMES,
    HEALTHS,
    MINUTES_PER_DAY,
    ZONES,
    FakeHolidays,
    History,
    OutreachCase,
    Spec,
    draw_history,
    draw_outreach_case,
    draw_subset,
    halve,
    instants,
    minute_of_day,
    policies,
    quiet_oracle,
    ramp_oracle,
    spec_open,
    spec_to_windows,
    specs,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The outreach-only properties: fewer examples each (the shared ones above draw an outreach
# send in half of theirs too), to keep the suite within its time budget.
OUTREACH = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TIME_REASONS = {
    Reason.OUTSIDE_WINDOW,
    Reason.QUIET_HOURS,
    Reason.HOURLY_CAP,
    Reason.DAILY_CAP,
    Reason.WARMUP_CAP,
    Reason.BURST_LIMIT,
    Reason.MIN_GAP,
    Reason.RECIPIENT_WEEKDAY,
    Reason.CONTACT_HOURS,
    Reason.DAYPART,
    Reason.HOLIDAY,
    Reason.CAMPAIGN_HOURLY_CAP,
    Reason.CAMPAIGN_DAILY_CAP,
    Reason.DUPLICATE_CONTENT,
}
FAR = timedelta(days=400)  # a validity that never binds


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
    outreach: OutreachCase | None = None
    band: str = "green"
    reply: bool = False
    stage: int | None = None

    @property
    def ctx(self) -> SendContext:
        return self.ctx_at(self.now)

    def ctx_at(self, at: datetime) -> SendContext:
        """The send's context at ``at``: the campaign's counters derived from its history."""
        return SendContext(
            conversation_active=self.active,
            windows=spec_to_windows(self.spec),
            outreach=None if self.outreach is None else outreach_at(self.outreach, at, self.zone),
            reply=self.reply,
        )

    def number_at(self, at: datetime) -> NumberState:
        return self.history.number_state(
            at,
            self.zone,
            connected=self.connected,
            health=self.health,
            paused=self.paused,
            first_connected_at=self.first_connected_at,
            band=self.band,
            warmup_stage=self.stage,
        )

    def decide_at(self, at: datetime) -> Decision:
        """Decide at ``at`` with counters derived from the same history (no new sends)."""
        return decide(
            at,
            global_kill=self.global_kill,
            policy=self.policy,
            number=self.number_at(at),
            tenant=self.history.tenant_load(at),
            ctx=self.ctx_at(at),
        )


def outreach_at(case: OutreachCase, at: datetime, zone: ZoneInfo) -> Outreach:
    """The engine's input for ``case`` at ``at`` (counters from the case's send times)."""
    cs, ce = case.contact

    def clock(m: int) -> time:
        return time(0) if m == MINUTES_PER_DAY else time(m // 60, m % 60)

    today = at.astimezone(zone).date()
    sent = case.campaign_sends
    return Outreach(
        rules=OutreachRules(
            contact_start=clock(cs),
            contact_end=clock(ce),
            weekdays=case.weekdays,
            dayparts=frozenset(Daypart(p) for p in case.dayparts),
            skip_holidays=case.skip_holidays,
            number_hourly_cap=case.number_hourly_cap,
            number_daily_cap=case.number_daily_cap,
            campaign_hourly_cap=case.campaign_hourly_cap,
            campaign_daily_cap=case.campaign_daily_cap,
            min_gap_seconds=case.min_gap_seconds,
            duplicate_limit=case.duplicate_limit,
            duplicate_window_seconds=case.duplicate_window_seconds,
        ),
        recipient=Recipient(
            zones=case.zones,
            basis=case.basis,
            consent=case.consent,
            suppressed=case.suppressed,
            holidays=None if case.holidays is None else FakeHolidays(case.holidays),
        ),
        valid_until=case.valid_until,
        campaign=CampaignLoad(
            sent_last_hour=sum(1 for t in sent if at - timedelta(hours=1) < t <= at),
            sent_today=sum(1 for t in sent if t.astimezone(zone).date() == today),
            last_sent_at=max(sent, default=None),
        ),
        same_text_sent=case.same_text_sends,
    )


@st.composite
def scenarios(draw: st.DrawFn, *, sending: bool = False, outreach: bool | None = None) -> Scenario:
    """A random situation. ``sending=True`` fixes the state-based rules so that only the
    calendar and the caps can block (the interesting part for ``until``). ``outreach``: a
    send to an external contact (True), a warm-up send (False), either (None)."""
    zone = draw(st.sampled_from(ZONES))
    now = draw(instants(zone))
    policy = draw(policies(zone))
    if sending:
        policy = replace(policy, kill_switch=False)
    # Young numbers are frequent so the warm-up ramp (20/day at first) binds often.
    age = draw(st.one_of(st.none(), st.sampled_from((0, 1, 3, 4, 8, 15, 31)), st.integers(0, 45)))
    history = draw_history(draw, now)
    case = None
    spec = draw(specs)
    if outreach or (outreach is None and draw(st.booleans())):
        case = draw_outreach_case(draw, now, history, sending=sending)
        # Some of the number's own sends went to new contacts (the yellow band counts them).
        history = replace(history, strangers=draw_subset(draw, history.own))
        if draw(st.booleans()):
            # The tenant's calendar out of the way: the recipient's rules and the caps bind.
            spec = ALWAYS_SPEC
            policy = replace(policy, quiet_start=None, quiet_end=None)
    return Scenario(
        now=now,
        zone=ZoneInfo(zone),
        policy=policy,
        spec=spec,
        global_kill=False if sending else draw(st.integers(0, 9)) == 0,
        connected=True if sending else draw(st.integers(0, 7)) > 0,
        health=draw(st.sampled_from(HEALTHS[:2] if sending else HEALTHS)),
        paused=False if sending else draw(st.integers(0, 7)) == 0,
        active=True if sending else draw(st.integers(0, 7)) > 0,
        first_connected_at=None
        if age is None
        else now - timedelta(days=age, seconds=draw(st.integers(0, 86_399))),
        history=history,
        outreach=case,
        # Green most of the time (every other rule stays exercised); a sending scenario is
        # green or yellow (the bands that let a campaign send out).
        band=draw(st.sampled_from(("green", "green", "yellow") if sending else BANDS_DRAWN)),
        reply=draw(st.integers(0, 3)) == 0,
        stage=draw(st.one_of(st.none(), st.integers(0, 4))),
    )


BANDS_DRAWN = ("green", "green", "green", *BAND_NAMES, "unknown")


def oracle(
    now: datetime,
    *,
    global_kill: bool,
    policy: TenantPolicy,
    number: NumberState,
    tenant: TenantLoad,
    active: bool,
    spec: Spec,
    outreach: OutreachCase | None = None,
    reply: bool = False,
) -> tuple[str, str | None]:
    """(action, reason) restated rule by rule, independently of the engine's code.

    For an outreach send this is the answer *before* validity turns a defer into ``expired``
    (that needs ``until``; the tests check it against a decision with a validity far ahead).
    """
    if global_kill:
        return "deny", "kill_switch_global"
    if policy.kill_switch:
        return "deny", "kill_switch_tenant"
    o = outreach
    if o is not None:
        if not o.rules_valid:
            return "deny", "policy_invalid"
        if o.suppressed:
            return "deny", "suppressed"
        if o.consent == "revoked":
            return "deny", "consent_revoked"
        if o.basis is None or (o.basis == "consent" and o.consent != "granted"):
            return "deny", "no_basis"
        if now >= o.valid_until:
            return "deny", "expired"
    if number.health == "quarantined":
        return "deny", "number_quarantined"
    if number.health not in ("healthy", "degraded"):
        return "deny", "number_unhealthy"
    if number.paused:
        return "deny", "number_paused"
    band = number.band if number.band in BAND_NAMES else "critical"
    if band == "critical":
        return "deny", "number_critical"
    if band in ("orange", "red") and o is not None and not reply:
        return "deny", "band_no_outreach"
    if band == "red" and not reply:
        return "deny", "band_replies_only"
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
    if o is not None:
        there = [now.astimezone(ZoneInfo(z)) for z in o.zones]
        if any(t.weekday() not in o.weekdays for t in there):
            return "defer", "recipient_weekday"
        cs, ce = o.contact
        if any(not cs <= minute_of_day(t) < ce for t in there):
            return "defer", "contact_hours"
        if any(DAYPART_NAMES[int(minute_of_day(t) // 360)] not in o.dayparts for t in there):
            return "defer", "daypart"
        if (
            o.skip_holidays
            and o.holidays is not None
            and any(t.date() in o.holidays for t in there)
        ):
            return "defer", "holiday"

    def tightened(own: int, cap: int | None) -> int:
        return own if cap is None else min(own, cap)

    hourly = tightened(policy.hourly_cap_per_number, o.number_hourly_cap if o else None)
    if number.sent_last_hour >= halve(hourly, number.health, band):
        return "defer", "hourly_cap"
    daily = tightened(policy.daily_cap_per_number, o.number_daily_cap if o else None)
    if number.sent_today >= halve(daily, number.health, band):
        return "defer", "daily_cap"
    age = 0
    if number.first_connected_at is not None:
        age = (local.date() - number.first_connected_at.astimezone(zone).date()).days
    if number.sent_today >= ramp_oracle(age, number.health, band, number.warmup_stage):
        return "defer", "warmup_cap"
    if (
        band == "yellow"
        and o is not None
        and not reply
        and number.new_contacts_today >= policy.band_new_contacts_per_day
    ):
        return "defer", "band_new_contacts"
    if tenant.sent_last_hour >= policy.burst_per_hour:
        return "defer", "burst_limit"
    gap_seconds = policy.min_gap_seconds
    if o is not None:
        sent = o.campaign_sends
        in_hour = sum(1 for t in sent if now - timedelta(hours=1) < t <= now)
        if o.campaign_hourly_cap is not None and in_hour >= o.campaign_hourly_cap:
            return "defer", "campaign_hourly_cap"
        today = sum(1 for t in sent if t.astimezone(zone).date() == local.date())
        if o.campaign_daily_cap is not None and today >= o.campaign_daily_cap:
            return "defer", "campaign_daily_cap"
        window = timedelta(seconds=o.duplicate_window_seconds)
        same = sum(1 for t in o.same_text_sends if now - window < t <= now)
        if same >= o.duplicate_limit:
            return "defer", "duplicate_content"
        gap_seconds = max(gap_seconds, o.min_gap_seconds)
    gap = timedelta(seconds=gap_seconds)
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
        outreach=s.outreach,
        reply=s.reply,
    )


def _far(s: Scenario) -> Scenario:
    """The same situation with a validity that never binds."""
    assert s.outreach is not None
    return replace(s, outreach=replace(s.outreach, valid_until=s.now + FAR))


def _check_validity(s: Scenario, d: Decision, expected: tuple[str, str | None]) -> None:
    """An outreach defer either stands, or — when its ``until`` (the decision with a validity
    far ahead) is not before the validity — is ``expired``; nothing else changes."""
    assert s.outreach is not None
    far = _far(s).decide_at(s.now)
    assert (far.action, far.reason) == expected, far.detail
    if far.until is not None:
        late = far.until >= s.outreach.valid_until
        assert (d.action, d.reason) == (("deny", "expired") if late else expected), d.detail
        if not late:
            assert d.until == far.until
        return
    if (d.action, d.reason) == ("deny", "expired"):
        # No opening within the search horizon, which the validity does not outlast.
        assert far.reason in TIME_REASONS
    else:
        assert (d.action, d.reason, d.until) == (far.action, far.reason, None)


@FAST
@given(scenarios())
def test_engine_matches_the_rule_by_rule_oracle(s: Scenario) -> None:
    d = s.decide_at(s.now)
    expected = _oracle_for(s, s.now)
    if s.outreach is not None and expected[0] == "defer":
        _check_validity(s, d, expected)
    else:
        assert (d.action, d.reason) == expected, d.detail
    assert (d.reason is None) == (d.action == "allow")
    assert d.detail


@OUTREACH
@given(st.one_of(scenarios(outreach=True), scenarios(sending=True, outreach=True)))
def test_outreach_matches_the_oracle(s: Scenario) -> None:
    """The same property with every scenario an outreach send (the rules new to it)."""
    test_engine_matches_the_rule_by_rule_oracle.hypothesis.inner_test(s)  # type: ignore[attr-defined]


@st.composite
def arbitrary_counters(draw: st.DrawFn) -> tuple[Scenario, NumberState, TenantLoad]:
    """Counters not tied to any history (as a buggy or racing caller might pass them)."""
    s = draw(scenarios())
    last = draw(st.one_of(st.none(), st.integers(-600, 3 * 86_400)))
    strangers = draw(st.integers(0, 8))
    tenant_last = draw(st.one_of(st.none(), st.integers(0, 3 * 3600)))
    number = NumberState(
        connected=s.connected,
        health=s.health,
        paused=s.paused,
        first_connected_at=s.first_connected_at,
        sent_last_hour=draw(st.integers(0, 12)),
        sent_today=draw(st.integers(0, 1200)),
        last_sent_at=None if last is None else s.now - timedelta(seconds=last),
        band=s.band,
        new_contacts_today=strangers,
        warmup_stage=s.stage,
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

    def run(scenario: Scenario) -> Decision:
        return decide(
            scenario.now,
            global_kill=scenario.global_kill,
            policy=scenario.policy,
            number=number,
            tenant=tenant,
            ctx=scenario.ctx,
        )

    d = run(s)
    expected = oracle(
        s.now,
        global_kill=s.global_kill,
        policy=s.policy,
        number=number,
        tenant=tenant,
        active=s.active,
        spec=s.spec,
        outreach=s.outreach,
        reply=s.reply,
    )
    if s.outreach is not None and expected[0] == "defer":
        far = run(_far(s))
        assert (far.action, far.reason) == expected
        if far.until is not None and far.until >= s.outreach.valid_until:
            assert (d.action, d.reason) == ("deny", "expired")
        elif far.until is not None:
            assert (d.action, d.reason, d.until) == (far.action, far.reason, far.until)
    else:
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
    if number.health == "degraded" or number.band in ("yellow", "orange", "red"):
        assert number.sent_last_hour < max(1, s.policy.hourly_cap_per_number // 2)
        assert number.sent_today < max(1, s.policy.daily_cap_per_number // 2)
    # No send above its band: critical (or an unknown band) sends nothing, red only replies,
    # orange no campaign send but replies, yellow a few new contacts a day.
    assert number.band in ("green", "yellow", "orange", "red"), "allowed in the critical band"
    if number.band == "red":
        assert s.reply, "a red number sent something other than a reply"
    o = s.outreach
    if o is None:
        return
    if number.band in ("orange", "red"):
        assert s.reply, "an orange or red number sent a campaign message"
    if number.band == "yellow" and not s.reply:
        assert number.new_contacts_today < s.policy.band_new_contacts_per_day
    # An outreach send: every rule of its own holds too.
    assert not o.suppressed and o.consent != "revoked", "allowed to a suppressed recipient"
    assert o.basis == "legitimate_interest" or o.consent == "granted", "allowed without basis"
    assert s.now < o.valid_until, "allowed after its validity"
    for z in o.zones:
        there = s.now.astimezone(ZoneInfo(z))
        assert there.weekday() in o.weekdays
        assert o.contact[0] <= minute_of_day(there) < o.contact[1], "outside contact hours"
        assert DAYPART_NAMES[there.hour // 6] in o.dayparts
        if o.skip_holidays and o.holidays is not None:
            assert there.date() not in o.holidays, "allowed on a holiday"
    if o.number_hourly_cap is not None:
        assert number.sent_last_hour < o.number_hourly_cap
    if o.number_daily_cap is not None:
        assert number.sent_today < o.number_daily_cap
    load = s.ctx.outreach.campaign  # type: ignore[union-attr]
    if o.campaign_hourly_cap is not None:
        assert load.sent_last_hour < o.campaign_hourly_cap
    if o.campaign_daily_cap is not None:
        assert load.sent_today < o.campaign_daily_cap
    window = timedelta(seconds=o.duplicate_window_seconds)
    same = sum(1 for t in o.same_text_sends if s.now - window < t <= s.now)
    assert same < o.duplicate_limit, "allowed over the duplicate-content guard"
    if number.last_sent_at is not None:
        assert s.now - number.last_sent_at >= timedelta(seconds=o.min_gap_seconds)


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
            s.policy.band_new_contacts_per_day,
        )
        never_opens = (
            effective_windows(s.policy, s.ctx.windows).next_open(s.now.astimezone(s.zone)) is None
        )
        assert d.reason == Reason.NUMBER_NOT_CONNECTED or (time_based and (zero_cap or never_opens))
        return
    assert d.until.tzinfo is UTC
    assert d.until > s.now
    if s.outreach is not None:
        assert d.until < s.outreach.valid_until, "deferred past its validity: it would go late"


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
    own = s.policy.hourly_cap_per_number
    if s.outreach is not None and s.outreach.number_hourly_cap is not None:
        own = min(own, s.outreach.number_hourly_cap)
    hourly = halve(own, s.health, s.band)
    if s.number_at(s.now).sent_last_hour >= hourly and hourly != 1:
        return
    if s.history.tenant_load(s.now).sent_last_hour >= s.policy.burst_per_hour:
        return
    out = s.ctx.outreach
    cap = None if out is None else out.rules.campaign_hourly_cap
    if out is not None and cap is not None and out.campaign.sent_last_hour >= cap and cap != 1:
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


# -- outreach: properties of their own ------------------------------------------------------


def _permissive(case: OutreachCase) -> OutreachCase:
    """Outreach rules that never bind, to a recipient who may be messaged."""
    return replace(
        case,
        contact=(0, MINUTES_PER_DAY),
        weekdays=frozenset(range(7)),
        dayparts=frozenset(DAYPART_NAMES),
        skip_holidays=False,
        number_hourly_cap=None,
        number_daily_cap=None,
        campaign_hourly_cap=None,
        campaign_daily_cap=None,
        min_gap_seconds=0,
        duplicate_limit=10_000,
        basis="consent",
        consent="granted",
        suppressed=False,
        valid_until=datetime(2100, 1, 1, tzinfo=UTC),
    )


@OUTREACH
@given(scenarios(outreach=True))
def test_a_campaign_send_obeys_every_rule_of_a_warmup_send(s: Scenario) -> None:
    """One budget per number: with outreach rules that never bind, a send to a contact is
    decided exactly as a warm-up send (caps, ramp, burst, gap, windows, quiet hours), and
    warm-up sends are decided as they always were. In the green band: the others restrict
    campaign sends further (`test_never_allows_a_send_any_rule_forbids`)."""
    assert s.outreach is not None
    s = replace(s, band="green")
    campaign = replace(s, outreach=_permissive(s.outreach)).decide_at(s.now)
    warmup = replace(s, outreach=None).decide_at(s.now)
    assert (campaign.action, campaign.reason, campaign.until) == (
        warmup.action,
        warmup.reason,
        warmup.until,
    )


@OUTREACH
@given(scenarios(outreach=True), st.integers(0, 50))
def test_a_policy_can_only_tighten_a_numbers_caps(s: Scenario, extra: int) -> None:
    """Per-number caps at or above the number's own, and a gap at or below its own, change
    nothing: the number's limits stand (they are never loosened)."""
    assert s.outreach is not None
    loose = replace(
        s.outreach,
        number_hourly_cap=s.policy.hourly_cap_per_number + extra or None,
        number_daily_cap=s.policy.daily_cap_per_number + extra or None,
        min_gap_seconds=min(s.outreach.min_gap_seconds, s.policy.min_gap_seconds),
    )
    none = replace(loose, number_hourly_cap=None, number_daily_cap=None, min_gap_seconds=0)
    assert replace(s, outreach=loose).decide_at(s.now) == replace(s, outreach=none).decide_at(s.now)


@OUTREACH
@given(scenarios(outreach=True), st.integers(0, 3 * 86_400))
def test_nothing_goes_out_late(s: Scenario, later: int) -> None:
    """At or after its validity a send is expired (or refused for an earlier reason), never
    allowed; before it, an allowed send is inside it."""
    assert s.outreach is not None
    at = s.outreach.valid_until + timedelta(seconds=later)
    d = s.decide_at(at)
    assert d.action == "deny"
    if d.reason not in ("kill_switch_global", "kill_switch_tenant", "policy_invalid"):
        assert d.reason in ("suppressed", "no_basis", "consent_revoked", "expired")


@st.composite
def campaign_loads(draw: st.DrawFn) -> Scenario:
    """Open calendars and generous number caps: only the campaign's caps, the duplicate
    guard and the policy's gap can bind."""
    zone = draw(st.sampled_from(ZONES))
    now = draw(instants(zone))
    own = draw(st.lists(st.integers(0, 6 * 3600), max_size=12))
    others = draw(st.lists(st.integers(0, 6 * 3600), max_size=12))
    history = History(
        own=tuple(now - timedelta(seconds=o) for o in own),
        others=tuple(now - timedelta(seconds=o) for o in others),
    )
    case = draw_outreach_case(draw, now, history, sending=True)
    case = replace(
        _permissive(case),
        campaign_hourly_cap=draw(st.one_of(st.none(), st.integers(1, 6))),
        campaign_daily_cap=draw(st.one_of(st.none(), st.integers(1, 12))),
        duplicate_limit=draw(st.integers(1, 5)),
        duplicate_window_seconds=draw(st.sampled_from((60, 600, 3600, 7200))),
        min_gap_seconds=draw(st.sampled_from((0, 60, 900))),
        campaign_sends=draw_subset(draw, history.own + history.others),
        same_text_sends=draw_subset(draw, history.own + history.others),
    )
    return Scenario(
        now=now,
        zone=ZoneInfo(zone),
        policy=TenantPolicy(
            timezone=zone,
            quiet_start=None,
            quiet_end=None,
            hourly_cap_per_number=500,
            daily_cap_per_number=5000,
            burst_per_hour=5000,
            min_gap_seconds=0,
        ),
        spec=ALWAYS_SPEC,
        global_kill=False,
        connected=True,
        health="healthy",
        paused=False,
        active=True,
        first_connected_at=now - timedelta(days=60),
        history=history,
        outreach=case,
    )


@OUTREACH
@given(campaign_loads(), st.floats(0, 1, exclude_max=True))
def test_campaign_caps_and_the_duplicate_guard_bind_and_clear(s: Scenario, fraction: float) -> None:
    d = s.decide_at(s.now)
    assert (d.action, d.reason) == _oracle_for(s, s.now), d.detail
    if d.action != "defer":
        return
    assert d.until is not None and d.until > s.now
    # Asking again at until (nothing sent meanwhile) allows.
    assert s.decide_at(d.until).action == "allow"
    # The daily cap, the guard and the gap know their clearing instant exactly; the hourly
    # cap only knows a count (its bound is conservative unless its cap is 1).
    out = s.ctx.outreach
    assert out is not None
    cap = out.rules.campaign_hourly_cap
    if cap is not None and cap != 1 and out.campaign.sent_last_hour >= cap:
        return
    probe = min(s.now + (d.until - s.now) * fraction, d.until - timedelta(microseconds=1))
    assert s.decide_at(probe).action != "allow", (d, probe)


@st.composite
def sends_to_suppressed(draw: st.DrawFn) -> tuple[Scenario, SendContext]:
    """Any send that could reach a person on the do-not-contact list: a campaign send to
    them, the opt-out confirmation (owed or not, sent before or not, in time or late), or a
    context carrying both (a caller's mistake)."""
    s = draw(scenarios(outreach=True))
    assert s.outreach is not None
    s = replace(s, outreach=replace(s.outreach, suppressed=True))
    conf = OptOutConfirmation(
        still_opted_out=draw(st.integers(0, 5)) > 0,
        others_sent=draw(st.sampled_from((0, 0, 0, 1, 2))),
        valid_until=s.now + timedelta(seconds=draw(st.integers(-3600, 86_400))),
    )
    kind = draw(st.sampled_from(("campaign", "confirmation", "confirmation", "both")))
    ctx = s.ctx
    if kind == "confirmation":
        ctx = SendContext(conversation_active=s.active, windows=ctx.windows, confirmation=conf)
    elif kind == "both":
        ctx = replace(ctx, confirmation=conf)
    return s, ctx


def _confirmation_oracle(s: Scenario, ctx: SendContext) -> tuple[str, str | None]:
    """The confirmation's rules, one by one, in the documented order."""
    conf = ctx.confirmation
    assert conf is not None
    number = s.number_at(s.now)
    if s.global_kill:
        return ("deny", Reason.KILL_SWITCH_GLOBAL)
    if s.policy.kill_switch:
        return ("deny", Reason.KILL_SWITCH_TENANT)
    if s.policy.problems() or ctx.outreach is not None:
        return ("deny", Reason.POLICY_INVALID)
    if conf.others_sent:
        return ("deny", Reason.CONFIRMATION_SENT)
    if not conf.still_opted_out:
        return ("deny", Reason.CONFIRMATION_NOT_OWED)
    if s.now >= conf.valid_until:
        return ("deny", Reason.EXPIRED)
    if number.health == "quarantined":
        return ("deny", Reason.NUMBER_QUARANTINED)
    if number.health not in ("healthy", "degraded"):
        return ("deny", Reason.NUMBER_UNHEALTHY)
    if number.paused:
        return ("deny", Reason.NUMBER_PAUSED)
    # A critical band stops every send; the orange and red bands let it out (it answers the
    # person, as a reply).
    if number.band not in ("green", "yellow", "orange", "red"):
        return ("deny", Reason.NUMBER_CRITICAL)
    if not number.connected:
        return ("defer", Reason.NUMBER_NOT_CONNECTED)
    # Outside the calendar and every cap: it answers what the person just wrote.
    return ("allow", Reason.OPTOUT_CONFIRMATION)


@OUTREACH
@given(sends_to_suppressed())
def test_nothing_but_one_owed_confirmation_ever_reaches_a_suppressed_person(
    case: tuple[Scenario, SendContext],
) -> None:
    s, ctx = case
    d = decide(
        s.now,
        global_kill=s.global_kill,
        policy=s.policy,
        number=s.number_at(s.now),
        tenant=s.history.tenant_load(s.now),
        ctx=ctx,
    )
    if ctx.confirmation is not None:
        assert (d.action, d.reason) == _confirmation_oracle(s, ctx), d.detail
    if d.action == "allow":
        # The one exception, and only it: named, owed, the first, in time, campaign-free.
        assert d.reason == Reason.OPTOUT_CONFIRMATION
        conf = ctx.confirmation
        assert conf is not None and ctx.outreach is None
        assert conf.still_opted_out and conf.others_sent == 0 and s.now < conf.valid_until
        assert not s.global_kill and not s.policy.kill_switch
    else:
        assert d.reason != Reason.OPTOUT_CONFIRMATION
