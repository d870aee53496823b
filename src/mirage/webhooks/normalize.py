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

# Shared with instances (reconciliation builds them too), so they live in providers/models.py.
from mirage.providers.models import ConnectionUpdate as ConnectionUpdate
from mirage.providers.models import phone_from_jid as phone_from_jid

# Canonical (dotted) names of the events Mirage handles; other events are stored raw only.
QRCODE_UPDATED = "qrcode.updated"
CONNECTION_UPDATE = "connection.update"
MESSAGES_UPSERT = "messages.upsert"
MESSAGES_UPDATE = "messages.update"
SEND_MESSAGE = "send.message"
# Evolution ≥2.3 reports an edit as its own event whose ``data`` is Baileys' protocolMessage
# (``{key, type: MESSAGE_EDIT, editedMessage}``); edits of our own sends come as the second.
MESSAGES_EDITED = "messages.edited"
SEND_MESSAGE_UPDATE = "send.message.update"
HANDLED = frozenset(
    {
        QRCODE_UPDATED,
        CONNECTION_UPDATE,
        MESSAGES_UPSERT,
        MESSAGES_UPDATE,
        SEND_MESSAGE,
        MESSAGES_EDITED,
        SEND_MESSAGE_UPDATE,
    }
)
MAX_TEXT = 65_536
# Columns for fields the sender controls (names, types, device): longer values are cut, not
# refused: a message is stored if it is authentic and parseable (refusing it loses it, since
# Evolution never retries a 4xx).
MAX_NAME = 120
MAX_TYPE = 40
MAX_SOURCE = 16
MAX_JID = 120
MAX_OWN_JID = 80  # instances.owner_jid
# Hostile-body bounds, enforced while parsing (a parse failure is a 4xx, never a 500).
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40  # longest JSON number literal accepted (float or int)
MAX_EXPONENT = 400  # |exponent| of a float literal; PostgreSQL's numeric refuses huge ones
MAX_TIMESTAMP_DIGITS = 15


class InvalidPayload(ValueError):
    pass


def canonical_event(name: str) -> str:
    """``MESSAGES_UPSERT``, ``messages.upsert`` and ``messages-upsert`` all name one event.

    Evolution's own mapping: config form = dotted form with ``.``/``-`` → ``_``, upper-cased.
    """
    key = name.strip().upper().replace(".", "_").replace("-", "_")
    # ASCII only: some letters change length with case ("İ".lower() is two characters).
    if not key or len(key) > 40 or not key.isascii() or not key.replace("_", "").isalnum():
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
    # The parsed body to store instead of the raw one, when it had to change (secrets
    # redacted, unstorable characters replaced); None: the raw body is stored as received.
    rewritten: dict[str, Any] | None = None


