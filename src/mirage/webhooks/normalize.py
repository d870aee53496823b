"""Pure parsing of Evolution webhook bodies into Mirage's normalized shapes.

Anything that does not match the documented shapes (reference/evolution-api.md §5) raises
``InvalidPayload`` with a readable reason; nothing half-parsed is ever returned.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mirage.providers.models import ConnectionState, MessageStatus

# Canonical (dotted) names of the events Mirage handles; other events are stored raw only.
QRCODE_UPDATED = "qrcode.updated"
CONNECTION_UPDATE = "connection.update"
MESSAGES_UPSERT = "messages.upsert"
MESSAGES_UPDATE = "messages.update"
SEND_MESSAGE = "send.message"
HANDLED = frozenset(
    {QRCODE_UPDATED, CONNECTION_UPDATE, MESSAGES_UPSERT, MESSAGES_UPDATE, SEND_MESSAGE}
)
MAX_TEXT = 65_536


class InvalidPayload(ValueError):
    pass


def canonical_event(name: str) -> str:
    """``MESSAGES_UPSERT``, ``messages.upsert`` and ``messages-upsert`` all name one event.

    Evolution's own mapping: config form = dotted form with ``.``/``-`` → ``_``, upper-cased.
    """
    key = name.strip().upper().replace(".", "_").replace("-", "_")
    if not key or len(key) > 40 or not key.replace("_", "").isalnum():
        raise InvalidPayload(f"unknown event name: {name[:40]!r}")
    if key == "GROUP_PARTICIPANTS_UPDATE":
        return "group-participants.update"
    return key.lower().replace("_", ".")


@dataclass(frozen=True)
class Envelope:
    event: str  # canonical
    instance: str
    data: Any
    sender: str | None
    date_time: str | None


# PostgreSQL's jsonb refuses NUL and unpaired surrogates; refuse them here, before storage.
_UNSTORABLE = re.compile(
    rb"\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}",
    re.IGNORECASE,
)


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON (Python accepts them; PostgreSQL's jsonb does not).
    raise ValueError(f"{name} is not valid JSON")


def parse_envelope(body: bytes) -> Envelope:
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload("body is not valid UTF-8 JSON") from exc
    if _UNSTORABLE.search(body):
        raise InvalidPayload("body contains NUL or unpaired surrogate escapes")
    if not isinstance(doc, dict):
        raise InvalidPayload("body must be a JSON object")
    event = doc.get("event")
    instance = doc.get("instance")
    if not isinstance(event, str):
        raise InvalidPayload("'event' must be a string")
    if not isinstance(instance, str) or not instance or len(instance) > 64:
        raise InvalidPayload("'instance' must be a non-empty string")
    if "data" not in doc:
        raise InvalidPayload("'data' is missing")
    sender = doc.get("sender")
    date_time = doc.get("date_time")
    return Envelope(
        event=canonical_event(event),
        instance=instance,
        data=doc["data"],
        sender=sender if isinstance(sender, str) else None,
        date_time=date_time if isinstance(date_time, str) else None,
    )


def _str(d: dict[str, Any], key: str, *, required: bool = False, max_len: int = 120) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise InvalidPayload(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"'{key}' must be a string")
    if len(value) > max_len:
        raise InvalidPayload(f"'{key}' is too long")
    if "\x00" in value:
        raise InvalidPayload(f"'{key}' contains a NUL character")
    return value


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload(f"'{what}' must be an object")
    return value


def _bool(d: dict[str, Any], key: str) -> bool:
    value = d.get(key, False)
    if not isinstance(value, bool):
        raise InvalidPayload(f"'{key}' must be a boolean")
    return value


def _status(value: Any) -> MessageStatus:
    if isinstance(value, int) and not isinstance(value, bool):
        # Baileys' numeric statuses (0..5).
        numeric = ["ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED"]
        if 0 <= value < len(numeric):
            return MessageStatus(numeric[value])
    if isinstance(value, str):
        try:
            return MessageStatus(value.upper())
        except ValueError:
            pass
    raise InvalidPayload(f"unknown message status: {str(value)[:20]!r}")


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, dict):  # protobuf Long {low, high}
        low, high = value.get("low"), value.get("high")
        if isinstance(low, int) and isinstance(high, int):
            value = (high << 32) + (low & 0xFFFFFFFF)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPayload("'messageTimestamp' must be epoch seconds")
    if not math.isfinite(value) or not 0 <= value < 32_503_680_000:  # before year 3000
        raise InvalidPayload("'messageTimestamp' is out of range")
    return datetime.fromtimestamp(value, tz=UTC)


def extract_text(message: Any) -> str | None:
    """The human text of a message: conversation, extended text, or a media caption."""
    if not isinstance(message, dict):
        return None
    candidates = [message.get("conversation")]
    ext = message.get("extendedTextMessage")
    if isinstance(ext, dict):
        candidates.append(ext.get("text"))
    for media in ("imageMessage", "videoMessage", "documentMessage"):
        part = message.get(media)
        if isinstance(part, dict):
            candidates.append(part.get("caption"))
    for c in candidates:
        if isinstance(c, str) and c:
            return c.replace("\x00", "")[:MAX_TEXT]
    return None


@dataclass(frozen=True)
class NormalizedMessage:
    provider_message_id: str
    from_me: bool
    remote_jid: str
    remote_jid_alt: str | None
    participant: str | None
    push_name: str | None
    message_type: str
    text: str | None
    status: MessageStatus
    provider_timestamp: datetime | None
    source: str | None

    @property
    def direction(self) -> str:
        return "outbound" if self.from_me else "inbound"


def parse_message(data: Any) -> NormalizedMessage:
    """``messages.upsert`` and ``send.message`` carry one message object (not an array)."""
    d = _obj(data, "data")
    key = _obj(d.get("key"), "data.key")
    remote_jid = _str(key, "remoteJid", required=True)
    assert remote_jid is not None
    message_id = _str(key, "id", required=True, max_len=128)
    assert message_id is not None
    status_value = d.get("status")
    from_me = _bool(key, "fromMe")
    status = (
        _status(status_value)
        if status_value is not None
        else (MessageStatus.PENDING if from_me else MessageStatus.DELIVERY_ACK)
    )
    message_type = _str(d, "messageType", max_len=40) or "unknown"
    return NormalizedMessage(
        provider_message_id=message_id,
        from_me=from_me,
        remote_jid=remote_jid,
        # Newer builds say remoteJidAlt, older ones senderPn (reference §5.5, LID).
        remote_jid_alt=_str(key, "remoteJidAlt") or _str(key, "senderPn"),
        participant=_str(key, "participant"),
        push_name=_str(d, "pushName"),
        message_type=message_type,
        text=extract_text(d.get("message")),
        status=status,
        provider_timestamp=_timestamp(d.get("messageTimestamp")),
        source=_str(d, "source", max_len=16),
    )


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    remote_jid: str
    from_me: bool
    status: MessageStatus


def parse_status_updates(data: Any) -> list[StatusUpdate]:
    """``messages.update``: one receipt object (some builds send a list of them)."""
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > 500:
        raise InvalidPayload("'data' must hold 1 to 500 updates")
    updates = []
    for item in items:
        d = _obj(item, "data")
        raw_key = d.get("key")
        key: dict[str, Any] = raw_key if isinstance(raw_key, dict) else {}
        message_id = _str(d, "keyId", max_len=128) or _str(key, "id", max_len=128)
        if not message_id:
            raise InvalidPayload("'keyId' is required")
        remote = _str(d, "remoteJid") or _str(key, "remoteJid")
        if not remote:
            raise InvalidPayload("'remoteJid' is required")
        from_me = _bool(d, "fromMe") if "fromMe" in d else _bool(key, "fromMe")
        updates.append(StatusUpdate(message_id, remote, from_me, _status(d.get("status"))))
    return updates


@dataclass(frozen=True)
class ConnectionUpdate:
    state: ConnectionState
    status_reason: int | None
    wuid: str | None
    profile_name: str | None
    event_at: datetime | None = None  # the gateway's time of the update, when known


def parse_connection(data: Any) -> ConnectionUpdate:
    d = _obj(data, "data")
    state = _str(d, "state", required=True, max_len=16)
    parsed = ConnectionState.parse(state)
    if parsed is ConnectionState.UNKNOWN:
        raise InvalidPayload(f"unknown connection state: {state!r}")
    reason = d.get("statusReason")
    if reason is not None and (isinstance(reason, bool) or not isinstance(reason, int)):
        raise InvalidPayload("'statusReason' must be an integer")
    if reason is not None and not 0 <= reason < 10_000:
        raise InvalidPayload("'statusReason' is out of range")
    return ConnectionUpdate(parsed, reason, _str(d, "wuid"), _str(d, "profileName"))


@dataclass(frozen=True)
class QrUpdate:
    available: bool
    limit_reached: bool


def parse_qr(data: Any) -> QrUpdate:
    d = _obj(data, "data")
    if "qrcode" in d:
        qr = _obj(d["qrcode"], "data.qrcode")
        _str(qr, "base64", max_len=200_000)
        _str(qr, "code", max_len=2_000)
        return QrUpdate(available=True, limit_reached=False)
    if "statusCode" in d or "message" in d:
        return QrUpdate(available=False, limit_reached=True)
    raise InvalidPayload("'data.qrcode' is missing")


def event_time(date_time: str | None) -> datetime | None:
    """The envelope's ``date_time`` (gateway clock, ms), or None when absent or unreadable."""
    if not date_time or len(date_time) > 40:
        return None
    try:
        value = datetime.fromisoformat(date_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def phone_from_jid(jid: str | None) -> str | None:
    if not jid or "@" not in jid:
        return None
    user = jid.split("@", 1)[0].split(":", 1)[0]
    return user if user.isdigit() else None
