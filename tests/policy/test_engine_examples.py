"""Worked examples: one per reason code, the rule order, DST cases and the policy settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mirage.policy import (
    ALWAYS,
    DEFAULT,
    NEVER,
    Decision,
    InvalidPolicy,
    NumberState,
    Reason,
    SendContext,
    TenantLoad,
    TenantPolicy,
    WeeklyWindows,
    decide,
    effective_windows,
)

SP = ZoneInfo("America/Sao_Paulo")
# Tuesday 2024-05-07 10:00 in São Paulo (UTC-3, no DST since 2019): inside DEFAULT windows.
NOW = datetime(2024, 5, 7, 13, 0, tzinfo=UTC)

POLICY = TenantPolicy()
NUMBER = NumberState(
    connected=True,
    health="healthy",
    paused=False,
    first_connected_at=NOW - timedelta(days=60),
    sent_last_hour=0,
    sent_today=0,
    last_sent_at=None,
)
TENANT = TenantLoad(sent_last_hour=0)
CTX = SendContext(conversation_active=True, windows=DEFAULT)


def run(
    now: datetime = NOW,
    *,
    global_kill: bool = False,
    policy: TenantPolicy = POLICY,
    number: NumberState = NUMBER,
    tenant: TenantLoad = TENANT,
    ctx: SendContext = CTX,
) -> Decision:
    return decide(
        now, global_kill=global_kill, policy=policy, number=number, tenant=tenant, ctx=ctx
    )


def local(d: datetime | None, zone: ZoneInfo = SP) -> datetime:
    assert d is not None
    return d.astimezone(zone)


def test_allow_when_every_rule_passes() -> None:
    d = run()
    assert d == Decision("allow", None, None, "All rules pass.")
    assert d.allowed
    assert d.as_dict() == {"action": "allow", "reason": None, "until": None, "detail": d.detail}


# -- deny reasons, in order ---------------------------------------------------------------


def test_global_kill_switch_beats_everything() -> None:
    d = run(
        global_kill=True,
        policy=replace(POLICY, kill_switch=True),
        number=replace(NUMBER, health="banned", connected=False),
    )
    assert (d.action, d.reason, d.until) == ("deny", "kill_switch_global", None)


def test_tenant_kill_switch() -> None:
    d = run(policy=replace(POLICY, kill_switch=True))
    assert (d.action, d.reason) == ("deny", Reason.KILL_SWITCH_TENANT)


def test_invalid_policy_fails_closed() -> None:
    d = run(policy=replace(POLICY, timezone="Mars/Olympus_Mons"))
    assert (d.action, d.reason) == ("deny", "policy_invalid")
    assert "timezone" in d.detail


@pytest.mark.parametrize(
    ("health", "reason"),
    [
        ("quarantined", "number_quarantined"),
        ("banned", "number_unhealthy"),
        ("restricted", "number_unhealthy"),
        ("mystery", "number_unhealthy"),  # unknown verdicts fail closed
    ],
)
def test_unhealthy_numbers_never_send(health: str, reason: str) -> None:
    d = run(number=replace(NUMBER, health=health, paused=True, connected=False))
    assert (d.action, d.reason) == ("deny", reason)


def test_paused_number_is_denied_before_connection_is_considered() -> None:
    d = run(number=replace(NUMBER, paused=True, connected=False))
    assert (d.action, d.reason) == ("deny", "number_paused")


def test_disconnected_number_defers_without_until() -> None:
    d = run(number=replace(NUMBER, connected=False))
    assert (d.action, d.reason, d.until) == ("defer", "number_not_connected", None)


def test_paused_conversation() -> None:
    d = run(ctx=SendContext(conversation_active=False, windows=DEFAULT))
    assert (d.action, d.reason) == ("deny", "conversation_paused")


# -- calendar -----------------------------------------------------------------------------


def test_outside_window_defers_to_the_next_range() -> None:
    lunch = datetime(2024, 5, 7, 12, 30, tzinfo=SP)
    d = run(lunch)
    assert (d.action, d.reason) == ("defer", "outside_window")
    assert local(d.until) == datetime(2024, 5, 7, 13, 0, tzinfo=SP)
    assert d.until is not None and d.until.tzinfo is UTC


def test_quiet_hours_defer_to_their_end_when_the_window_is_open() -> None:
    policy = replace(POLICY, quiet_start=time(22), quiet_end=time(7))
    d = run(datetime(2024, 5, 7, 23, 0, tzinfo=SP), policy=policy, ctx=replace(CTX, windows=ALWAYS))
    assert (d.action, d.reason) == ("defer", "quiet_hours")
    assert local(d.until) == datetime(2024, 5, 8, 7, 0, tzinfo=SP)


def test_quiet_hours_end_inside_closed_windows_waits_for_both() -> None:
    # Quiet until 07:00, but the windows only open at 08:00: until must satisfy both.
    policy = replace(POLICY, quiet_start=time(22), quiet_end=time(7))
    windows = WeeklyWindows.every_day((time(6), time(6, 30)), (time(8), time(12)))
    d = run(
        datetime(2024, 5, 7, 23, 0, tzinfo=SP), policy=policy, ctx=replace(CTX, windows=windows)
    )
    assert local(d.until) == datetime(2024, 5, 8, 8, 0, tzinfo=SP)
    # Inside an open window at 06:10 but quiet: the reason is quiet_hours, still until 08:00.
    d = run(
        datetime(2024, 5, 8, 6, 10, tzinfo=SP), policy=policy, ctx=replace(CTX, windows=windows)
    )
    assert (d.reason, local(d.until)) == ("quiet_hours", datetime(2024, 5, 8, 8, 0, tzinfo=SP))


def test_calendar_that_never_opens_defers_without_until() -> None:
    d = run(ctx=replace(CTX, windows=NEVER))
    assert (d.action, d.reason, d.until) == ("defer", "outside_window", None)
    # Windows entirely inside quiet hours never open either.
    night = WeeklyWindows.every_day((time(23), time(23, 30)))
    d = run(ctx=replace(CTX, windows=night))
    assert (d.reason, d.until) == ("outside_window", None)
    assert effective_windows(POLICY, night).is_empty


def test_no_quiet_hours() -> None:
    policy = replace(POLICY, quiet_start=None, quiet_end=None)
    d = run(datetime(2024, 5, 7, 3, 0, tzinfo=SP), policy=policy, ctx=replace(CTX, windows=ALWAYS))
    assert d.allowed


# -- caps ---------------------------------------------------------------------------------


def test_hourly_cap_clears_an_hour_after_the_last_send() -> None:
    last = NOW - timedelta(minutes=10)
    number = replace(NUMBER, sent_last_hour=30, sent_today=30, last_sent_at=last)
    d = run(number=number)
    assert (d.action, d.reason) == ("defer", "hourly_cap")
    assert d.until == last + timedelta(hours=1)


def test_hourly_cap_without_a_known_last_send_waits_a_full_hour() -> None:
    d = run(number=replace(NUMBER, sent_last_hour=30, sent_today=30))
    assert d.until == NOW + timedelta(hours=1)


def test_daily_cap_defers_to_the_next_open_instant_of_the_next_day() -> None:
    number = replace(NUMBER, sent_today=200, last_sent_at=NOW - timedelta(hours=2))
    d = run(number=number)
    assert (d.action, d.reason) == ("defer", "daily_cap")
    # Local midnight is inside quiet hours (22–07) and before the 08:00 window.
    assert local(d.until) == datetime(2024, 5, 8, 8, 0, tzinfo=SP)


def test_daily_cap_with_an_always_open_calendar_is_local_midnight() -> None:
    policy = replace(POLICY, quiet_start=None, quiet_end=None)
    number = replace(NUMBER, sent_today=200, last_sent_at=NOW - timedelta(hours=2))
    d = run(policy=policy, number=number, ctx=replace(CTX, windows=ALWAYS))
    assert local(d.until) == datetime(2024, 5, 8, 0, 0, tzinfo=SP)


@pytest.mark.parametrize(
    ("age", "cap"), [(0, 20), (3, 20), (4, 50), (7, 50), (8, 100), (14, 100), (15, 200)]
)
def test_warmup_cap_follows_the_ramp(age: int, cap: int) -> None:
    young = replace(NUMBER, first_connected_at=NOW - timedelta(days=age))
    assert run(number=replace(young, sent_today=cap - 1)).allowed
    d = run(number=replace(young, sent_today=cap))
    expected = "daily_cap" if cap >= POLICY.daily_cap_per_number else "warmup_cap"
    assert (d.action, d.reason) == ("defer", expected)
    assert local(d.until) == datetime(2024, 5, 8, 8, 0, tzinfo=SP)


def test_number_without_a_first_connection_is_treated_as_day_zero() -> None:
    d = run(number=replace(NUMBER, first_connected_at=None, sent_today=20))
    assert d.reason == "warmup_cap"


def test_warmup_age_counts_tenant_local_days() -> None:
    # First connected at 23:30 local on May 3; on May 7 at 10:00 the number is on day 4 (50/day),
    # although fewer than 4 × 24 h have passed.
    first = datetime(2024, 5, 3, 23, 30, tzinfo=SP)
    number = replace(NUMBER, first_connected_at=first, sent_today=20)
    assert run(number=number).allowed
    assert run(number=replace(number, sent_today=50)).reason == "warmup_cap"


def test_degraded_numbers_get_halved_caps() -> None:
    degraded = replace(NUMBER, health="degraded")
    assert run(number=replace(degraded, sent_last_hour=14, sent_today=14)).allowed
    assert run(number=replace(degraded, sent_last_hour=15, sent_today=15)).reason == "hourly_cap"
    assert run(number=replace(degraded, sent_today=100)).reason == "daily_cap"
    young = replace(degraded, first_connected_at=NOW)
    d = run(number=replace(young, sent_today=10))
    assert d.reason == "warmup_cap" and "halved" in d.detail


def test_burst_limit_is_tenant_wide() -> None:
    last = NOW - timedelta(minutes=5)
    d = run(tenant=TenantLoad(sent_last_hour=200, last_sent_at=last))
    assert (d.action, d.reason, d.until) == ("defer", "burst_limit", last + timedelta(hours=1))
    d = run(tenant=TenantLoad(sent_last_hour=200))
    assert d.until == NOW + timedelta(hours=1)


def test_min_gap_defers_until_the_gap_has_passed() -> None:
    last = NOW - timedelta(seconds=10)
    d = run(number=replace(NUMBER, sent_last_hour=1, sent_today=1, last_sent_at=last))
    assert (d.action, d.reason, d.until) == ("defer", "min_gap", last + timedelta(seconds=30))
    at_gap = run(
        last + timedelta(seconds=30),
        number=replace(NUMBER, sent_last_hour=1, sent_today=1, last_sent_at=last),
    )
    assert at_gap.allowed


def test_until_accounts_for_every_blocking_cap() -> None:
    # Hourly cap clears at 10:50, the gap at 10:00:20; both must pass: until is 10:50.
    last = NOW - timedelta(seconds=10)
    number = replace(NUMBER, sent_last_hour=30, sent_today=30, last_sent_at=last)
    d = run(number=number)
    assert d.reason == "hourly_cap"
    assert d.until == last + timedelta(hours=1)


def test_zero_cap_stops_sending_without_until() -> None:
    d = run(policy=replace(POLICY, hourly_cap_per_number=0))
    assert (d.action, d.reason, d.until) == ("defer", "hourly_cap", None)
    d = run(policy=replace(POLICY, burst_per_hour=0))
    assert (d.action, d.reason, d.until) == ("defer", "burst_limit", None)


def test_counts_below_the_caps_pass_and_the_reason_order_is_stable() -> None:
    number = replace(
        NUMBER,
        sent_last_hour=30,
        sent_today=200,
        last_sent_at=NOW - timedelta(seconds=5),
        first_connected_at=NOW,
    )
    assert run(number=number, tenant=TenantLoad(sent_last_hour=999)).reason == "hourly_cap"
    assert run(number=replace(number, sent_last_hour=0)).reason == "daily_cap"
    assert run(number=replace(number, sent_last_hour=0, sent_today=20)).reason == "warmup_cap"
    number = replace(number, sent_last_hour=0, sent_today=0)
    assert run(number=number, tenant=TenantLoad(sent_last_hour=999)).reason == "burst_limit"
    assert run(number=number).reason == "min_gap"


# -- DST ----------------------------------------------------------------------------------


def test_quiet_end_inside_the_brazilian_dst_gap() -> None:
    # 2018-11-04: São Paulo jumped from 00:00 (-03) to 01:00 (-02). Quiet until 00:30 never
    # ends on the wall clock: the first quiet-free instant is the jump itself.
    policy = replace(POLICY, quiet_start=time(22), quiet_end=time(0, 30))
    d = run(
        datetime(2018, 11, 3, 23, 0, tzinfo=SP), policy=policy, ctx=replace(CTX, windows=ALWAYS)
    )
    assert (d.reason, d.until) == ("quiet_hours", datetime(2018, 11, 4, 3, 0, tzinfo=UTC))


def test_daily_cap_resets_at_the_first_instant_of_a_day_without_midnight() -> None:
    policy = replace(POLICY, quiet_start=None, quiet_end=None)
    number = replace(NUMBER, sent_today=200)
    d = run(
        datetime(2018, 11, 3, 20, 0, tzinfo=SP),
        policy=policy,
        number=number,
        ctx=replace(CTX, windows=ALWAYS),
    )
    assert d.until == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)  # 01:00 -02, the day's start
    assert local(d.until).date() == datetime(2018, 11, 4).date()


def test_new_york_spring_forward_window() -> None:
    ny = ZoneInfo("America/New_York")
    policy = replace(POLICY, timezone="America/New_York", quiet_start=None, quiet_end=None)
    windows = WeeklyWindows.every_day((time(2, 30), time(4)))
    d = run(
        datetime(2024, 3, 10, 1, 0, tzinfo=ny), policy=policy, ctx=replace(CTX, windows=windows)
    )
    # 02:00 EST → 03:00 EDT: 02:30 does not exist; the window is open from 03:00 EDT.
    assert d.until == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    assert local(d.until, ny).time() == time(3, 0)


def test_min_gap_across_fall_back_uses_real_elapsed_time() -> None:
    ny = ZoneInfo("America/New_York")
    policy = replace(
        POLICY, timezone="America/New_York", quiet_start=None, quiet_end=None, min_gap_seconds=1800
    )
    # 01:50 EDT (first pass); 30 min later it is 01:20 EST on the wall clock.
    last = datetime(2024, 11, 3, 1, 50, tzinfo=ny)
    number = replace(NUMBER, sent_last_hour=1, sent_today=1, last_sent_at=last)
    d = run(last.astimezone(UTC), policy=policy, number=number, ctx=replace(CTX, windows=ALWAYS))
    assert d.until == datetime(2024, 11, 3, 6, 20, tzinfo=UTC)
    assert local(d.until, ny).strftime("%H:%M %Z") == "01:20 EST"


# -- policy settings ----------------------------------------------------------------------


def test_defaults_follow_the_market_anchors() -> None:
    p = TenantPolicy()
    assert p.timezone == "America/Sao_Paulo"
    assert (p.quiet_start, p.quiet_end) == (time(22), time(7))  # DeskcommCRM 07–22 h window
    assert p.hourly_cap_per_number == 30  # Whapi.Cloud < 30/h
    assert p.daily_cap_per_number == 200  # DeskcommCRM's last ramp step
    assert p.burst_per_hour == 200  # baileys-antiban 200/h
    assert p.min_gap_seconds == 30  # WAHA 30–60 s
    assert (p.delay_min_s, p.delay_max_s) == (30, 90)  # AquecedorWeb 30–90 s
    assert p.kill_switch is False
    p.validate()


def test_validate_lists_every_problem() -> None:
    bad = TenantPolicy(
        timezone="Nowhere/Land",
        quiet_start=time(22),
        quiet_end=None,
        hourly_cap_per_number=-1,
        min_gap_seconds=-5,
        delay_min_s=60,
        delay_max_s=30,
    )
    with pytest.raises(InvalidPolicy) as info:
        bad.validate()
    fields = {name for name, _ in info.value.problems}
    assert fields == {
        "timezone",
        "quiet_end",
        "hourly_cap_per_number",
        "min_gap_seconds",
        "delay_max_s",
    }
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "policy",
    [
        TenantPolicy(quiet_start=time(7), quiet_end=time(7)),
        TenantPolicy(delay_min_s=0, delay_max_s=0),
        TenantPolicy(daily_cap_per_number=True),
    ],
)
def test_other_invalid_settings(policy: TenantPolicy) -> None:
    assert policy.problems()
    assert run(policy=policy).reason == "policy_invalid"


def test_quiet_hours_may_wrap_midnight_or_not() -> None:
    wrapping = TenantPolicy(quiet_start=time(22), quiet_end=time(7))
    assert wrapping.in_quiet_hours(datetime(2024, 5, 7, 23, tzinfo=SP))
    assert wrapping.in_quiet_hours(datetime(2024, 5, 7, 6, 59, tzinfo=SP))
    assert not wrapping.in_quiet_hours(datetime(2024, 5, 7, 7, tzinfo=SP))
    siesta = TenantPolicy(quiet_start=time(12), quiet_end=time(14))
    assert siesta.in_quiet_hours(datetime(2024, 5, 7, 12, tzinfo=SP))
    assert not siesta.in_quiet_hours(datetime(2024, 5, 7, 14, tzinfo=SP))


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError):
        run(datetime(2024, 5, 7, 10))
    with pytest.raises(ValueError):
        replace(NUMBER, last_sent_at=datetime(2024, 5, 7, 10))
    with pytest.raises(ValueError):
        TenantLoad(sent_last_hour=-1)


def test_zoned_inputs_are_normalized_to_utc() -> None:
    last = datetime(2024, 5, 7, 9, 59, 50, tzinfo=SP)
    number = replace(NUMBER, sent_last_hour=1, sent_today=1, last_sent_at=last)
    assert number.last_sent_at is not None and number.last_sent_at.tzinfo is UTC
    d = run(datetime(2024, 5, 7, 10, 0, tzinfo=SP), number=number)
    assert d.until == datetime(2024, 5, 7, 13, 0, 20, tzinfo=UTC)
