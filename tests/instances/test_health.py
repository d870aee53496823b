"""The health verdict: a pure function of the gateway's signals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mirage.instances.health import (
    BANNED_CODES,
    PROBE_AFTER,
    RESTRICTED_FAILURES,
    TERMINAL_CODES,
    Signals,
    assess,
    needs_pairing,
)
from mirage.policy import SENDING_HEALTH

ORDER = ["healthy", "degraded", "restricted", "banned"]
signals = st.builds(
    Signals,
    state=st.sampled_from(["open", "connecting", "close", "refused", "unknown"]),
    reason_code=st.one_of(
        st.none(),
        st.sampled_from([200, 401, 402, 403, 406, 408, 428, 440, 500, 515]),
        st.integers(0, 999),
    ),
    consecutive_send_failures=st.integers(0, 50),
    sent_sample=st.integers(0, 200),
    delivered_sample=st.integers(0, 200),
    current=st.sampled_from(["healthy", "degraded", "restricted", "banned"]),
    last_send_failure_at=st.one_of(
        st.none(), st.datetimes(timezones=st.just(UTC), min_value=datetime(2026, 1, 1))
    ),
    now=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC), min_value=datetime(2026, 1, 1))),
).filter(lambda s: s.delivered_sample <= s.sent_sample)


def test_examples() -> None:
    assert assess(Signals("open", 200)).health == "healthy"
    assert assess(Signals("close", 403)).health == "banned"
    v = assess(Signals("close", 401))
    assert v.health == "degraded" and "re-pairing" in (v.reason or "")
    assert assess(Signals("open", 200, consecutive_send_failures=3)).reason == (
        "connected but cannot send"
    )
    assert assess(Signals("open", 200, sent_sample=40, delivered_sample=10)).health == "restricted"
    assert assess(Signals("open", 200, sent_sample=40, delivered_sample=28)).health == "degraded"
    assert assess(Signals("open", 200, sent_sample=10, delivered_sample=0)).health == "healthy"
    assert assess(Signals("open", 200, current="quarantined")).health == "quarantined"


@given(signals)
def test_verdict_properties(s: Signals) -> None:
    v = assess(s)
    assert v.health in ORDER
    assert (v.health == "healthy") == (v.reason is None)
    if s.state in ("close", "refused") and s.reason_code in BANNED_CODES:
        assert v.health == "banned"
    if s.consecutive_send_failures >= RESTRICTED_FAILURES and not s.probing:
        assert ORDER.index(v.health) >= ORDER.index("restricted")
    # More failures never make a number look healthier.
    worse = assess(
        Signals(
            s.state,
            s.reason_code,
            s.consecutive_send_failures + 5,
            s.sent_sample,
            s.delivered_sample,
            s.current,
            s.last_send_failure_at,
            s.now,
        )
    )
    assert ORDER.index(worse.health) >= ORDER.index(v.health)


def test_a_number_restricted_by_send_failures_gets_a_probe_after_the_cool_down() -> None:
    # A "zombie" (open, every send failing) is restricted, so the policy refuses its sends; it
    # must still get a way back: after the cool-down one send may test it (degraded).
    failed_at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    zombie = Signals("open", 200, consecutive_send_failures=12, last_send_failure_at=failed_at)
    assert assess(replace(zombie, now=failed_at + timedelta(minutes=5))).health == "restricted"
    probe = assess(replace(zombie, now=failed_at + PROBE_AFTER))
    assert probe.health == "degraded" and probe.health in SENDING_HEALTH
    assert probe.reason == "trying a send after many failures"
    # The probe failed: a new failure restricts it again for another cool-down.
    again = replace(
        zombie, consecutive_send_failures=13, last_send_failure_at=failed_at + PROBE_AFTER
    )
    assert assess(replace(again, now=failed_at + PROBE_AFTER + timedelta(minutes=1))).health == (
        "restricted"
    )
    # Banned numbers and operator quarantines are never probed by time.
    assert (
        assess(replace(zombie, state="close", reason_code=403, now=failed_at + PROBE_AFTER)).health
        == "banned"
    )
    assert (
        assess(replace(zombie, current="quarantined", now=failed_at + PROBE_AFTER)).health
        == "quarantined"
    )


@given(
    st.sampled_from(["open", "connecting", "close", "refused"]),
    st.one_of(st.none(), st.integers(0, 999)),
    st.booleans(),
)
def test_needs_pairing(state: str, code: int | None, current: bool) -> None:
    result = needs_pairing(state, code, current)
    if state == "open":
        assert result is False
    elif state in ("close", "refused") and (code in TERMINAL_CODES or state == "refused"):
        assert result is True
    else:
        assert result is current
