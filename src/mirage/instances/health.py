"""The health verdict of a number: a pure function of the signals the gateway gives us.

Verdicts, worst last: healthy < degraded < restricted < banned (quarantined is set by the
operator or the risk budget and is never cleared here).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mirage.kit.i18n import N_
from mirage.policy import Health
from mirage.providers.models import ConnectionState

# Baileys' DisconnectReason codes Evolution treats as terminal: no silent reconnect, the
# number must be paired again (reference/evolution-api.md §5.5).
TERMINAL_CODES = frozenset({401, 402, 403, 406})
BANNED_CODES = frozenset({402, 403})
# Mirage's own code (not Baileys'): the number was logged out by an operator (the dashboard's
# or the API's "log out"). The gateway reports it as a 401 like a logout from the phone, but
# it is no fault: health is not degraded, and the row says who did it. Pairing again (a QR)
# is still what reconnects it.
OPERATOR_LOGOUT = 1401

# Human words for disconnect codes (translated in the dashboard).
REASONS: dict[int, str] = {
    200: N_("connected normally"),
    401: N_("logged out from the phone: needs re-pairing"),
    402: N_("account restricted by WhatsApp: needs re-pairing"),
    403: N_("number blocked by WhatsApp: needs re-pairing"),
    406: N_("session refused by WhatsApp: needs re-pairing"),
    408: N_("connection lost or timed out"),
    411: N_("multi-device mismatch"),
    428: N_("connection closed"),
    440: N_("session replaced by another device"),
    500: N_("corrupted session"),
    503: N_("WhatsApp service unavailable"),
    515: N_("restart required (normal right after pairing)"),
    OPERATOR_LOGOUT: N_("logged out by an operator"),
}

DEGRADED_FAILURES = 3
RESTRICTED_FAILURES = 10
# A number restricted by its own send failures is given a probe after this long without a new
# failure: "degraded" lets the policy try one send (at halved caps). A success clears the
# failures; a failure restricts it again for another cool-down. Without this, a number whose
# sends all failed could never send again to prove it recovered (the policy refuses sends
# from a restricted number), so it stayed restricted for good.
PROBE_AFTER = timedelta(minutes=30)
MIN_ACK_SAMPLE = 20


def reason_words(code: int | None) -> str | None:
    if code is None:
        return None
    return REASONS.get(code, N_("disconnected (code %(code)s)"))


@dataclass(frozen=True)
class Signals:
    state: str  # open / connecting / close / refused / unknown
    reason_code: int | None
    consecutive_send_failures: int = 0
    sent_sample: int = 0  # outbound messages old enough to have been delivered
    delivered_sample: int = 0  # of those, how many reached DELIVERY_ACK or better
    current: str = Health.HEALTHY
    last_send_failure_at: datetime | None = None
    now: datetime | None = None  # with the above: has the failures' cool-down passed?

    @property
    def probing(self) -> bool:
        """Restricted by send failures long enough ago that one send may test the number."""
        if self.last_send_failure_at is None or self.now is None:
            return False
        return self.now - self.last_send_failure_at >= PROBE_AFTER


@dataclass(frozen=True)
class Verdict:
    health: Health
    reason: str | None


def assess(s: Signals) -> Verdict:
    if s.current == Health.QUARANTINED:
        return Verdict(Health.QUARANTINED, N_("quarantined by an operator"))
    closed = s.state in (ConnectionState.CLOSE, ConnectionState.REFUSED)
    if closed and s.reason_code in BANNED_CODES:
        return Verdict(Health.BANNED, reason_words(s.reason_code))
    if s.consecutive_send_failures >= RESTRICTED_FAILURES and not s.probing:
        return Verdict(Health.RESTRICTED, N_("many consecutive send failures"))
    if s.sent_sample >= MIN_ACK_SAMPLE:
        ratio = s.delivered_sample / s.sent_sample
        if ratio < 0.5:
            return Verdict(Health.RESTRICTED, N_("most recent messages were not delivered"))
        if ratio < 0.8:
            return Verdict(Health.DEGRADED, N_("low delivery rate"))
    if s.consecutive_send_failures >= RESTRICTED_FAILURES:  # the cool-down has passed
        return Verdict(Health.DEGRADED, N_("trying a send after many failures"))
    if s.state == ConnectionState.OPEN and s.consecutive_send_failures >= DEGRADED_FAILURES:
        return Verdict(Health.DEGRADED, N_("connected but cannot send"))
    if s.consecutive_send_failures >= DEGRADED_FAILURES:
        return Verdict(Health.DEGRADED, N_("recent send failures"))
    if closed and s.reason_code in TERMINAL_CODES:
        return Verdict(Health.DEGRADED, reason_words(s.reason_code))
    return Verdict(Health.HEALTHY, None)


def needs_pairing(state: str, reason_code: int | None, current: bool) -> bool:
    """A terminal close (or a refused QR session) needs a new pairing; open clears it."""
    if state == ConnectionState.OPEN:
        return False
    closed = state in (ConnectionState.CLOSE, ConnectionState.REFUSED)
    if closed and (reason_code in TERMINAL_CODES or state == ConnectionState.REFUSED):
        return True
    if closed and reason_code == OPERATOR_LOGOUT:
        return True
    return current


def keeps_operator_logout(
    current_state: str, current_reason: int | None, update: int | None
) -> bool:
    """The gateway's own report of an operator's logout (a close 401, by webhook or from
    reconciliation, before or after ours) does not turn it into a logout from the phone."""
    return (
        current_state == ConnectionState.CLOSE
        and current_reason == OPERATOR_LOGOUT
        and update in (401, OPERATOR_LOGOUT)
    )
