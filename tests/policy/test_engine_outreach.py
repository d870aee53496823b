"""Worked examples of the outreach rules: one per reason code, their order, recipient-local
time in Brazil's four offsets, holidays, tighten-only caps, the guard and validity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mirage.kit.i18n import translations
from mirage.policy import (
    ALWAYS,
    NEVER,
    REASON_LABELS,
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
    reason_label,
)
from mirage.policy.locality import locate
from tests.policy.strategies import FakeHolidays

SP = ZoneInfo("America/Sao_Paulo")
# Tuesday 2025-06-03 10:00 in São Paulo (UTC-3).
NOW = datetime(2025, 6, 3, 13, 0, tzinfo=UTC)
POLICY = TenantPolicy(quiet_start=None, quiet_end=None)
NUMBER = NumberState(
    connected=True,
    health="healthy",
    paused=False,
    first_connected_at=NOW - timedelta(days=60),
    sent_last_hour=0,
    sent_today=0,
    last_sent_at=None,
)
RULES = OutreachRules()
WHO = Recipient(zones=("America/Sao_Paulo",), basis="consent", consent="granted", suppressed=False)


def send(
    now: datetime = NOW,
    *,
    rules: OutreachRules = RULES,
    who: Recipient = WHO,
    valid_until: datetime | None = None,
    campaign: CampaignLoad | None = None,
    same_text: tuple[datetime, ...] = (),
    policy: TenantPolicy = POLICY,
    number: NumberState = NUMBER,
    global_kill: bool = False,
) -> Decision:
    return decide(
        now,
        global_kill=global_kill,
        policy=policy,
        number=number,
        tenant=TenantLoad(sent_last_hour=0),
        ctx=SendContext(
            conversation_active=True,
            windows=ALWAYS,
            outreach=Outreach(
                rules=rules,
                recipient=who,
                valid_until=valid_until or now + timedelta(hours=4),
                campaign=campaign or CampaignLoad(),
                same_text_sent=same_text,
            ),
        ),
    )


def sp(d: datetime | None) -> datetime:
    assert d is not None
    return d.astimezone(SP)


def test_allowed_inside_every_rule() -> None:
    assert send().action == "allow"


# -- the recipient: denied for good --------------------------------------------------------


def test_suppressed_recipients_are_never_messaged() -> None:
    d = send(who=replace(WHO, suppressed=True))
    assert (d.action, d.reason) == ("deny", "suppressed")


@pytest.mark.parametrize(
    ("basis", "consent", "reason"),
    [
        (None, "none", "no_basis"),
        (None, "granted", "no_basis"),
        ("consent", "none", "no_basis"),
        ("consent", "revoked", "consent_revoked"),
        ("legitimate_interest", "revoked", "consent_revoked"),
    ],
)
def test_a_legal_basis_is_required(basis: str | None, consent: str, reason: str) -> None:
    d = send(who=replace(WHO, basis=basis, consent=consent))
    assert (d.action, d.reason) == ("deny", reason)


def test_legitimate_interest_without_recorded_consent_is_a_basis() -> None:
    assert send(who=replace(WHO, basis="legitimate_interest", consent="none")).allowed


def test_recipient_rules_come_after_the_kill_switches_and_before_the_number() -> None:
    assert send(who=replace(WHO, suppressed=True), global_kill=True).reason == "kill_switch_global"
    banned = replace(NUMBER, health="banned")
    assert send(who=replace(WHO, suppressed=True), number=banned).reason == "suppressed"
    assert send(valid_until=NOW, number=banned).reason == "expired"


def confirm(
    now: datetime = NOW,
    *,
    owed: bool = True,
    others: int = 0,
    valid_until: datetime | None = None,
    number: NumberState = NUMBER,
    policy: TenantPolicy = POLICY,
    global_kill: bool = False,
) -> Decision:
    return decide(
        now,
        global_kill=global_kill,
        policy=policy,
        number=number,
        tenant=TenantLoad(sent_last_hour=10_000),
        ctx=SendContext(
            conversation_active=False,
            windows=NEVER,
            confirmation=OptOutConfirmation(owed, others, valid_until or now + timedelta(hours=1)),
        ),
    )


def test_the_opt_out_confirmation_is_the_one_send_to_a_suppressed_person() -> None:
    # Outside the windows, quiet hours and every cap (a full hour, a full day): it answers
    # the person's own message. The allow names why.
    busy = replace(NUMBER, sent_last_hour=500, sent_today=5000, last_sent_at=NOW)
    quiet = TenantPolicy(quiet_start=time(0), quiet_end=time(23, 59))
    d = confirm(number=busy, policy=quiet)
    assert (d.action, d.reason) == ("allow", "optout_confirmation") and d.allowed
    # Once: a second is denied, as is one no longer owed (VOLTAR since) or late.
    assert (confirm(others=1).action, confirm(others=1).reason) == ("deny", "confirmation_sent")
    assert confirm(owed=False).reason == "confirmation_not_owed"
    assert (confirm(valid_until=NOW).action, confirm(valid_until=NOW).reason) == (
        "deny",
        "expired",
    )
    # Never past a kill switch or by a number that cannot send.
    assert confirm(global_kill=True).reason == "kill_switch_global"
    assert confirm(policy=replace(POLICY, kill_switch=True)).reason == "kill_switch_tenant"
    assert confirm(number=replace(NUMBER, health="banned")).reason == "number_unhealthy"
    offline = confirm(number=replace(NUMBER, connected=False))
    assert (offline.action, offline.reason) == ("defer", "number_not_connected")
    # A campaign send cannot ride on it.
    mixed = decide(
        NOW,
        global_kill=False,
        policy=POLICY,
        number=NUMBER,
        tenant=TenantLoad(0),
        ctx=SendContext(
            conversation_active=True,
            windows=ALWAYS,
            outreach=Outreach(RULES, replace(WHO, suppressed=True), NOW + timedelta(hours=1)),
            confirmation=OptOutConfirmation(True, 0, NOW + timedelta(hours=1)),
        ),
    )
    assert (mixed.action, mixed.reason) == ("deny", "policy_invalid")


def test_an_invalid_outreach_policy_fails_closed() -> None:
    d = send(rules=replace(RULES, weekdays=frozenset()))
    assert (d.action, d.reason) == ("deny", "policy_invalid")
    assert "weekdays" in d.detail


def test_a_message_past_its_validity_expires_instead_of_going_late() -> None:
    d = send(valid_until=NOW)
    assert (d.action, d.reason, d.until) == ("deny", "expired", None)
    assert send(valid_until=NOW + timedelta(microseconds=1)).allowed


def test_a_defer_beyond_the_validity_is_expired_now() -> None:
    # 19:00 in São Paulo: the contact hours reopen tomorrow 08:00, after a 4-hour validity.
    evening = datetime(2025, 6, 3, 22, 0, tzinfo=UTC)
    d = send(evening)
    assert (d.action, d.reason) == ("deny", "expired")
    assert "not sent late" in d.detail
    # With a validity past tomorrow 08:00 it waits instead.
    d = send(evening, valid_until=evening + timedelta(hours=14))
    assert (d.action, d.reason) == ("defer", "contact_hours")
    assert sp(d.until) == datetime(2025, 6, 4, 8, 0, tzinfo=SP)


# -- the recipient's calendar --------------------------------------------------------------


def test_weekday_defers_to_the_next_allowed_day() -> None:
    saturday = datetime(2025, 6, 7, 13, 0, tzinfo=UTC)
    d = send(saturday, valid_until=saturday + timedelta(days=3))
    assert (d.action, d.reason) == ("defer", "recipient_weekday")
    assert sp(d.until) == datetime(2025, 6, 9, 8, 0, tzinfo=SP)  # Monday 08:00


def test_contact_hours_are_the_recipients_local_time() -> None:
    # 09:30 in São Paulo is 07:30 in Rio Branco (Acre, UTC-5): too early there.
    at = datetime(2025, 6, 3, 12, 30, tzinfo=UTC)
    acre = locate("+5568999990000")
    who = replace(WHO, zones=acre.zones)
    d = send(at, who=who)
    assert (d.action, d.reason) == ("defer", "contact_hours")
    assert d.until == datetime(2025, 6, 3, 13, 0, tzinfo=UTC)  # 08:00 in Rio Branco
    assert send(at).allowed  # a São Paulo number at the same instant


def test_a_two_zone_ddd_must_be_inside_the_hours_in_both_zones() -> None:
    pe = replace(WHO, zones=locate("+5581999990000").zones)  # Recife and Noronha (UTC-2)
    # 17:30 in Recife is 18:30 on Fernando de Noronha: outside the hours there.
    at = datetime(2025, 6, 3, 20, 30, tzinfo=UTC)
    d = send(at, who=pe, valid_until=at + timedelta(days=1))
    assert (d.action, d.reason) == ("defer", "contact_hours")
    # Next: 08:00 in Recife (09:00 on the island), the first instant inside both.
    assert d.until == datetime(2025, 6, 4, 11, 0, tzinfo=UTC)
    # 07:30 in Recife is 08:30 on the island, still too early in Recife.
    early = datetime(2025, 6, 4, 10, 30, tzinfo=UTC)
    assert send(early, who=pe).reason == "contact_hours"
    assert send(early + timedelta(minutes=30), who=pe).allowed


def test_dayparts_narrow_the_contact_hours() -> None:
    mornings = replace(RULES, dayparts=frozenset({Daypart.MORNING}))
    afternoon = datetime(2025, 6, 3, 16, 0, tzinfo=UTC)  # 13:00 in São Paulo
    d = send(afternoon, rules=mornings, valid_until=afternoon + timedelta(days=1))
    assert (d.action, d.reason) == ("defer", "daypart")
    assert sp(d.until) == datetime(2025, 6, 4, 8, 0, tzinfo=SP)


def test_state_holidays_defer_to_the_next_working_day() -> None:
    # 9 July is a São Paulo state holiday (a Wednesday in 2025), not one in Minas Gerais.
    at = datetime(2025, 7, 9, 13, 0, tzinfo=UTC)
    sao_paulo = locate("+5511999990000")
    who = replace(WHO, zones=sao_paulo.zones, holidays=sao_paulo.holidays)
    d = send(at, who=who, valid_until=at + timedelta(days=2))
    assert (d.action, d.reason) == ("defer", "holiday")
    assert "Constitutionalist" in d.detail
    assert sp(d.until) == datetime(2025, 7, 10, 8, 0, tzinfo=SP)
    minas = locate("+5531999990000")
    assert send(at, who=replace(WHO, zones=minas.zones, holidays=minas.holidays)).allowed
    # Holidays off: the policy sends on them.
    assert send(at, who=who, rules=replace(RULES, skip_holidays=False)).allowed


def test_consecutive_holidays_and_a_weekend_are_skipped_together() -> None:
    thursday = datetime(2025, 6, 5, 13, 0, tzinfo=UTC)
    days = frozenset({date(2025, 6, 5), date(2025, 6, 6)})  # Thursday and Friday
    who = replace(WHO, holidays=FakeHolidays(days))
    d = send(thursday, who=who, valid_until=thursday + timedelta(days=6))
    assert (d.action, d.reason) == ("defer", "holiday")
    assert sp(d.until) == datetime(2025, 6, 9, 8, 0, tzinfo=SP)  # Monday


def test_the_tenants_quiet_hours_still_apply_and_come_first() -> None:
    quiet = replace(POLICY, quiet_start=time(9, 0), quiet_end=time(12, 0))
    d = send(policy=quiet)
    assert (d.action, d.reason) == ("defer", "quiet_hours")
    assert sp(d.until) == datetime(2025, 6, 3, 12, 0, tzinfo=SP)


# -- caps ----------------------------------------------------------------------------------


def test_policy_caps_only_tighten_the_numbers_own() -> None:
    busy = replace(NUMBER, sent_last_hour=5, last_sent_at=NOW - timedelta(minutes=5))
    tight = replace(RULES, number_hourly_cap=5)
    d = send(rules=tight, number=busy)
    assert (d.action, d.reason) == ("defer", "hourly_cap")
    assert "cap is 5" in d.detail
    # A policy cap above the number's own (30) changes nothing: 30 still applies.
    loose = replace(RULES, number_hourly_cap=100)
    assert send(rules=loose, number=replace(busy, sent_last_hour=29)).allowed
    assert send(rules=loose, number=replace(busy, sent_last_hour=30)).reason == "hourly_cap"


def test_warmup_and_campaign_sends_share_the_numbers_daily_budget() -> None:
    # The number's counters count every send (warm-up and campaigns alike); the ramp of a
    # young number limits campaign sends too.
    young = replace(NUMBER, first_connected_at=NOW - timedelta(days=1), sent_today=20)
    d = send(number=young, valid_until=NOW + timedelta(days=1))
    assert (d.action, d.reason) == ("defer", "warmup_cap")


def test_the_policys_gap_is_the_longer_of_the_two() -> None:
    recent = replace(NUMBER, last_sent_at=NOW - timedelta(seconds=60))
    d = send(rules=replace(RULES, min_gap_seconds=300), number=recent)
    assert (d.action, d.reason) == ("defer", "min_gap")
    assert d.until == NOW + timedelta(seconds=240)
    # A shorter policy gap leaves the tenant's 30 s.
    assert send(rules=replace(RULES, min_gap_seconds=5), number=recent).allowed


def test_campaign_caps() -> None:
    rules = replace(RULES, campaign_hourly_cap=10, campaign_daily_cap=50)
    last = NOW - timedelta(minutes=10)
    d = send(rules=rules, campaign=CampaignLoad(sent_last_hour=10, last_sent_at=last))
    assert (d.action, d.reason, d.until) == (
        "defer",
        "campaign_hourly_cap",
        last + timedelta(hours=1),
    )
    d = send(
        rules=rules,
        campaign=CampaignLoad(sent_today=50),
        valid_until=NOW + timedelta(days=1),
    )
    assert (d.action, d.reason) == ("defer", "campaign_daily_cap")
    assert sp(d.until) == datetime(2025, 6, 4, 8, 0, tzinfo=SP)  # tomorrow, in contact hours


def test_duplicate_content_guard_waits_for_the_oldest_copy_to_leave_the_window() -> None:
    rules = replace(RULES, duplicate_limit=3, duplicate_window_seconds=3600)
    copies = tuple(NOW - timedelta(minutes=m) for m in (50, 30, 10, 70))  # 70 is outside
    d = send(rules=rules, same_text=copies)
    assert (d.action, d.reason) == ("defer", "duplicate_content")
    assert d.until == NOW + timedelta(minutes=10)  # the copy of 50 min ago leaves
    assert send(rules=rules, same_text=copies[1:]).allowed


# -- rules and labels ----------------------------------------------------------------------


def test_outreach_rules_problems() -> None:
    bad = OutreachRules(
        contact_start=time(18),
        contact_end=time(8),
        weekdays=frozenset({7}),
        number_hourly_cap=0,
        campaign_daily_cap=-1,
        min_gap_seconds=-5,
        duplicate_limit=0,
        duplicate_window_seconds=0,
    )
    fields = {name for name, _ in bad.problems()}
    assert fields == {
        "contact_end",
        "weekdays",
        "number_hourly_cap",
        "campaign_daily_cap",
        "min_gap_seconds",
        "duplicate_limit",
        "duplicate_window_seconds",
    }
    night_only = OutreachRules(dayparts=frozenset({Daypart.NIGHT}))  # 08–18 has no night
    assert [n for n, _ in night_only.problems()] == ["dayparts"]
    assert OutreachRules(contact_start=time(20), contact_end=time(0)).problems() == ()


def test_windows_combine_weekdays_hours_and_dayparts() -> None:
    rules = OutreachRules(
        contact_start=time(9, 30),
        contact_end=time(20),
        weekdays=frozenset({0, 2}),
        dayparts=frozenset({Daypart.MORNING, Daypart.EVENING}),
    )
    assert rules.windows().to_json() == {
        "0": [["09:30", "12:00"], ["18:00", "20:00"]],
        "1": [],
        "2": [["09:30", "12:00"], ["18:00", "20:00"]],
        "3": [],
        "4": [],
        "5": [],
        "6": [],
    }


def test_every_reason_has_a_label_translated_to_portuguese() -> None:
    assert set(REASON_LABELS) == set(Reason)
    pt = translations("pt_BR")
    for reason, label in REASON_LABELS.items():
        assert reason_label(reason.value) == label
        assert pt.gettext(label) != label, f"no pt-BR label for {reason}"
    assert reason_label("something_else") == "something_else"
    assert reason_label(None) == ""


def test_recipients_are_checked_on_creation() -> None:
    with pytest.raises(ValueError):
        Recipient(zones=(), basis="consent", consent="granted", suppressed=False)
    with pytest.raises(Exception):  # noqa: B017 - ZoneInfoNotFoundError or ValueError
        Recipient(zones=("Mars/Olympus",), basis="consent", consent="granted", suppressed=False)
    with pytest.raises(ValueError):
        Recipient(zones=("UTC",), basis="gut_feeling", consent="granted", suppressed=False)
