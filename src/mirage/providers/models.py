"""Typed results of gateway calls. Each keeps ``raw`` (the gateway's JSON) for audit/debug."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ConnectionState(StrEnum):
    OPEN = "open"
    CONNECTING = "connecting"
    CLOSE = "close"
    REFUSED = "refused"
    UNKNOWN = "unknown"  # Evolution omits ``state`` when the instance is not loaded in memory

    @classmethod
    def parse(cls, value: Any) -> ConnectionState:
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class ConnectionUpdate:
    """A connection change, from a webhook or from reconciliation with the gateway."""

    state: ConnectionState
    status_reason: int | None
    wuid: str | None
    profile_name: str | None
    event_at: datetime | None = None  # the gateway's time of the update, when known


def phone_from_jid(jid: str | None) -> str | None:
    if not jid or "@" not in jid:
        return None
    user = jid.split("@", 1)[0].split(":", 1)[0]
    # ASCII digits (isdigit() alone accepts any script's), at most E.164's 15 and some slack.
    return user if 0 < len(user) <= 20 and user.isascii() and user.isdigit() else None


class Presence(StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    COMPOSING = "composing"
    RECORDING = "recording"
    PAUSED = "paused"


class MessageStatus(StrEnum):
    """Evolution's message statuses; ``rank`` orders them so a status never moves backwards."""

    ERROR = "ERROR"
    PENDING = "PENDING"
    SERVER_ACK = "SERVER_ACK"
    DELIVERY_ACK = "DELIVERY_ACK"
    READ = "READ"
    PLAYED = "PLAYED"
    DELETED = "DELETED"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    MessageStatus.ERROR: 0,
    MessageStatus.PENDING: 1,
    MessageStatus.SERVER_ACK: 2,
    MessageStatus.DELIVERY_ACK: 3,
    MessageStatus.READ: 4,
    MessageStatus.PLAYED: 5,
    MessageStatus.DELETED: 6,
}

# The events Mirage consumes (PRODUCT.md §3), in Evolution's config form.
DEFAULT_WEBHOOK_EVENTS: tuple[str, ...] = (
    "QRCODE_UPDATED",
    "CONNECTION_UPDATE",
    "MESSAGES_UPSERT",
    "MESSAGES_UPDATE",
    "SEND_MESSAGE",
)


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """An instance's webhook. ``jwt_key`` makes Evolution ≥2.3 send ``Authorization: Bearer``
    (HS256, 10 min) signed with it; ``headers`` are sent verbatim."""

    url: str
    events: tuple[str, ...] = DEFAULT_WEBHOOK_EVENTS
    by_events: bool = False
    base64: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    jwt_key: str | None = None

    def to_evolution(self, *, enabled: bool | None = None) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.jwt_key:
            headers["jwt_key"] = self.jwt_key
        body: dict[str, Any] = {
            "url": self.url,
            "byEvents": self.by_events,
            "base64": self.base64,
            "headers": headers,
            # Always sent: Evolution crashes on a missing ``events`` (reference §3.1).
            "events": list(self.events),
        }
        if enabled is not None:
            body["enabled"] = enabled
        return body

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WebhookSpec:
        headers = {str(k): str(v) for k, v in (row.get("headers") or {}).items()}
        jwt_key = headers.pop("jwt_key", None)
        return cls(
            url=str(row.get("url") or ""),
            events=tuple(row.get("events") or ()),
            by_events=bool(row.get("webhookByEvents", False)),
            base64=bool(row.get("webhookBase64", False)),
            headers=headers,
            jwt_key=jwt_key,
        )


@dataclass(frozen=True, slots=True)
class InstanceSettings:
    reject_call: bool = False
    msg_call: str = ""
    groups_ignore: bool = False
    always_online: bool = False
    read_messages: bool = False
    read_status: bool = False
    sync_full_history: bool = False

    def to_evolution(self) -> dict[str, Any]:
        return {
            "rejectCall": self.reject_call,
            "msgCall": self.msg_call,
            "groupsIgnore": self.groups_ignore,
            "alwaysOnline": self.always_online,
            "readMessages": self.read_messages,
            "readStatus": self.read_status,
            "syncFullHistory": self.sync_full_history,
        }


