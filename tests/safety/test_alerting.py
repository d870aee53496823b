"""The alert rules, without a database: one open alert per number and kind, the worst band
kept, resolved when the number is back in green or yellow (or released); the signature a
webhook receiver checks."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from mirage.models.safety import ALERT_KINDS, DELIVERY_CHANNELS, DELIVERY_EVENTS
from mirage.policy import BANDS, Band
from mirage.safety.alerting import (
    ALERT_BANDS,
    AlertKind,
    Channel,
    Event,
    Notice,
    Step,
    band_step,
    quarantine_step,
    signature,
    valid_signature,
    worse,
)


def test_entering_a_risky_band_opens_an_alert_and_green_or_yellow_resolves_it() -> None:
    for band in (Band.ORANGE, Band.RED, Band.CRITICAL):
        assert band_step(None, band) == Step.OPEN
    for band in (Band.GREEN, Band.YELLOW):
        assert band_step(None, band) == Step.NOTHING
        assert band_step("red", band) == Step.RESOLVE


def test_flapping_between_red_and_orange_raises_nothing_new_and_keeps_the_worst() -> None:
    assert band_step("red", Band.ORANGE) == Step.NOTHING
    assert band_step("orange", Band.RED) == Step.WORSEN
    assert band_step("red", Band.CRITICAL) == Step.WORSEN
    assert band_step("critical", Band.RED) == Step.NOTHING


def _replay(bands: list[Band]) -> tuple[int, int, list[str | None]]:
    """Opened and resolved notifications, and each alert's worst band, over a band series."""
    opened = resolved = 0
    open_band: str | None = None
    worst: list[str | None] = []
    for band in bands:
        step = band_step(open_band, band)
        if step == Step.OPEN:
            opened += 1
            open_band = band.value
            worst.append(open_band)
        elif step == Step.WORSEN:
            open_band = band.value
            worst[-1] = open_band
        elif step == Step.RESOLVE:
            resolved += 1
            open_band = None
    return opened, resolved, worst


def test_a_series_of_signals_gives_one_alert_per_risky_stretch() -> None:
    series = [Band.GREEN, Band.ORANGE, Band.RED, Band.ORANGE, Band.RED, Band.ORANGE]
    series += [Band.YELLOW, Band.YELLOW, Band.ORANGE, Band.GREEN]
    assert _replay(series) == (2, 2, ["red", "orange"])


@given(st.lists(st.sampled_from(BANDS), max_size=40))
def test_alerts_match_the_risky_stretches_of_any_series(bands: list[Band]) -> None:
    opened, resolved, worst = _replay(bands)
    stretches: list[list[Band]] = []
    inside = False
    for band in bands:
        if band in ALERT_BANDS:
            if not inside:
                stretches.append([])
            stretches[-1].append(band)
        inside = band in ALERT_BANDS
    assert opened == len(stretches)
    # Resolved once per stretch that ended (the last one may still be open).
    assert resolved == opened - (1 if bands and bands[-1] in ALERT_BANDS else 0)
    assert worst == [max(s, key=BANDS.index).value for s in stretches]


def test_quarantine_opens_once_and_release_resolves() -> None:
    assert quarantine_step(False, True) == Step.OPEN
    assert quarantine_step(True, True) == Step.NOTHING
    assert quarantine_step(True, False) == Step.RESOLVE
    assert quarantine_step(False, False) == Step.NOTHING


def test_band_order() -> None:
    assert worse("critical", "red") and worse(Band.RED, Band.ORANGE)
    assert not worse("orange", "orange") and not worse("yellow", "orange")


def test_the_models_spell_the_same_kinds_events_and_channels() -> None:
    assert set(ALERT_KINDS) == {k.value for k in AlertKind}
    assert set(DELIVERY_EVENTS) == {e.value for e in Event}
    assert set(DELIVERY_CHANNELS) == {c.value for c in Channel}


def test_the_payload_and_its_signature() -> None:
    at = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    notice = Notice(
        alert_id="a1",
        event=Event.OPENED,
        kind=AlertKind.RISK_BAND,
        band="red",
        number_id="n1",
        number_name="Vendas 1",
        reason="risk score 60",
        opened_at=at,
        resolved_at=None,
        sent_at=at,
    )
    payload = notice.payload()
    assert payload["event"] == "opened" and payload["state"] == "open"
    assert payload["number"] == {"id": "n1", "name": "Vendas 1"}
    assert payload["opened_at"] == "2026-11-30T18:00:00+00:00" and payload["resolved_at"] is None
    body = notice.body()
    # Known answer: HMAC-SHA256 of the body's exact bytes.
    import hashlib
    import hmac

    expected = hmac.new(b"s" * 16, body, hashlib.sha256).hexdigest()
    assert signature("s" * 16, body) == f"sha256={expected}"
    assert valid_signature("s" * 16, body, f"sha256={expected}")
    assert not valid_signature("t" * 16, body, f"sha256={expected}")
    assert not valid_signature("s" * 16, body + b" ", f"sha256={expected}")
    assert not valid_signature("s" * 16, body, None)
