"""The simulated WhatsApp network behind the Evolution-compatible API.

Everything lives in memory. Instances follow Evolution's state machine (close → connecting with
rotating QR codes → open; transient drops reconnect silently, terminal ones need a new QR).
Messages travel between accounts (instances' handsets and external contacts) and produce the
webhooks Evolution would send: ``send.message`` and ``messages.update`` acks on the sender,
``messages.upsert`` on the receiver. All "later" work goes through one ``Scheduler``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import secrets
import string
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from mirage.simulator import jids
from mirage.simulator.config import SimulatorConfig
from mirage.simulator.errors import (
    SimError,
    boom_connection_closed,
    connection_closed,
)
from mirage.simulator.qr import new_pairing_code, new_qr_code, qr_data_url
from mirage.simulator.scheduler import Scheduler, Timer
from mirage.simulator.webhooks import WebhookConfig, WebhookDispatcher

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
DEFAULT_REPLIES = (
    "Oi! Tudo bem?",
    "Obrigado pela mensagem 🙂",
    "Pode me contar mais?",
    "Agora não consigo falar, depois te respondo.",
    "Beleza, combinado!",
    "👍",
)
_DDDS = ("11", "21", "27", "41", "51", "61", "71", "81", "85", "19")
_CUID_ALPHABET = string.ascii_lowercase + string.digits
_INSTANCE_SCOPES = frozenset({"instance", "message", "chat", "webhook", "settings"})


def iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def device_of(key_id: str) -> str:
    """Baileys' ``getDevice``: the message id's shape tells which client wrote it."""
    if key_id.startswith("3A") and len(key_id) == 20:
        return "ios"
    if key_id.startswith("3E") and len(key_id) == 22:
        return "web"
    if len(key_id) in (21, 32):
        return "android"
    if key_id.startswith("3F") or len(key_id) == 18:
        return "desktop"
    return "unknown"


@dataclass(slots=True)
class RequestFaults:
    """HTTP-side fault injection for the Evolution namespace (global or per instance)."""

    latency_ms: float = 0.0  # added before the request is handled
    spike_rate: float = 0.0  # probability of a latency spike…
    spike_ms: float = 0.0  # …held AFTER the handler ran: the work is done, the answer is late
    error_rate: float = 0.0  # probability of answering ``error_status`` instead
    error_status: int = 500
    error_mode: str = "mixed"  # before (nothing happened) | after (it happened) | mixed

    def active(self) -> bool:
        return bool(self.latency_ms or self.spike_rate or self.error_rate)

    def as_json(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "spikeRate": self.spike_rate,
            "spikeMs": self.spike_ms,
            "errorRate": self.error_rate,
            "errorStatus": self.error_status,
            "errorMode": self.error_mode,
        }


@dataclass(slots=True)
class FaultPlan:
    latency_s: float = 0.0
    spike_s: float = 0.0
    error_status: int | None = None
    error_after: bool = False


@dataclass(slots=True)
class Contact:
    """How a simulated external person behaves when messaged."""

    behavior: str = "ignore"  # reply | ignore | optout
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


class Network:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.scheduler = Scheduler()
        self.webhooks = WebhookDispatcher(lambda: self.config, self.scheduler, self.rng)
        self.faults = RequestFaults()
        self.instances: dict[str, Instance] = {}
        self.accounts: dict[str, Account] = {}
        self.lids: dict[str, Account] = {}
        self.net_messages: OrderedDict[str, NetMessage] = OrderedDict()
        self.message_log: deque[dict[str, Any]] = deque(maxlen=config.max_log_entries)
        self.requests: Counter[str] = Counter()
        self._row_ids = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle

    async def reset(self) -> None:
        await self.scheduler.cancel_all()
        self.rng.seed(self.config.seed)
        self.webhooks.reset()
        self.faults = RequestFaults()
        self.instances.clear()
        self.accounts.clear()
        self.lids.clear()
        self.net_messages.clear()
        self.message_log = deque(maxlen=self.config.max_log_entries)
        self.requests.clear()

    async def aclose(self) -> None:
        await self.scheduler.aclose()
        await self.webhooks.aclose()

    # ------------------------------------------------------------------ ids and helpers

    def _scaled(self, seconds: float) -> float:
        return seconds * self.config.time_scale

    def _after(self, seconds: float, fn: Callable[[], Any], *, scaled: bool = True) -> Timer | None:
        """Run ``fn`` after a simulated delay; a zero delay runs it now, keeping order exact."""
        delay = self._scaled(seconds) if scaled else seconds
        if delay <= 0:
            fn()
            return None
        return self.scheduler.call_later(delay, fn)

    def _uuid(self) -> str:
        if self.config.seed is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _cuid(self) -> str:
        # Prisma's cuid()-shaped row ids ("clx…"), unique thanks to the counter.
        tail = "".join(self.rng.choice(_CUID_ALPHABET) for _ in range(17))
        return f"cm{next(self._row_ids):06x}{tail}"[:25]

    def _hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789ABCDEF") for _ in range(n))

    def _key_id(self, device: str) -> str:
        if device == "web":  # what Baileys' generateMessageIDV2 gives API sends
            return "3EB0" + self._hex(18)
        if device == "ios":
            return "3A" + self._hex(18)
        return self._hex(32)

    def _new_token(self) -> str:
        if self.config.seed is None:
            return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)).upper()
        return self._uuid().upper()

    def _allocate_number(self) -> str:
        while True:
            number = "55" + self.rng.choice(_DDDS) + "9" + f"{self.rng.randrange(10**8):08d}"
            if not any(v in self.accounts for v in jids.br_variants(number)):
                return number

    def _allocate_lid(self) -> str:
        while True:
            lid = str(self.rng.randrange(10**14, 10**15))
            if lid not in self.lids:
                return lid

    def _account(self, number: str, name: str | None = None) -> Account:
        acct = self.accounts.get(number)
        if acct is None:
            acct = Account(number=number, lid=self._allocate_lid(), name=name or f"+{number}")
            self.accounts[number] = acct
            self.lids[acct.lid] = acct
        elif name:
            acct.name = name
        return acct

    def lookup(self, raw: str, *, create_implicit: bool = False) -> Account | None:
        """The existence check: which account a number or JID reaches, if any."""
        jid = jids.create_jid(raw)
        if jids.is_lid_jid(jid):
            acct = self.lids.get(jids.user_part(jid))
        elif jids.is_user_jid(jid):
            user = jids.user_part(jid)
            acct = next(
                (self.accounts[v] for v in jids.br_variants(user) if v in self.accounts), None
            )
            if acct is None and self.config.unknown_numbers_exist and 10 <= len(user) <= 15:
                if not create_implicit:
                    return Account(number=user, lid="", name=f"+{user}")
                acct = self._account(user)
                acct.contact = Contact(implicit=True)
        else:
            return None  # groups and broadcasts are not simulated
        if acct is None or acct.banned or (acct.contact is not None and not acct.contact.exists):
            return None
        if acct.instance is None and acct.contact is None:
            # A handset whose instance was deleted: the phone still exists on WhatsApp.
            acct.contact = Contact(implicit=True)
        return acct

    # ------------------------------------------------------------------ webhooks

    def _emit(self, inst: Instance, event: str, data: Any) -> None:
        self.webhooks.emit(
            instance=inst.name,
            token=inst.token,
            webhook=inst.webhook,
            sender=inst.sender_jid,
            event=event,
            data=data,
        )

    def _to_device(self, inst: Instance, event: str, data: Any) -> None:
        """Events that reach Evolution only through a live socket wait while it is down."""
        if inst.can_send:
            self._emit(inst, event, data)
            return
        if len(inst.pending) >= self.config.max_messages_per_instance:
            inst.pending.popleft()
        inst.pending.append((event, data))

    def _flush_pending(self, inst: Instance) -> None:
        while inst.pending and inst.can_send:
            event, data = inst.pending.popleft()
            self._emit(inst, event, data)

    # ------------------------------------------------------------------ instance lifecycle

    def get(self, name: str) -> Instance | None:
        return self.instances.get(name)

    def create_instance(
        self,
        *,
        name: str,
        token: str | None,
        webhook: dict[str, Any] | None,
        settings: dict[str, Any],
        number: str | None,
    ) -> Instance:
        now = iso_now()
        inst = Instance(
            name=name,
            id=self._uuid(),
            token=token or self._new_token(),
            created_at=now,
            updated_at=now,
            pairing_number=jids.digits(number) if number else None,
        )
        inst.settings.update(settings)
        if webhook is not None:
            inst.webhook = self._webhook_row(inst, webhook, enabled=True)
        self.instances[name] = inst
        self._emit(inst, "instance.create", {"instanceName": inst.name, "instanceId": inst.id})
        return inst

    def _webhook_row(self, inst: Instance, spec: dict[str, Any], *, enabled: bool) -> WebhookConfig:
        now = iso_now()
        previous = inst.webhook
        return WebhookConfig(
            id=previous.id if previous else self._cuid(),
            instance_id=inst.id,
            url=str(spec.get("url") or ""),
            enabled=enabled,
            events=list(spec.get("events") or []) if enabled else [],
            by_events=bool(spec.get("byEvents", False)),
            base64=bool(spec.get("base64", False)),
            headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
            created_at=previous.created_at if previous else now,
            updated_at=now,
        )

    def set_webhook(self, inst: Instance, spec: dict[str, Any]) -> WebhookConfig:
        inst.webhook = self._webhook_row(inst, spec, enabled=bool(spec.get("enabled")))
        return inst.webhook

    async def connect(self, inst: Instance, number: str | None, *, wait_s: float) -> dict[str, Any]:
        if inst.state == "open":
            return self.state_payload(inst)
        if number:
            inst.pairing_number = jids.digits(number)
            inst.qr.pairing_code = new_pairing_code(self.rng)
        if inst.state == "close":
            self.start_pairing(inst)
            delay = self._scaled(wait_s)
            if delay > 0:
                await asyncio.sleep(delay)  # Evolution waits for the socket to produce a QR
            if inst.state == "open":
                return self.state_payload(inst)
        return inst.qr.payload()

    def start_pairing(self, inst: Instance) -> None:
        """close → connecting: the socket starts and shows its first QR (rendered lazily)."""
        inst.state = "connecting"
        inst.qr.count = 0
        self._emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "connecting", "statusReason": 200},
        )
        self._next_qr(inst)

    def _next_qr(self, inst: Instance) -> None:
        """A QR rotation (Baileys qrTimeout); at QRCODE_LIMIT the session is refused."""
        if inst.state != "connecting" or inst.paired:
            return
        if inst.qr.count >= self.config.qr_limit:
            self._refuse(inst)
            return
        inst.qr.count += 1
        inst.qr.code = new_qr_code(self.rng)
        inst.qr.png = None
        if inst.webhook is not None and inst.webhook.wants("qrcode.updated"):
            self.scheduler.spawn(self._emit_qr(inst, inst.qr.code))
        inst.qr.timer = self.scheduler.call_later(
            self.config.qr_interval_s, lambda: self._next_qr(inst)
        )

    async def _emit_qr(self, inst: Instance, code: str) -> None:
        # Render off the event loop: a PNG costs ~3 ms and a fleet rotates many per second.
        data_url = await asyncio.to_thread(qr_data_url, code)
        if inst.qr.code != code or self.instances.get(inst.name) is not inst:
            return  # rotated, scanned or deleted while rendering
        inst.qr.png = (code, data_url)
        qrcode = {
            "instance": inst.name,
            "pairingCode": inst.qr.pairing_code,
            "code": code,
            "base64": data_url,
        }
        self._emit(inst, "qrcode.updated", {"qrcode": qrcode})

    def _refuse(self, inst: Instance) -> None:
        self._emit(
            inst,
            "qrcode.updated",
            {"message": "QR code limit reached, please login again", "statusCode": 500},
        )
        refused: dict[str, Any] = {"instance": inst.name, "state": "refused", "statusReason": 428}
        if inst.sender_jid:
            refused.update(
                wuid=inst.sender_jid,
                profileName=inst.profile_name,
                profilePictureUrl=inst.picture_url(self.config.public_url),
            )
        self._emit(inst, "connection.update", refused)
        # Evolution's ``no.connection`` handler logs the socket out and resets the QR count.
        self._cancel_timers(inst)
        inst.state = "close"
        inst.qr = QRSession()

    def _cancel_timers(self, inst: Instance) -> None:
        if inst.qr.timer is not None:
            inst.qr.timer.cancel()
            inst.qr.timer = None
        if inst.link_timer is not None:
            inst.link_timer.cancel()
            inst.link_timer = None

    def state_payload(self, inst: Instance) -> dict[str, Any]:
        return {"instance": {"instanceName": inst.name, "state": inst.state}}

    def scan(self, inst: Instance, number: str | None, profile_name: str | None) -> dict[str, Any]:
        """The phone scans the displayed QR (or types the pairing code)."""
        if inst.state != "connecting" or inst.paired or inst.qr.code is None:
            raise SimError(
                409, [f'The "{inst.name}" instance is not showing a QR code; call connect first']
            )
        chosen = _valid_number(number) if number else None
        chosen = chosen or inst.pairing_number or inst.number or self._allocate_number()
        acct = self.accounts.get(chosen)
        if acct is not None and acct.instance not in (None, inst.name):
            raise SimError(
                409, [f"The number {chosen} is already linked to instance {acct.instance!r}"]
            )
        if acct is not None and acct.banned:
            raise SimError(403, [f"The number {chosen} is banned"])
        if inst.number and inst.number != chosen:
            self._release_number(inst)
        acct = self._account(chosen)
        acct.instance = inst.name
        acct.contact = None
        inst.number = chosen
        inst.profile_name = profile_name or inst.profile_name or inst.name
        acct.name = inst.profile_name
        inst.paired = True
        self._cancel_timers(inst)
        inst.qr = QRSession()
        # WhatsApp answers a fresh pairing with a 515 restartRequired: Evolution reconnects
        # silently, so the receiver sees ``connecting`` then ``open``.
        self._emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "connecting", "statusReason": 200},
        )
        inst.link_timer = self._after(PAIRING_RESTART_S, lambda: self._open(inst))
        return self.control_view(inst)

    def _open(self, inst: Instance) -> None:
        if self.instances.get(inst.name) is not inst or not inst.paired:
            return
        inst.link_timer = None
        inst.state = "open"
        inst.updated_at = iso_now()
        inst.sender_jid = inst.owner_jid
        self._emit(
            inst,
            "connection.update",
            {
                "instance": inst.name,
                "wuid": inst.owner_jid,
                "profileName": inst.profile_name,
                "profilePictureUrl": inst.picture_url(self.config.public_url),
                "state": "open",
                "statusReason": 200,
            },
        )
        self._flush_pending(inst)

    def _release_number(self, inst: Instance) -> None:
        if inst.number and (acct := self.accounts.get(inst.number)) and acct.instance == inst.name:
            acct.instance = None

    def disconnect(self, inst: Instance, code: int, *, reconnect: bool = True) -> dict[str, Any]:
        """The socket closes with a Baileys DisconnectReason code."""
        if not inst.paired:
            raise SimError(409, [f'The "{inst.name}" instance has no WhatsApp session to drop'])
        if code in TERMINAL_CODES:
            self._terminal_close(inst, code)
            return self.control_view(inst)
        # Transient: Evolution reconnects without telling anyone the socket was closed.
        self._cancel_timers(inst)
        inst.state = "connecting"
        inst.zombie = False
        self._emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "connecting", "statusReason": 200},
        )
        if reconnect:
            inst.link_timer = self._after(RECONNECT_S, lambda: self._open(inst))
        return self.control_view(inst)

    def _terminal_close(self, inst: Instance, code: int) -> None:
        self._cancel_timers(inst)
        now = iso_now()
        inst.disconnection_reason_code = code
        inst.disconnection_at = now
        # Evolution stores Baileys' lastDisconnect (a Boom error) as a JSON string.
        inst.disconnection_object = json.dumps(
            {
                "error": {
                    "data": None,
                    "isBoom": True,
                    "isServer": False,
                    "output": {"statusCode": code, "payload": {"statusCode": code}},
                },
                "date": now,
            },
            separators=(",", ":"),
        )
        self._emit(
            inst,
            "status.instance",
            {
                "instance": inst.name,
                "status": "closed",
                "disconnectionAt": now,
                "disconnectionReasonCode": code,
                "disconnectionObject": inst.disconnection_object,
            },
        )
        self._emit(inst, "logout.instance", None)
        inst.state = "close"
        inst.paired = False
        inst.zombie = False
        inst.qr = QRSession()
        self._emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "close", "statusReason": code},
        )

    def restart(self, inst: Instance) -> dict[str, Any]:
        if inst.state == "close":
            # Evolution catches its own BadRequestException and stringifies the object.
            return {"error": True, "message": "[object Object]"}
        inst.zombie = False  # a fresh socket: this is why "restart" is the first recovery step
        if inst.paired:
            self._cancel_timers(inst)
            inst.state = "connecting"
            self._emit(
                inst,
                "connection.update",
                {"instance": inst.name, "state": "connecting", "statusReason": 200},
            )
            inst.link_timer = self._after(RECONNECT_S, lambda: self._open(inst))
            return self.state_payload(inst)
        # Unpaired: a new socket, new QR; the count carries on like Evolution's.
        if inst.qr.timer is not None:
            inst.qr.timer.cancel()
        self._next_qr(inst)
        return inst.qr.payload()

    def logout(self, inst: Instance) -> None:
        if inst.state == "close":
            raise SimError(400, [f'The "{inst.name}" instance is not connected'])
        if inst.paired:
            self._terminal_close(inst, 401)
        else:
            self._cancel_timers(inst)
            inst.state = "close"
            inst.qr = QRSession()
            self._emit(
                inst,
                "connection.update",
                {"instance": inst.name, "state": "close", "statusReason": 401},
            )

    def delete(self, inst: Instance) -> None:
        if inst.state != "close":
            self.logout(inst)
        self._emit(inst, "instance.delete", {"instanceName": inst.name, "instanceId": inst.id})
        self._emit(inst, "remove.instance", None)
        self._cancel_timers(inst)
        self._release_number(inst)
        del self.instances[inst.name]

    def ban(self, inst: Instance, code: int) -> dict[str, Any]:
        if inst.number is None:
            raise SimError(409, [f'The "{inst.name}" instance has never been paired'])
        self.accounts[inst.number].banned = True
        if inst.paired:
            self._terminal_close(inst, code)
        return self.control_view(inst)

    def unban(self, inst: Instance) -> dict[str, Any]:
        if inst.number is not None:
            self.accounts[inst.number].banned = False
        return self.control_view(inst)

    def set_zombie(self, inst: Instance, zombie: bool) -> None:
        inst.zombie = zombie
        self._flush_pending(inst)

    # ------------------------------------------------------------------ messaging

    def _require_socket(self, inst: Instance) -> None:
        # The existence check runs first and is not caught: a closed socket surfaces as 500.
        if inst.state != "open":
            raise connection_closed(500)

    def resolve_recipient(self, number: str) -> Account:
        acct = self.lookup(number, create_implicit=True)
        if acct is None:
            jid = jids.create_jid(number)
            raise SimError(400, [{"jid": jid, "exists": False, "number": number}])
        return acct

    async def send_text(
        self,
        inst: Instance,
        *,
        number: str,
        text: str,
        delay_ms: int,
        quoted_id: str | None,
        mentioned: list[str],
    ) -> dict[str, Any]:
        self._require_socket(inst)
        target = self.resolve_recipient(number)
        if inst.zombie:
            raise connection_closed(400)
        if delay_ms > 0:
            # The request blocks: 'composing' for ``delay`` ms, then 'paused', then the send.
            self._presence_to(inst, target, "composing")
            await asyncio.sleep(delay_ms / 1000)
            self._presence_to(inst, target, "paused")
            if not inst.can_send or self.instances.get(inst.name) is not inst:
                raise connection_closed(400)
        assert inst.number is not None  # open implies paired implies a number
        msg = self._new_message(inst.number, target.number, text, device="web")
        self._store(inst, msg, from_me=True, remote_jid=target.jid, status="PENDING")
        context: dict[str, Any] = {
            "mentionedJid": [jids.create_jid(m) for m in mentioned],
            "groupMentions": [],
            "disappearingMode": {"initiator": 0},
        }
        if quoted_id:
            context["stanzaId"] = quoted_id
            if (quoted := inst.messages.get(quoted_id)) is not None:
                context["participant"] = inst.owner_jid if quoted.from_me else quoted.remote_jid
                context["quotedMessage"] = {"conversation": quoted.text}
        record = {
            "key": {"remoteJid": target.jid, "fromMe": True, "id": msg.key_id},
            "pushName": "Você",
            "status": "PENDING",
            "message": {"conversation": text},
            "contextInfo": context,
            "messageType": "conversation",
            "messageTimestamp": msg.timestamp,
            "instanceId": inst.id,
            "source": "unknown",
        }
        self._emit(inst, "send.message", record)
        self._route(msg)
        return record

    def _presence_to(self, inst: Instance, target: Account, presence: str) -> None:
        receiver = self.instances.get(target.instance) if target.instance else None
        if receiver is None or not receiver.can_send or inst.owner_jid is None:
            return  # presence is ephemeral: nobody listening, nothing queued
        jid = inst.owner_jid
        self._emit(
            receiver,
            "presence.update",
            {"id": jid, "presences": {jid: {"lastKnownPresence": presence}}},
        )

    async def send_presence(
        self, inst: Instance, *, number: str, presence: str, delay_ms: int
    ) -> dict[str, Any]:
        self._require_socket(inst)
        target = self.resolve_recipient(number)
        if inst.zombie:
            raise connection_closed(400)
        self._presence_to(inst, target, presence)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
            self._presence_to(inst, target, "paused")
        return {"presence": presence}

    def check_numbers(self, inst: Instance, numbers: Iterable[str]) -> list[dict[str, Any]]:
        if not inst.can_send:
            raise boom_connection_closed()
        out: list[dict[str, Any]] = []
        for raw in numbers:
            acct = self.lookup(raw)
            jid = jids.create_jid(raw)
            item: dict[str, Any] = {
                "jid": acct.jid if acct else jid,
                "exists": acct is not None,
                "number": raw,
            }
            if acct is not None and (
                acct.instance is not None
                or (acct.contact is not None and not acct.contact.implicit)
            ):
                item["name"] = acct.name
            if acct is not None and acct.contact is not None and acct.contact.lid_addressing:
                item["lid"] = jids.lid_jid(acct.lid)
            out.append(item)
        return out

    def mark_read(self, inst: Instance, keys: list[dict[str, Any]]) -> None:
        for key in keys:
            row = inst.messages.get(str(key.get("id")))
            if row is None or row.from_me:
                continue
            msg = self.net_messages.get(row.key_id)
            if msg is not None:
                self._ack(msg, "READ")

    def phone_send(self, inst: Instance, to: str, text: str) -> dict[str, Any]:
        """A message typed on the instance's handset (reaches Evolution as fromMe=true upsert)."""
        if inst.number is None:
            raise SimError(409, [f'The "{inst.name}" instance has never been paired'])
        if self.accounts[inst.number].banned:
            raise SimError(403, [f"The number {inst.number} is banned"])
        target = self.lookup(to, create_implicit=True)
        if target is None:
            raise SimError(400, [{"jid": jids.create_jid(to), "exists": False, "number": to}])
        msg = self._new_message(inst.number, target.number, text, device=inst.device)
        msg.status = "SERVER_ACK"  # the phone already got the server's ack before syncing
        self._store(inst, msg, from_me=True, remote_jid=target.jid, status="SERVER_ACK")
        data = self._upsert_data(
            inst,
            msg,
            from_me=True,
            remote_jid=target.jid,
            push_name=inst.profile_name or "",
            status="SERVER_ACK",
        )
        self._to_device(inst, "messages.upsert", data)
        self._route(msg, server_ack=False)
        return data

    def inbound(
        self,
        inst: Instance,
        *,
        sender: str,
        text: str,
        push_name: str | None,
        lid: bool | None,
        group: str | None,
    ) -> dict[str, Any]:
        """Inject a message from any external number (optionally via @lid or in a group)."""
        if inst.number is None:
            raise SimError(409, [f'The "{inst.name}" instance has never been paired'])
        acct = self.lookup(sender, create_implicit=True)
        if acct is None:
            raise SimError(400, [f"{sender} is not on WhatsApp"])
        if push_name:
            acct.name = push_name
        if lid is not None and acct.contact is not None:
            acct.contact.lid_addressing = lid
        return self._deliver_from(acct, inst.number, text, group=group)

    def contact_send(self, number: str, to: str, text: str) -> dict[str, Any]:
        acct = self.lookup(number, create_implicit=True)
        if acct is None:
            raise SimError(400, [f"{number} is not on WhatsApp"])
        target_inst = self.instances.get(to)
        target = (
            self.accounts.get(target_inst.number)
            if target_inst and target_inst.number
            else self.lookup(to)
        )
        if target is None:
            raise SimError(400, [f"{to} is not a simulated instance or reachable number"])
        return self._deliver_from(acct, target.number, text, group=None)

    def _deliver_from(
        self, acct: Account, to_number: str, text: str, *, group: str | None
    ) -> dict[str, Any]:
        device = acct.contact.device if acct.contact else "android"
        msg = self._new_message(acct.number, to_number, text, device=device)
        self.message_log.append(self._log_entry(msg))
        self.net_messages[msg.key_id] = msg
        self._trim_net_messages()
        return self._deliver_to_handset(msg, group=group) or {}

    def _new_message(
        self, from_number: str, to_number: str, text: str, *, device: str
    ) -> NetMessage:
        return NetMessage(
            key_id=self._key_id(device),
            from_number=from_number,
            to_number=to_number,
            text=text,
            timestamp=int(time.time()),
        )

    def _store(
        self, inst: Instance, msg: NetMessage, *, from_me: bool, remote_jid: str, status: str
    ) -> StoredMessage:
        row = StoredMessage(
            row_id=self._cuid(),
            key_id=msg.key_id,
            remote_jid=remote_jid,
            from_me=from_me,
            text=msg.text,
            timestamp=msg.timestamp,
            status=status,
            instance=inst.name,
        )
        inst.messages[msg.key_id] = row
        inst.peers.add(jids.user_part(remote_jid))
        while len(inst.messages) > self.config.max_messages_per_instance:
            inst.messages.popitem(last=False)
        if from_me:
            msg.sender_row = row
        else:
            msg.receiver_row = row
        return row

    def _trim_net_messages(self) -> None:
        limit = self.config.max_log_entries * 4
        while len(self.net_messages) > limit:
            self.net_messages.popitem(last=False)

    def _log_entry(self, msg: NetMessage) -> dict[str, Any]:
        return {
            "id": msg.key_id,
            "from": msg.from_number,
            "to": msg.to_number,
            "text": msg.text,
            "timestamp": msg.timestamp,
            "fromInstance": self._instance_of(msg.from_number),
            "toInstance": self._instance_of(msg.to_number),
        }

    def _instance_of(self, number: str) -> str | None:
        acct = self.accounts.get(number)
        return acct.instance if acct else None

    def _route(self, msg: NetMessage, *, server_ack: bool = True) -> None:
        self.net_messages[msg.key_id] = msg
        self._trim_net_messages()
        self.message_log.append(self._log_entry(msg))
        if server_ack:
            self._after(SERVER_ACK_S, lambda: self._ack(msg, "SERVER_ACK"))
        target = self.accounts.get(msg.to_number)
        if target is None:
            return
        if target.instance is not None:
            self._after(DELIVERY_ACK_S, lambda: self._deliver_to_handset(msg, group=None))
        elif target.contact is not None:
            self._after(DELIVERY_ACK_S, lambda: self._deliver_to_contact(msg, target))

    def _deliver_to_handset(self, msg: NetMessage, *, group: str | None) -> dict[str, Any] | None:
        target = self.accounts.get(msg.to_number)
        receiver = self.instances.get(target.instance) if target and target.instance else None
        sender = self.accounts.get(msg.from_number)
        if receiver is None or target is None or target.banned or sender is None:
            return None
        contact = sender.contact
        lid_mode = contact is not None and contact.lid_addressing
        remote = jids.lid_jid(sender.lid) if lid_mode else sender.jid
        if group:
            remote = jids.create_jid(group)
        self._store(receiver, msg, from_me=False, remote_jid=remote, status="DELIVERY_ACK")
        data = self._upsert_data(
            receiver,
            msg,
            from_me=False,
            remote_jid=remote,
            push_name=sender.name,
            status="DELIVERY_ACK",
            alt=sender.jid if lid_mode and not group else None,
            participant=sender.jid if group else None,
            lid_mode=lid_mode,
        )
        self._to_device(receiver, "messages.upsert", data)
        # The handset is a phone: it is online even when the linked Evolution socket is not.
        self._ack(msg, "DELIVERY_ACK")
        if receiver.auto_read or receiver.settings.get("readMessages"):
            self._after(READ_S, lambda: self._ack(msg, "READ"))
        return data

    def _deliver_to_contact(self, msg: NetMessage, target: Account) -> None:
        contact = target.contact
        if contact is None or target.banned:
            return
        contact.received += 1
        self._ack(msg, "DELIVERY_ACK")
        if contact.reads:
            self._after(READ_S, lambda: self._ack(msg, "READ"))
        reply: str | None = None
        if contact.behavior == "reply":
            reply = contact.reply_text or self.rng.choice(DEFAULT_REPLIES)
        elif contact.behavior == "optout" and not contact.opted_out:
            contact.opted_out = True
            reply = contact.optout_text
        if reply is not None:
            text = reply
            back_to = msg.from_number
            if contact.reply_delay_s is not None:  # configured explicitly: taken literally
                self._after(
                    contact.reply_delay_s, lambda: self._reply(target, back_to, text), scaled=False
                )
            else:
                self._after(REPLY_S, lambda: self._reply(target, back_to, text))

    def _reply(self, contact: Account, to_number: str, text: str) -> None:
        if to_number in self.accounts and self.accounts[to_number].instance is not None:
            self._deliver_from(contact, to_number, text, group=None)

    def _ack(self, msg: NetMessage, status: str) -> None:
        # Acks only move forward at the source; duplicates and reordering are delivery faults.
        if STATUS_RANK[status] <= STATUS_RANK[msg.status]:
            return
        msg.status = status
        row = msg.sender_row
        if row is None:
            return
        sender = self.instances.get(row.instance)
        if sender is None:
            return
        row.status = status
        self._to_device(
            sender,
            "messages.update",
            {
                "keyId": msg.key_id,
                "remoteJid": row.remote_jid,
                "fromMe": True,
                "participant": None,
                "status": status,
                "instanceId": sender.id,
                "messageId": row.row_id,
            },
        )

    def _upsert_data(
        self,
        inst: Instance,
        msg: NetMessage,
        *,
        from_me: bool,
        remote_jid: str,
        push_name: str,
        status: str,
        alt: str | None = None,
        participant: str | None = None,
        lid_mode: bool = False,
    ) -> dict[str, Any]:
        key: dict[str, Any] = {"remoteJid": remote_jid, "fromMe": from_me, "id": msg.key_id}
        if participant:
            key["participant"] = participant
        if alt:
            key["remoteJidAlt"] = alt
        key["addressingMode"] = "lid" if lid_mode else "pn"
        secret = self.rng.randbytes(32)
        return {
            "key": key,
            "pushName": push_name,
            "status": status,
            "message": {
                "conversation": msg.text,
                "messageContextInfo": {"messageSecret": _b64(secret)},
            },
            "contextInfo": None,
            "messageType": "conversation",
            "messageTimestamp": msg.timestamp,
            "instanceId": inst.id,
            "source": device_of(msg.key_id),
        }

    # ------------------------------------------------------------------ contacts

    def upsert_contact(self, number: str, name: str | None, contact: Contact) -> Account:
        user = _valid_number(number)
        acct = self.accounts.get(user)
        if acct is not None and acct.instance is not None:
            raise SimError(409, [f"{user} is the handset of instance {acct.instance!r}"])
        acct = self._account(user, name)
        acct.contact = contact
        return acct

    def remove_contact(self, number: str) -> bool:
        user = jids.digits(number)
        acct = self.accounts.get(user)
        if acct is None or acct.instance is not None:
            return False
        del self.accounts[user]
        self.lids.pop(acct.lid, None)
        return True

    # ------------------------------------------------------------------ faults

    def plan_faults(self, method: str, path: str) -> FaultPlan:
        """Count the request and roll the dice for it (global faults, then the instance's)."""
        parts = path.split("/")
        template = path
        instance_name: str | None = None
        if len(parts) == 4 and parts[3] and parts[1] in _INSTANCE_SCOPES:
            template = "/".join(parts[:3])
            instance_name = unquote(parts[3])
        self.requests[f"{method} {template}"] += 1
        plan = FaultPlan()
        layers = [self.faults]
        if instance_name is not None:
            inst = self.instances.get(instance_name)
            if inst is not None and inst.faults is not None:
                layers.append(inst.faults)
        for faults in layers:
            if not faults.active():
                continue
            plan.latency_s += faults.latency_ms / 1000
            if faults.spike_rate and self.rng.random() < faults.spike_rate:
                plan.spike_s = max(plan.spike_s, faults.spike_ms / 1000)
            if (
                plan.error_status is None
                and faults.error_rate
                and self.rng.random() < faults.error_rate
            ):
                plan.error_status = faults.error_status
                mode = faults.error_mode
                plan.error_after = mode == "after" or (mode == "mixed" and self.rng.random() < 0.5)
        return plan

    # ------------------------------------------------------------------ views

    def instance_row(self, inst: Instance) -> dict[str, Any]:
        """fetchInstances' Prisma row (webhook config is not included, like the real one)."""
        status = (
            "open"
            if inst.state == "open"
            else ("connecting" if inst.state == "connecting" else "close")
        )
        return {
            "id": inst.id,
            "name": inst.name,
            "connectionStatus": status,
            "ownerJid": inst.owner_jid,
            "profileName": inst.profile_name,
            "profilePicUrl": inst.picture_url(self.config.public_url),
            "integration": INTEGRATION,
            "number": inst.pairing_number,
            "businessId": None,
            "token": inst.token,
            "clientName": "evolution_exchange",
            "disconnectionReasonCode": inst.disconnection_reason_code,
            "disconnectionObject": inst.disconnection_object,
            "disconnectionAt": inst.disconnection_at,
            "createdAt": inst.created_at,
            "updatedAt": inst.updated_at,
            "Chatwoot": None,
            "Proxy": None,
            "Rabbitmq": None,
            "Nats": None,
            "Sqs": None,
            "Websocket": None,
            "Setting": {
                "id": f"set-{inst.id}",
                **{k: inst.settings.get(k, v) for k, v in DEFAULT_SETTINGS.items()},
                "wavoipToken": "",
                "createdAt": inst.created_at,
                "updatedAt": inst.updated_at,
                "instanceId": inst.id,
            },
            "_count": {
                "Message": len(inst.messages),
                "Contact": len(inst.peers),
                "Chat": len(inst.peers),
            },
        }

    def control_view(self, inst: Instance) -> dict[str, Any]:
        """The simulator's own view of an instance (``/_sim``), richer than Evolution's."""
        acct = self.accounts.get(inst.number) if inst.number else None
        return {
            "instance": inst.name,
            "instanceId": inst.id,
            "state": inst.state,
            "paired": inst.paired,
            "number": inst.number,
            "wuid": inst.owner_jid if inst.paired else None,
            "lid": jids.lid_jid(acct.lid) if acct else None,
            "profileName": inst.profile_name,
            "banned": bool(acct and acct.banned),
            "zombie": inst.zombie,
            "autoRead": inst.auto_read,
            "qrCount": inst.qr.count,
            "pairingCode": inst.qr.pairing_code,
            "pendingEvents": len(inst.pending),
            "messages": len(inst.messages),
            "disconnectionReasonCode": inst.disconnection_reason_code,
            "faults": inst.faults.as_json() if inst.faults else None,
        }

    def contact_view(self, acct: Account) -> dict[str, Any]:
        c = acct.contact or Contact()
        return {
            "number": acct.number,
            "jid": acct.jid,
            "lid": jids.lid_jid(acct.lid),
            "name": acct.name,
            "behavior": c.behavior,
            "reads": c.reads,
            "exists": c.exists,
            "lidAddressing": c.lid_addressing,
            "replyText": c.reply_text,
            "optoutText": c.optout_text,
            "replyDelayMs": None if c.reply_delay_s is None else c.reply_delay_s * 1000,
            "device": c.device,
            "optedOut": c.opted_out,
            "received": c.received,
            "implicit": c.implicit,
        }

    def stats(self) -> dict[str, Any]:
        states = Counter(i.state for i in self.instances.values())
        return {
            "requests": dict(self.requests),
            "webhooks": dict(self.webhooks.stats),
            "instances": {"total": len(self.instances), **states},
            "messages": len(self.message_log),
            "scheduled": self.scheduler.pending,
        }


def _valid_number(raw: str) -> str:
    number = jids.digits(raw)
    if not 8 <= len(number) <= 15:
        raise SimError(400, [f"{raw!r} is not a phone number (8 to 15 digits)"])
    return number


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