@dataclass(frozen=True, slots=True)
class QRCode:
    code: str | None
    base64: str | None  # a ``data:image/png;base64,…`` URL, ready for an <img src>
    pairing_code: str | None
    count: int

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> QRCode:
        count = data.get("count")
        return cls(
            code=data.get("code") or None,
            base64=data.get("base64") or None,
            pairing_code=data.get("pairingCode") or None,
            count=int(count) if isinstance(count, int | float) else 0,
        )

    @property
    def available(self) -> bool:
        return self.code is not None or self.pairing_code is not None

    def png(self) -> bytes | None:
        if not self.base64 or "," not in self.base64:
            return None
        return base64.b64decode(self.base64.split(",", 1)[1])


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """What connect/restart/pairing return: already ``open``, or a QR/pairing code to show."""

    state: ConnectionState
    qr: QRCode | None
    raw: Any = field(repr=False, compare=False, default=None)

    @classmethod
    def parse(cls, body: Any) -> ConnectResult:
        if isinstance(body, dict) and isinstance(body.get("instance"), dict):
            return cls(ConnectionState.parse(body["instance"].get("state")), None, body)
        if isinstance(body, dict):
            return cls(ConnectionState.CONNECTING, QRCode.parse(body), body)
        return cls(ConnectionState.UNKNOWN, None, body)


@dataclass(frozen=True, slots=True)
class CreatedInstance:
    name: str
    instance_id: str | None
    token: str  # the per-instance ``apikey`` (Evolution's ``hash``)
    status: ConnectionState
    qr: QRCode | None
    # True when a retried create found the instance already made by an earlier attempt.
    reconciled: bool = False
    raw: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    id: str | None
    name: str
    connection_status: ConnectionState
    owner_jid: str | None
    profile_name: str | None
    integration: str | None
    token: str | None
    number: str | None
    disconnection_reason_code: int | None
    disconnection_at: str | None
    created_at: str | None
    raw: Any = field(repr=False, compare=False, default=None)

    @classmethod
    def parse(cls, row: Mapping[str, Any]) -> InstanceInfo:
        code = row.get("disconnectionReasonCode")
        return cls(
            id=row.get("id"),
            name=str(row.get("name") or ""),
            connection_status=ConnectionState.parse(row.get("connectionStatus")),
            owner_jid=row.get("ownerJid"),
            profile_name=row.get("profileName"),
            integration=row.get("integration"),
            token=row.get("token"),
            number=row.get("number"),
            disconnection_reason_code=int(code) if isinstance(code, int | float) else None,
            disconnection_at=row.get("disconnectionAt"),
            created_at=row.get("createdAt"),
            raw=dict(row),
        )


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str  # ``key.id``: the correlation key for later webhooks
    remote_jid: str
    status: MessageStatus
    timestamp: int | None
    instance_id: str | None
    raw: Any = field(repr=False, compare=False, default=None)

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> SentMessage:
        key = body.get("key") or {}
        ts = body.get("messageTimestamp")
        try:
            status = MessageStatus(str(body.get("status", "PENDING")))
        except ValueError:
            status = MessageStatus.PENDING
        return cls(
            message_id=str(key.get("id") or ""),
            remote_jid=str(key.get("remoteJid") or ""),
            status=status,
            timestamp=int(ts) if isinstance(ts, int | float | str) and str(ts).isdigit() else None,
            instance_id=body.get("instanceId"),
            raw=dict(body),
        )


@dataclass(frozen=True, slots=True)
class NumberCheck:
    number: str
    jid: str
    exists: bool
    name: str | None = None
    lid: str | None = None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> NumberCheck:
        return cls(
            number=str(item.get("number") or ""),
            jid=str(item.get("jid") or ""),
            exists=bool(item.get("exists")),
            name=item.get("name"),
            lid=item.get("lid"),
        )


@dataclass(frozen=True, slots=True)
class MessageKey:
    remote_jid: str
    id: str
    from_me: bool = False

    def to_evolution(self) -> dict[str, Any]:
        return {"remoteJid": self.remote_jid, "fromMe": self.from_me, "id": self.id}


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    version: str | None
    client_name: str | None
    raw: Any = field(repr=False, compare=False, default=None)