# PostgreSQL's jsonb refuses NUL and unpaired surrogates: bodies that escape them are cleaned
# (see load_json) before anything is stored.
_UNSTORABLE = re.compile(
    rb"\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}",
    re.IGNORECASE,
)


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON (Python accepts them; PostgreSQL's jsonb does not).
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(literal: str) -> float:
    """Only finite floats of bounded size: ``1e1000000`` would become ``inf`` (and its text
    overflows PostgreSQL's numeric), a 5,000-digit mantissa costs time for nothing."""
    if len(literal) > MAX_NUMBER_CHARS:
        raise ValueError("number literal too long")
    _, _, exponent = literal.lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise ValueError("number out of range")
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise ValueError("integer literal too long")
    return int(literal)


def _depth_exceeds(doc: Any, limit: int) -> bool:
    """Iterative (never recursive) depth check of a parsed document."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")


def _storable_str(value: str) -> str:
    # After json.loads, a surrogate left in a str is a lone one (pairs became one character).
    return _UNSTORABLE_CHARS.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)


def _storable(node: Any) -> Any:
    """A copy without NULs and lone surrogates (depth is already bounded)."""
    if isinstance(node, str):
        return _storable_str(node)
    if isinstance(node, list):
        return [_storable(v) for v in node]
    if isinstance(node, dict):
        return {_storable_str(k): _storable(v) for k, v in node.items()}
    return node


def load_json(body: bytes) -> tuple[Any, bool]:
    """Strict JSON: UTF-8, no NaN/Infinity, bounded numbers and nesting. Any failure of any
    kind is ``InvalidPayload`` (so a 4xx), whatever the parser's own exception was.

    NUL characters and lone surrogates (a name cut in the middle of an emoji) are valid JSON
    that PostgreSQL cannot store: they are dropped / replaced by U+FFFD, not refused (the
    flag says the document changed)."""
    try:
        doc = json.loads(
            body.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except (ValueError, UnicodeDecodeError, RecursionError, MemoryError) as exc:
        raise InvalidPayload("body is not valid UTF-8 JSON within Mirage's bounds") from exc
    # Nesting: a body with few brackets cannot be deep (the common case costs two counts).
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _depth_exceeds(doc, MAX_DEPTH):
        raise InvalidPayload(f"body is nested deeper than {MAX_DEPTH} levels")
    # Only ``\u`` escapes can spell those (raw control characters are not JSON): the cheap
    # test first, the regex only for bodies that have escapes at all.
    if b"\\u" in body and _UNSTORABLE.search(body):
        return _storable(doc), True
    return doc, False


# Keys whose values are credentials: Evolution puts the instance token in the envelope's
# ``apikey``; anything token-, secret- or password-like is redacted too. Checked on the
# envelope and the first levels of ``data`` only (where gateways put such fields), so the
# cost does not grow with message bodies.
_SECRET_KEY = re.compile(
    r"api[_-]?key|token|jwt|secret|passw|authori[sz]ation|bearer|credential|private[_-]?key"
    r"|session[_-]?id|cookie|^hash$",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
_REDACT_LEVELS = 3
# Payloads repeat the same few dozen key names: remember the verdict per name (bounded).
_key_verdicts: dict[str, bool] = {}


def _secret_key(key: str) -> bool:
    verdict = _key_verdicts.get(key)
    if verdict is None:
        verdict = _SECRET_KEY.search(key) is not None
        if len(_key_verdicts) >= 4096:
            _key_verdicts.clear()
        _key_verdicts[key] = verdict
    return verdict


def redact_secrets(doc: dict[str, Any]) -> bool:
    """Replace secret-looking values in place (envelope and ``data`` up to 3 levels down);
    True when anything was replaced."""
    changed = False
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, list):
            if level < _REDACT_LEVELS:
                stack.extend((v, level + 1) for v in node[:500] if isinstance(v, dict | list))
            continue
        for key, value in node.items():
            if _secret_key(key) and value is not None and value != "":
                node[key] = REDACTED
                changed = True
            elif level < _REDACT_LEVELS and isinstance(value, dict | list):
                stack.append((value, level + 1))
    return changed


def parse_envelope(body: bytes) -> Envelope:
    doc, changed = load_json(body)
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
    data = doc["data"]
    if redact_secrets(doc):
        changed = True
    return Envelope(
        event=canonical_event(event),
        instance=instance,
        data=data,
        sender=sender if isinstance(sender, str) else None,
        date_time=date_time if isinstance(date_time, str) else None,
        rewritten=doc if changed else None,
    )


def stored_payload(env: Envelope, body: bytes) -> str:
    """The text stored in ``webhook_events.payload``: the body as received, or re-serialized
    without its secrets."""
    if env.rewritten is None:
        return body.decode("utf-8")
    return json.dumps(env.rewritten, ensure_ascii=False, separators=(",", ":"))


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


def _req_str(d: dict[str, Any], key: str, *, max_len: int = 120) -> str:
    """A string the payload must carry (``InvalidPayload`` when absent or malformed)."""
    value = _str(d, key, required=True, max_len=max_len)
    if value is None:  # _str raises for a required field; this only narrows the type
        raise InvalidPayload(f"'{key}' is required")
    return value


def _soft_str(d: dict[str, Any], key: str, max_len: int) -> str | None:
    """A field the sender controls (a name, a type, a device): cut to the column's size,
    blank or not a string = absent. Never a reason to refuse an authentic message."""
    value = d.get(key)
    if not isinstance(value, str):
        return None
    value = " ".join(value.replace("\x00", "").split())[:max_len]
    return value or None


def _jid(d: dict[str, Any], key: str, max_len: int = MAX_JID) -> str | None:
    """An optional JID (alternative address, participant, own account): one that cannot be a
    JID (too long, not a string) is dropped rather than refused."""
    value = d.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len or "\x00" in value:
        return None
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
    if isinstance(value, str):
        # ASCII digits only (str.isdigit() accepts any script's digits, and int() of a
        # 5,000-digit string is refused by Python itself), and no more than epoch needs.
        if not (0 < len(value) <= MAX_TIMESTAMP_DIGITS and value.isascii() and value.isdigit()):
            raise InvalidPayload("'messageTimestamp' must be epoch seconds")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPayload("'messageTimestamp' must be epoch seconds")
    if not math.isfinite(value) or not 0 <= value < 32_503_680_000:  # before year 3000
        raise InvalidPayload("'messageTimestamp' is out of range")
    return datetime.fromtimestamp(value, tz=UTC)


# Containers Baileys wraps content in; the content itself is under ``<wrapper>.message``.
WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
_MEDIA = ("imageMessage", "videoMessage", "documentMessage")
_NOT_CONTENT = frozenset({"messageContextInfo", "senderKeyDistributionMessage"})


def unwrap(message: Any) -> dict[str, Any] | None:
    """The message content inside any (nested) ephemeral, view-once, document-with-caption
    or edited wrapper."""
    if not isinstance(message, dict):
        return None
    content: dict[str, Any] = message
    for _ in range(len(WRAPPERS) + 1):  # bounded: wrappers nest a few levels at most
        for wrapper in WRAPPERS:
            inner = content.get(wrapper)
            if isinstance(inner, dict) and isinstance(inner.get("message"), dict):
                content = inner["message"]
                break
        else:
            return content
    return content


def content_type(message: dict[str, Any] | None) -> str | None:
    """Baileys' content key of a (unwrapped) message, as ``getContentType`` names it."""
    if not message:
        return None
    for key, value in message.items():
        if key not in _NOT_CONTENT and value is not None and isinstance(key, str):
            return key[:MAX_TYPE]
    return None


def extract_text(message: Any) -> str | None:
    """The human text of a message: conversation, extended text, a media caption or a
    button/list reply, looked up inside any ephemeral/view-once/document wrapper."""
    content = unwrap(message)
    if content is None:
        return None
    candidates = [content.get("conversation")]
    ext = content.get("extendedTextMessage")
    if isinstance(ext, dict):
        candidates.append(ext.get("text"))
    for media in _MEDIA:
        part = content.get(media)
        if isinstance(part, dict):
            candidates.append(part.get("caption"))
    for reply, field in (
        ("buttonsResponseMessage", "selectedDisplayText"),
        ("templateButtonReplyMessage", "selectedDisplayText"),
        ("listResponseMessage", "title"),
    ):
        part = content.get(reply)
        if isinstance(part, dict):
            candidates.append(part.get(field))
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
    """``messages.upsert`` and ``send.message`` carry one message object (not an array).

    Only the key (who, which message) must be well-formed; everything else the sender
    controls is normalized so that an authentic message is always stored."""
    d = _obj(data, "data")
    key = _obj(d.get("key"), "data.key")
    remote_jid = _req_str(key, "remoteJid", max_len=MAX_JID)
    message_id = _req_str(key, "id", max_len=128)
    from_me = _bool(key, "fromMe")
    default = MessageStatus.PENDING if from_me else MessageStatus.DELIVERY_ACK
    try:
        status = _status(d["status"]) if d.get("status") is not None else default
    except InvalidPayload:
        status = default  # a status this build does not know: the message still counts
    content = unwrap(d.get("message"))
    message_type = _soft_str(d, "messageType", MAX_TYPE)
    if message_type is None or message_type in WRAPPERS:
        message_type = content_type(content) or message_type or "unknown"
    return NormalizedMessage(
        provider_message_id=message_id,
        from_me=from_me,
        remote_jid=remote_jid,
        # Newer builds say remoteJidAlt, older ones senderPn (reference §5.5, LID).
        remote_jid_alt=_jid(key, "remoteJidAlt") or _jid(key, "senderPn"),
        participant=_jid(key, "participant"),
        push_name=_soft_str(d, "pushName", MAX_NAME),
        message_type=message_type,
        text=extract_text(content),
        status=status,
        provider_timestamp=_timestamp(d.get("messageTimestamp")),
        source=_soft_str(d, "source", MAX_SOURCE),
    )


@dataclass(frozen=True)
class MessageEdit:
    """An edit of an earlier message (found by its provider id in the same instance)."""

    provider_message_id: str  # the edited (original) message
    remote_jid: str
    from_me: bool
    text: str | None
    edited_at: datetime | None  # the sender's time of the edit, when given


_EDIT_TYPES = (14, "MESSAGE_EDIT")


def _epoch_ms(value: Any) -> datetime | None:
    """``timestampMs`` as a number, a digit string or a protobuf Long; None when unusable."""
    if isinstance(value, dict):
        low, high = value.get("low"), value.get("high")
        value = (
            (high << 32) + (low & 0xFFFFFFFF)
            if isinstance(low, int) and isinstance(high, int)
            else None
        )
    if isinstance(value, str) and 0 < len(value) <= 16 and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 < value < 32_503_680_000_000:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def edit_of(protocol: Any, *, fallback_at: datetime | None = None) -> MessageEdit | None:
    """A ``protocolMessage`` of type MESSAGE_EDIT as an edit; None for any other protocol
    message (revoke, ephemeral setting, …), which is stored raw only."""
    if not isinstance(protocol, dict) or protocol.get("type") not in _EDIT_TYPES:
        return None
    key = _obj(protocol.get("key"), "protocolMessage.key")
    remote_jid = _req_str(key, "remoteJid", max_len=MAX_JID)
    message_id = _req_str(key, "id", max_len=128)
    return MessageEdit(
        provider_message_id=message_id,
        remote_jid=remote_jid,
        from_me=_bool(key, "fromMe"),
        text=extract_text(protocol.get("editedMessage")),
        edited_at=_epoch_ms(protocol.get("timestampMs")) or fallback_at,
    )


def upsert_edit(data: Any) -> MessageEdit | None:
    """A ``messages.upsert``/``send.message`` whose content is an edit (older builds, and
    ``editedMessage`` wrappers): the edit, else None."""
    if not isinstance(data, dict):
        return None
    content = unwrap(data.get("message"))
    if content is None or not isinstance(content.get("protocolMessage"), dict):
        return None
    try:
        at = _timestamp(data.get("messageTimestamp"))
    except InvalidPayload:
        at = None
    return edit_of(content["protocolMessage"], fallback_at=at)


def parse_edit(data: Any) -> MessageEdit | None:
    """``messages.edited``/``send.message.update``: ``data`` is the protocolMessage itself
    (Evolution 2.3), or a message object wrapping one. Other shapes carry no edit (the raw
    event is kept)."""
    if not isinstance(data, dict):
        return None
    d = data
    if "message" in d and "editedMessage" not in d:
        return upsert_edit(d)
    return edit_of(d)


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    remote_jid: str
    from_me: bool
    status: MessageStatus


def parse_status_updates(data: Any) -> list[StatusUpdate]:
    """``messages.update``: one receipt object (some builds send a list of them).

    ``DELETED`` there is not a deletion: Evolution writes it when Baileys' update has no
    status (an edit, a poll vote); deletions come as ``messages.delete``. Such items carry no
    receipt and are kept in the raw event only (never marking an edited message deleted)."""
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
        status = _status(d.get("status"))
        if status is not MessageStatus.DELETED:
            updates.append(StatusUpdate(message_id, remote, from_me, status))
    return updates


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
    return ConnectionUpdate(
        parsed, reason, _jid(d, "wuid", MAX_OWN_JID), _soft_str(d, "profileName", MAX_NAME)
    )


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
