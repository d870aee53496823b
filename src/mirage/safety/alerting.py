"""When a number's safety raises, keeps or resolves an alert: pure rules, tested without a
database (tests/safety/test_alerting.py), and the signed payload the alert targets receive.

An alert is open while the number is in the orange, red or critical band (kind
``risk_band``), or quarantined (kind ``quarantine``). One open alert per number and kind: a
number that flaps between red and orange while its alert is open raises nothing new — the
alert keeps the worst band it saw. Back in green or yellow (or released) it is resolved; a
later return to orange opens a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from mirage.policy import BANDS, Band
from mirage.safety import reasons


class AlertKind(StrEnum):
    RISK_BAND = "risk_band"
    QUARANTINE = "quarantine"
    TEST = "test"


class Event(StrEnum):
    OPENED = "opened"
    RESOLVED = "resolved"
    TEST = "test"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


#: The bands that raise an alert (those that refuse campaign sends).
ALERT_BANDS: Final = frozenset({Band.ORANGE, Band.RED, Band.CRITICAL})


class Step(StrEnum):
    """What a band change does to the number's ``risk_band`` alert."""

    NOTHING = "nothing"
    OPEN = "open"
    WORSEN = "worsen"  # still open, a worse band than it had seen (no new notification)
    RESOLVE = "resolve"


def worse(a: str | Band, b: str | Band) -> bool:
    """Whether band ``a`` is worse than band ``b``."""
    return BANDS.index(Band(a)) > BANDS.index(Band(b))


def band_step(open_band: str | None, band: Band) -> Step:
    """What the number's band (``band``, now) does, given its open alert's worst band
    (``open_band``; None: no open alert)."""
    if band in ALERT_BANDS:
        if open_band is None:
            return Step.OPEN
        return Step.WORSEN if worse(band, open_band) else Step.NOTHING
    return Step.NOTHING if open_band is None else Step.RESOLVE


def quarantine_step(is_open: bool, quarantined: bool) -> Step:
    """What the number's quarantine state does to its ``quarantine`` alert."""
    if quarantined:
        return Step.NOTHING if is_open else Step.OPEN
    return Step.RESOLVE if is_open else Step.NOTHING


# --- what the targets receive ---------------------------------------------------------------

SIGNATURE_HEADER: Final = "X-Mirage-Signature"
EVENT_HEADER: Final = "X-Mirage-Event"


@dataclass(frozen=True)
class Notice:
    """One notification of an alert (opened, resolved or a test), as every target gets it."""

    alert_id: str
    event: Event
    kind: AlertKind
    band: str | None
    number_id: str | None
    number_name: str | None
    reason: str | None
    opened_at: datetime
    resolved_at: datetime | None
    sent_at: datetime
    resolved_reason: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "event": self.event.value,
            "kind": self.kind.value,
            "band": self.band,
            "number": {"id": self.number_id, "name": self.number_name},
            # The reasons are stored as codes (safety.reasons): receivers get the English
            # text and the stable code, as the API gives them.
            "reason": reasons.english(self.reason),
            "reason_code": reasons.code_of(self.reason),
            "state": "resolved" if self.resolved_at is not None else "open",
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_reason": reasons.english(self.resolved_reason) if self.resolved_at else None,
            "sent_at": self.sent_at.isoformat(),
        }

    def body(self) -> bytes:
        """The JSON body posted to the webhook (the bytes that are signed)."""
        return json.dumps(self.payload(), ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """The ``X-Mirage-Signature`` header's value: ``sha256=`` and the hex HMAC-SHA256 of the
    body under the tenant's webhook secret (a receiver recomputes it and compares in
    constant time)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def valid_signature(secret: str, body: bytes, header: str | None) -> bool:
    """How a receiver checks a notification (used by the tests; documented for receivers)."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)
