"""The network's data model: simulated durations, Evolution constants and the records.

Plain data only: instances and their QR sessions, accounts (handsets and external contacts),
messages in flight and each instance's stored copy. Behaviour lives in the sibling modules.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mirage.simulator import jids
from mirage.simulator.degradation import Degradation
from mirage.simulator.network.faults import RequestFaults
from mirage.simulator.qr import qr_data_url
from mirage.simulator.scheduler import Timer
from mirage.simulator.webhooks import WebhookConfig

# Simulated durations in seconds, multiplied by ``SimulatorConfig.time_scale``.
CREATE_QR_WAIT_S = 5.0  # create(qrcode=true) waits for the first QR (reference §3.1)
CONNECT_QR_WAIT_S = 2.0  # connect on a closed instance waits ~2 s
PAIRING_RESTART_S = 0.5  # the 515 restart right after pairing, then open
RECONNECT_S = 3.0  # silent reconnect after a transient drop
SERVER_ACK_S = 0.3
DELIVERY_ACK_S = 1.0
READ_S = 4.0
REPLY_S = 8.0

# Baileys DisconnectReason codes after which Evolution does not reconnect (reference §5.5).
TERMINAL_CODES = frozenset({401, 402, 403, 406})
STATUS_RANK = {"ERROR": 0, "PENDING": 1, "SERVER_ACK": 2, "DELIVERY_ACK": 3, "READ": 4, "PLAYED": 5}
PRESENCES = ("unavailable", "available", "composing", "recording", "paused")
INTEGRATION = "WHATSAPP-BAILEYS"
DEFAULT_SETTINGS: dict[str, Any] = {
    "rejectCall": False,
    "msgCall": "",
    "groupsIgnore": False,
    "alwaysOnline": False,
    "readMessages": False,
    "readStatus": False,
    "syncFullHistory": False,
}


def iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class Contact:
    """How a simulated external person behaves when messaged."""

    behavior: str = "ignore"  # reply | ignore | optout | block
    reads: bool = True
    exists: bool = True
    lid_addressing: bool = False  # their messages arrive as ``NNN@lid`` + ``remoteJidAlt``
    reply_text: str | None = None
    optout_text: str = "PARAR"
    reply_delay_s: float | None = None
    device: str = "android"
    implicit: bool = False  # created on first contact with an unconfigured number
    opted_out: bool = False
    received: int = 0
    # Profiles (network/profiles.py): a reply only sometimes, after a human delay; the
    # senders this person blocked (their messages stay at one tick).
    reply_probability: float = 1.0
    human_delay: bool = False
    profile: str | None = None
    blocked: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Account:
    """A WhatsApp account on the network: an instance's handset or an external contact."""

    number: str
    lid: str
    name: str
    instance: str | None = None
    contact: Contact | None = None
    banned: bool = False

    @property
    def jid(self) -> str:
        return jids.user_jid(self.number)


@dataclass(slots=True)
class NetMessage:
    """A message in flight on the network; both sides' rows refer to it by ``key_id``."""

    key_id: str
    from_number: str
    to_number: str
    text: str
    timestamp: int
    status: str = "PENDING"
    sender_row: StoredMessage | None = None
    receiver_row: StoredMessage | None = None


@dataclass(slots=True)
class StoredMessage:
    """One instance's copy of a message (Prisma ``Message`` row)."""

    row_id: str
    key_id: str
    remote_jid: str
    from_me: bool
    text: str
    timestamp: int
    status: str
    instance: str


@dataclass(slots=True)
class QRSession:
    count: int = 0
    code: str | None = None
    pairing_code: str | None = None
    timer: Timer | None = None
    png: tuple[str, str] | None = None  # (code, data URL) cache: rendering costs ~10 ms
    # The last QR event being rendered: each waits for the one before, so every code of the
    # session is announced, in the order it was shown.
    emitting: asyncio.Task[None] | None = None
    refused: bool = False  # ended by the QR limit (not by a scan): its codes still go out

    def payload(self) -> dict[str, Any]:
        if self.code is None:
            return {"count": self.count}
        if self.png is None or self.png[0] != self.code:
            self.png = (self.code, qr_data_url(self.code))
        return {
            "pairingCode": self.pairing_code,
            "code": self.code,
            "base64": self.png[1],
            "count": self.count,
        }


@dataclass(slots=True)
class Instance:
    name: str
    id: str
    token: str
    created_at: str
    updated_at: str
    webhook: WebhookConfig | None = None
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    state: str = "close"
    paired: bool = False  # a WhatsApp session exists (open, or reconnecting after a drop)
    number: str | None = None  # the handset; kept after logout so a re-scan is the same phone
    profile_name: str | None = None
    pairing_number: str | None = None
    sender_jid: str | None = None  # envelopes carry ``sender`` only after the first open
    qr: QRSession = field(default_factory=QRSession)
    link_timer: Timer | None = None
    zombie: bool = False  # "open" but the socket is dead: sends fail (reference §6.2)
    auto_read: bool = True  # the person holding the handset reads incoming messages
    device: str = "android"
    presence: str = "available"
    faults: RequestFaults | None = None
    # Degradation when it writes to too many strangers (mirage.simulator.degradation).
    degradation: Degradation | None = None
    disconnection_reason_code: int | None = None
    disconnection_at: str | None = None
    disconnection_object: str | None = None
    pending: deque[tuple[str, Any]] = field(default_factory=deque)
    messages: OrderedDict[str, StoredMessage] = field(default_factory=OrderedDict)
    peers: set[str] = field(default_factory=set)

    @property
    def owner_jid(self) -> str | None:
        return jids.user_jid(self.number) if self.number else None

    @property
    def can_send(self) -> bool:
        return self.state == "open" and not self.zombie

    def picture_url(self, base_url: str) -> str | None:
        return f"{base_url}/_sim/avatars/{self.number}.png" if self.number else None
