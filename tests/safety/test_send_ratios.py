"""Delivery and read ratios and the day's new contacts weigh on a number's risk: a periodic look
at each tenant's sends (``safety.service.assess_sends``) records ``low_delivery`` when under
80% of its recent settled sends reached the phone, ``low_reads`` when under 30% of the
delivered were read (each judging only sends no earlier signal of its kind judged), and
``new_contacts`` once a day when its campaign sends today went over a quarter of its warm-up
cap. All three are gradual: they move the band, never the sudden-jump pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from mirage.policy.ramp import degrade, stage_cap
from mirage.safety.score import (
    DELIVERY_SETTLE,
    LOW_DELIVERY_PCT,
    LOW_READ_PCT,
    MIN_ACK_SAMPLE,
    RATIO_WINDOW,
    AckSample,
    SignalKind,
    ack_signals,
    new_contact_allowance,
    new_contacts_signal,
    sample_start,
)
from mirage.safety.views import KIND_LABELS

PROPS = settings(max_examples=150, deadline=None)

# --- the rules (pure) --------------------------------------------------------------------------


@PROPS
@given(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300))
def test_ratio_signals_only_under_the_floors_once_the_sample_is_big_enough(
    sent: int, delivered: int, read: int
) -> None:
    delivered, read = min(delivered, sent), min(read, delivered, sent)
    kinds = [k for k, _ in ack_signals(AckSample(sent, delivered), AckSample(0, delivered, read))]
    low_delivery = sent >= MIN_ACK_SAMPLE and delivered / sent < LOW_DELIVERY_PCT / 100
    low_reads = delivered >= MIN_ACK_SAMPLE and read / delivered < LOW_READ_PCT / 100
    assert (SignalKind.LOW_DELIVERY in kinds) == low_delivery
    assert (SignalKind.LOW_READS in kinds) == low_reads


def test_at_a_floor_is_not_under_it_and_the_details_say_how_many() -> None:
    assert ack_signals(AckSample(20, 16), AckSample(0, 20, 6)) == []  # 80% and 30% exactly
    assert ack_signals(AckSample(35, 28), AckSample(0, 0)) == []  # 80%, 0.8 × 35 is inexact
    assert ack_signals(AckSample(20, 15), AckSample(0, 20, 5)) == [
        (SignalKind.LOW_DELIVERY, {"delivered": 15, "sent": 20}),
        (SignalKind.LOW_READS, {"read": 5, "delivered": 20}),
    ]
    assert ack_signals(AckSample(19, 0), AckSample(0, 19, 0)) == []  # too few to judge


MINUTE = timedelta(minutes=1)
BASE = datetime(2026, 12, 1, tzinfo=UTC)


def _looks(sends: list[tuple[int, bool]], minutes: int) -> tuple[list[set[int]], int]:
    """Every ten minutes over ``minutes``, the delivery rule on ``sends`` ((minute, delivered)):
    the sends each ``low_delivery`` signal judged, and how many settled sends of the last
    window no signal judged at the end."""
    last: datetime | None = None
    judged: list[set[int]] = []
    for tick in range(0, minutes + 1, 10):
        now = BASE + tick * MINUTE
        start, end = sample_start(now, last, DELIVERY_SETTLE), now - DELIVERY_SETTLE
        sample = {i for i, (m, _ok) in enumerate(sends) if start < BASE + m * MINUTE <= end}
        delivered = sum(1 for i in sample if sends[i][1])
        found = ack_signals(AckSample(len(sample), delivered), AckSample(0, 0))
        if found:
            judged.append(sample)
            last = now
            assert all(BASE + sends[i][0] * MINUTE >= now - RATIO_WINDOW for i in sample)
    return judged, len(sample) if not found else 0


@PROPS
@given(st.lists(st.tuples(st.integers(0, 48 * 60), st.booleans()), max_size=400))
def test_each_low_delivery_signal_judges_its_own_sends(sends: list[tuple[int, bool]]) -> None:
    """Looking again and again never blames the same sends twice: the samples of two signals
    share no send, and each holds at least the minimum sample."""
    judged, _left = _looks(sends, 48 * 60)
    assert all(len(s) >= MIN_ACK_SAMPLE for s in judged)
    assert all(not a & b for a, b in combinations(judged, 2))


def test_a_long_undelivered_run_owes_one_signal_per_twenty_fresh_sends() -> None:
    """One send a minute for two days, none delivered, a look every ten minutes: a signal each
    time twenty more have settled (a look adds ten) — not one per look — and every settled send
    judged once, but for the fewer than twenty since the last signal."""
    sends = [(m, False) for m in range(48 * 60)]
    judged, left = _looks(sends, 48 * 60)
    assert all(MIN_ACK_SAMPLE <= len(s) < MIN_ACK_SAMPLE + 10 for s in judged)
    settled = 48 * 60 - 10 + 1  # minutes 0 … 2870 by the last look
    assert sum(len(s) for s in judged) + left == settled
    assert left < MIN_ACK_SAMPLE


def test_the_new_contact_allowance_is_a_quarter_of_the_warm_up_cap() -> None:
    # Stages 0–4 (20, 50, 100, 200, 1000 a day): 5 is baileys-antiban's "≤ 5 strangers a
    # day", 250 Meta's first tier of new people a day.
    assert [new_contact_allowance(stage_cap(s)) for s in range(5)] == [5, 12, 25, 50, 250]
    assert new_contact_allowance(degrade(stage_cap(0))) == 2  # a risky band halves the ramp
    assert new_contact_allowance(0) == 0  # a number that may send nothing
    assert new_contacts_signal(50, 0, signalled_today=False) is None
    assert new_contacts_signal(5, 5, signalled_today=False) is None
    assert new_contacts_signal(6, 5, signalled_today=False) == {"count": 6, "allowance": 5}


@PROPS
@given(st.lists(st.integers(0, 40), min_size=1, max_size=40), st.integers(0, 4))
def test_new_contacts_owe_one_signal_a_day_at_most(increments: list[int], stage: int) -> None:
    """Looks through a day whose campaign sends keep growing: exactly one signal if the day
    went over the allowance, none otherwise."""
    allowance = new_contact_allowance(stage_cap(stage))
    count, signalled, owed = 0, False, 0
    for more in increments:
        count += more
        if new_contacts_signal(count, allowance, signalled) is not None:
            owed, signalled = owed + 1, True
    assert owed == (1 if count > allowance else 0)


def test_the_timeline_names_every_kind() -> None:
    assert set(KIND_LABELS) == set(SignalKind)
