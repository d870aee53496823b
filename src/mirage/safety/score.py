"""The risk score of a number: a pure function of its signal timeline and ``now``.

Formula (docs/number-safety.md explains each figure and where it comes from)::

    risk(now) = min(100, round( Σ points(signal) × 2^(−age(signal) / half_life) ))

- ``points`` is what one signal adds (`POINTS`; baileys-antiban's weights where it has one:
  401 +60, 403 +40, the 463 time lock +25, 3 disconnects in an hour +30, 5 failed sends in an
  hour +20). A ban or a restriction (403/402) adds 100: the number is critical at once.
- every signal *decays*: it weighs half as much after each ``half_life`` (tenant setting,
  default 2 h), so a number that stops misbehaving drifts back to green on its own.
- signals older than `HORIZON` are ignored (Meta rates quality over 7 days).

0 means no known risk; 100 the most. The band (`mirage.policy.bands`) follows from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final


class SignalKind(StrEnum):
    """What a timeline entry records. The first group weighs on the score; the second are
    the actions taken (shown on the timeline, weightless)."""

    DISCONNECT = "disconnect"  # ``code``: Baileys' DisconnectReason
    SEND_FAILED = "send_failed"  # ``detail``: the error class
    NOT_ACKED = "not_acked"  # a claimed send never confirmed: no SERVER_ACK
    TIME_LOCK = "time_lock"  # 463: existing chats may reply, new contacts cannot
    OPT_OUT = "opt_out"  # a recipient asked this number to stop
    BLOCKED = "blocked"  # a recipient blocked or reported the number
    QR_LOOP = "qr_loop"  # the QR limit was reached: pairing loops without success
    UNANSWERED = "unanswered"  # outreach: many messages in a row since anyone last replied
    LOW_REPLIES = "low_replies"  # outreach: the week's reply ratio is under the floor
    LOW_DELIVERY = "low_delivery"  # too few of the recent sends reached the recipient's phone
    LOW_READS = "low_reads"  # too few of the recent delivered messages were read
    NEW_CONTACTS = "new_contacts"  # today's campaign sends to new contacts are over the stage's
    # Actions (weight 0):
    BAND_CHANGED = "band_changed"
    AUTO_PAUSED = "auto_paused"
    QUARANTINED = "quarantined"
    RELEASED = "released"
    RECOVERY = "recovery"  # a step of the recovery ladder (``detail``: restart, repair, dead)


SIGNAL_KINDS: Final = tuple(k.value for k in SignalKind)
ACTIONS: Final = frozenset(
    {
        SignalKind.BAND_CHANGED,
        SignalKind.AUTO_PAUSED,
        SignalKind.QUARANTINED,
        SignalKind.RELEASED,
        SignalKind.RECOVERY,
    }
)

#: Disconnect codes that mean WhatsApp restricted or banned the account (health.BANNED_CODES).
BAN_CODES: Final = frozenset({402, 403})
#: The reach-out time lock (Baileys reports it as error 463).
TIME_LOCK_CODE: Final = 463

POINTS: Final[dict[SignalKind, float]] = {
    SignalKind.DISCONNECT: 10.0,  # a transient close; 401/406 and bans below
    SignalKind.SEND_FAILED: 4.0,
    SignalKind.NOT_ACKED: 5.0,
    SignalKind.TIME_LOCK: 25.0,
    SignalKind.OPT_OUT: 8.0,
    SignalKind.BLOCKED: 15.0,
    SignalKind.QR_LOOP: 10.0,
    SignalKind.UNANSWERED: 20.0,
    SignalKind.LOW_REPLIES: 10.0,
    SignalKind.LOW_DELIVERY: 15.0,
    SignalKind.LOW_READS: 5.0,
    SignalKind.NEW_CONTACTS: 15.0,
}
#: Disconnect codes with a weight of their own.
DISCONNECT_POINTS: Final[dict[int, float]] = {
    401: 60.0,  # logged out from the phone
    402: 100.0,  # account restricted
    403: 100.0,  # forbidden: banned
    406: 40.0,  # session refused
    515: 0.0,  # restart required: normal right after pairing
    200: 0.0,
    1401: 0.0,  # an operator's own logout (instances.health.OPERATOR_LOGOUT) is no fault
}
HORIZON: Final = timedelta(days=7)

#: Outreach engagement (docs/number-safety.md): every ``UNANSWERED_STREAK`` campaign messages
#: a number sends in a row since anyone last replied to it, one ``unanswered`` signal —
#: WhatsApp caps messages to people who have not replied (TechCrunch, Oct 2025) and its 463
#: reach-out time lock follows such runs; 20 points puts a green number in yellow, where new
#: contacts are limited, until replies come back or the signal decays.
UNANSWERED_STREAK: Final = 20
#: Every ``LOW_REPLY_EVERY`` campaign messages of the week while fewer than ``LOW_REPLY_RATIO``
#: of them were answered, one ``low_replies`` signal (baileys-antiban's reply-ratio floor of
#: 10%; Whapi advises keeping it over 30%). Below ``LOW_REPLY_EVERY`` sends a ratio means little.
LOW_REPLY_RATIO: Final = 0.10
LOW_REPLY_EVERY: Final = 30
ENGAGEMENT_WINDOW: Final = timedelta(days=7)

#: Delivery and read ratios (docs/number-safety.md): a number's sends of the last
#: ``RATIO_WINDOW`` that are old enough to have been acknowledged — ``DELIVERY_SETTLE`` for a
#: delivery receipt (the health verdict's own wait), ``READ_SETTLE`` for a read one (people read
#: later than their phone receives). Under ``MIN_ACK_SAMPLE`` messages a ratio means little (the
#: health verdict's sample too).
RATIO_WINDOW: Final = timedelta(hours=24)
DELIVERY_SETTLE: Final = timedelta(minutes=10)
READ_SETTLE: Final = timedelta(hours=1)
MIN_ACK_SAMPLE: Final = 20
#: Under 80% delivered: where the health verdict already calls the rate low; vendors call
#: 95–99% healthy and see throttling under 90%.
LOW_DELIVERY_PCT: Final = 80
#: Under 30% of the delivered read: healthy opt-in sends are read 65–90% (38% at blast scale),
#: and 15–20% of people turn read receipts off — so a low figure is a weak sign (few points).
LOW_READ_PCT: Final = 30

#: New contacts a day: a quarter of what the warm-up ramp lets the number send today (its
#: stage and age, halved in a risky band) — 5 at the first step (baileys-antiban's "≤ 5
#: strangers a day"), 250 at the last (Meta's first tier: 250 new people a day).
NEW_CONTACT_SHARE: Final = 4

#: Signals that sum up many sends rather than report an event: they move the band but never
#: count as a sudden jump of the score (the automatic pause's rule).
GRADUAL: Final = frozenset(
    {
        SignalKind.UNANSWERED,
        SignalKind.LOW_REPLIES,
        SignalKind.LOW_DELIVERY,
        SignalKind.LOW_READS,
        SignalKind.NEW_CONTACTS,
    }
)
DEFAULT_HALF_LIFE: Final = timedelta(hours=2)


@dataclass(frozen=True)
class Signal:
    """One timeline entry as the score needs it."""

    kind: str
    at: datetime
    code: int | None = None


def points(kind: str, code: int | None = None) -> float:
    """What one signal adds to the score before decay (0 for actions and unknown kinds)."""
    try:
        k = SignalKind(kind)
    except ValueError:
        return 0.0
    if k == SignalKind.DISCONNECT and code is not None and code in DISCONNECT_POINTS:
        return DISCONNECT_POINTS[code]
    return POINTS.get(k, 0.0)


def outreach_signals(
    streak: int, sent: int, replied: int
) -> list[tuple[SignalKind, dict[str, int]]]:
    """The engagement signals owed right after a campaign message was sent, with their
    figures. ``streak``: the number's campaign messages sent since anyone last replied to it
    (this one included); ``sent`` / ``replied``: its campaign messages of the last
    ``ENGAGEMENT_WINDOW`` and how many were answered. Each signal is owed at a multiple of its
    count, so a long run adds one every so many sends, never one per send."""
    found: list[tuple[SignalKind, dict[str, int]]] = []
    if streak >= UNANSWERED_STREAK and streak % UNANSWERED_STREAK == 0:
        found.append((SignalKind.UNANSWERED, {"count": streak}))
    if sent >= LOW_REPLY_EVERY and sent % LOW_REPLY_EVERY == 0 and replied < LOW_REPLY_RATIO * sent:
        found.append((SignalKind.LOW_REPLIES, {"replied": replied, "sent": sent}))
    return found


@dataclass(frozen=True)
class AckSample:
    """A number's settled sends over a sample: how many, how many reached the phone
    (DELIVERY_ACK, READ or PLAYED) and, of those, how many were read (READ or PLAYED)."""

    sent: int
    delivered: int
    read: int = 0


def sample_start(now: datetime, last_signal: datetime | None, settle: timedelta) -> datetime:
    """Where a ratio's sample begins: the window's start, or — after a signal of its kind —
    just past the sends that signal judged (those settled when it was written). Each signal so
    judges fresh sends only: a long bad run owes one per ``MIN_ACK_SAMPLE`` new sends, never
    one per look at the same ones."""
    start = now - RATIO_WINDOW
    if last_signal is None:
        return start
    return max(start, last_signal - settle)


def ack_signals(delivery: AckSample, reads: AckSample) -> list[tuple[SignalKind, dict[str, int]]]:
    """The ratio signals owed by a number's samples, with their figures: ``delivery`` judges
    ``delivered / sent``, ``reads`` judges ``read / delivered`` (its own, later-settled sample).
    Integer arithmetic: exactly at a floor is not under it."""
    found: list[tuple[SignalKind, dict[str, int]]] = []
    if delivery.sent >= MIN_ACK_SAMPLE and delivery.delivered * 100 < LOW_DELIVERY_PCT * (
        delivery.sent
    ):
        found.append(
            (SignalKind.LOW_DELIVERY, {"delivered": delivery.delivered, "sent": delivery.sent})
        )
    if reads.delivered >= MIN_ACK_SAMPLE and reads.read * 100 < LOW_READ_PCT * reads.delivered:
        found.append((SignalKind.LOW_READS, {"read": reads.read, "delivered": reads.delivered}))
    return found


def new_contact_allowance(warmup_cap: int) -> int:
    """Campaign sends to new contacts a number may make today before it owes a
    ``new_contacts`` signal: a ``NEW_CONTACT_SHARE``th of its warm-up cap (at least 1; 0 for a
    number that may send nothing)."""
    if warmup_cap <= 0:
        return 0
    return max(1, warmup_cap // NEW_CONTACT_SHARE)


def new_contacts_signal(count: int, allowance: int, signalled_today: bool) -> dict[str, int] | None:
    """The figures of the ``new_contacts`` signal owed, if any: once a day at most, when the
    day's campaign sends (``count``) went over ``allowance``; none for a number that may send
    nothing (the policy already stops it)."""
    if signalled_today or allowance <= 0 or count <= allowance:
        return None
    return {"count": count, "allowance": allowance}


def risk_score(
    signals: Iterable[Signal], now: datetime, half_life: timedelta = DEFAULT_HALF_LIFE
) -> int:
    """The risk at ``now`` (0–100). Signals after ``now`` or past the horizon do not count."""
    if half_life <= timedelta(0):
        raise ValueError("half_life must be positive")
    total = 0.0
    for s in signals:
        age = now - s.at
        if age < timedelta(0) or age > HORIZON:
            continue
        total += points(s.kind, s.code) * 0.5 ** (age / half_life)
    return min(100, round(total))


def series(
    signals: Sequence[Signal],
    now: datetime,
    *,
    span: timedelta = timedelta(hours=24),
    steps: int = 48,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[tuple[datetime, int]]:
    """The score at ``steps + 1`` evenly spaced instants ending at ``now`` (the chart)."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    return [
        (at, risk_score(signals, at, half_life))
        for at in (now - span + span * i / steps for i in range(steps + 1))
    ]
