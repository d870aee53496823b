"""Record sensitive actions (who, what, when, from where, correlation id)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import enum
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import correlation, i18n
from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_
from mirage.models import AuditEvent
from mirage.ops.repository import AuditRepository

if TYPE_CHECKING:  # auth records through this module: a type only, never an import
    from mirage.auth.principal import Principal


# Every action the audit log records, with the label the activity log shows (a catalog id,
# translated when shown). ``record`` refuses a code that is not here, and
# tests/ops/test_audit_labels.py checks every code the code base records against it: a new
# action cannot ship without its label.
ACTIONS: dict[str, str] = {
    "auth.sign_in": N_("Signed in"),
    "auth.sign_out": N_("Signed out"),
    "auth.switch_tenant": N_("Switched to this tenant"),
    "api_token.create": N_("API token created"),
    "api_token.revoke": N_("API token revoked"),
    "api_token.expired": N_("API token expired"),
    "settings.update": N_("Settings changed"),
    "security.update": N_("Security settings changed"),
    "mfa.enroll": N_("Two-factor authentication turned on"),
    "mfa.disable": N_("Two-factor authentication turned off"),
    "mfa.step_up": N_("Identity confirmed with an authenticator code"),
    "mfa.step_up_failed": N_("Wrong two-factor code entered"),
    "mfa.recovery_code_used": N_("Recovery code used"),
    "mfa.recovery_codes_regenerated": N_("New recovery codes generated"),
    "invitation.create": N_("Invitation created"),
    "invitation.revoke": N_("Invitation revoked"),
    "invitation.accept": N_("Invitation accepted"),
    "member.role_change": N_("Member's role changed"),
    "member.remove": N_("Member removed"),
    "instance.create": N_("Number added"),
    "instance.pairing_code": N_("Pairing code requested for a number"),
    "instance.restart": N_("Number restarted"),
    "instance.logout": N_("Number disconnected"),
    "instance.pause": N_("Number paused"),
    "instance.resume": N_("Number resumed"),
    "instance.delete": N_("Number deleted"),
    "instance.quarantine": N_("Number quarantined"),
    "instance.release": N_("Number released from quarantine"),
    "alert.test": N_("Test safety alert sent"),
    "persona.create": N_("Persona created"),
    "persona.update": N_("Persona changed"),
    "persona.delete": N_("Persona deleted"),
    "conversation.create": N_("Conversation created"),
    "conversation.update": N_("Conversation changed"),
    "conversation.pause": N_("Conversation paused"),
    "conversation.resume": N_("Conversation resumed"),
    "conversation.delete": N_("Conversation deleted"),
    "schedule.default_update": N_("Default schedule changed"),
    "contact.create": N_("Contact created"),
    "contact.update": N_("Contact changed"),
    "contact.consent": N_("Contact's consent changed"),
    "contact.deleted": N_("Contact deleted"),
    "tag.create": N_("Tag created"),
    "tag.update": N_("Tag changed"),
    "tag.delete": N_("Tag deleted"),
    "tag.apply": N_("Tag added to contacts"),
    "tag.remove": N_("Tag removed from contacts"),
    "contact_import.start": N_("Contact import started"),
    "contact_import.cancel": N_("Contact import cancelled"),
    "suppression.added": N_("Number added to the do-not-contact list"),
    "suppression.removed": N_("Number removed from the do-not-contact list"),
    "suppression.confirmed": N_("Probable opt-out confirmed (now an opt-out)"),
    "data_request.find": N_("Data request: find a person's data"),
    "data_request.export": N_("Data request: export a person's data"),
    "data_request.erase": N_("Data request: erase a person's data"),
    "outreach_policy.create": N_("Outreach policy created"),
    "outreach_policy.update": N_("Outreach policy changed"),
    "outreach_policy.delete": N_("Outreach policy deleted"),
    "campaign.create": N_("Campaign created"),
    "campaign.update": N_("Campaign changed"),
    "campaign.delete": N_("Campaign deleted"),
    "campaign.start": N_("Campaign started"),
    "campaign.pause": N_("Campaign paused"),
    "campaign.resume": N_("Campaign resumed"),
    "campaign.cancel": N_("Campaign cancelled"),
    "campaign.test_send": N_("Campaign test message sent"),
}


# What an event can be about, with the label the audit page's filter shows.
TARGET_TYPES: dict[str, str] = {
    "api_token": N_("API token"),
    "campaign": N_("Campaign"),
    "contact": N_("Contact"),
    "contact_import": N_("Contact import"),
    "conversation": N_("Conversation"),
    "data_request": N_("Data request"),
    "instance": N_("Number"),
    "invitation": N_("Invitation"),
    "member": N_("Team member"),
    "outreach_policy": N_("Outreach policy"),
    "persona": N_("Persona"),
    "session": N_("Session"),
    "suppression": N_("Do-not-contact entry"),
    "tag": N_("Tag"),
    "tenant": N_("Tenant"),
    "tenant_settings": N_("Settings"),
    "user": N_("User"),
}


# How the audit page names a changed field (catalog ids). Domains register their forms' labels
# at import (``label_fields``), so a field reads as the form the user changed it in; these are
# the fields no form names.
FIELD_LABELS: dict[str, str] = {
    "role": N_("Role"),
    "topics": N_("Topics"),
    "delays": N_("Delays"),
    "participants": N_("Participants"),
    "schedule": N_("Schedule"),
    "kill_switch": N_("Kill switch"),
    "consent_state": N_("Consent"),
    "legal_basis": N_("Legal basis"),
    "variants": N_("Message variants"),
    "policy_id": N_("Sending policy"),
    "include_tag_ids": N_("Tags included"),
    "exclude_tag_ids": N_("Tags excluded"),
    "windows": N_("Weekly windows"),
}


def label_fields(labels: Mapping[str, str]) -> None:
    """Register field labels (catalog ids) for the audit page; the first label of a name wins."""
    for name, text in labels.items():
        FIELD_LABELS.setdefault(name, text)


class UnknownAuditAction(ValueError):
    """A programming error: an audit action without an entry (and a label) in ACTIONS."""


def label(action: str) -> str:
    """The activity log's label for an action code (a catalog id; the code if unknown, e.g.
    an old row whose action was since renamed)."""
    return ACTIONS.get(action, action)


# Field names whose values never reach the log (keys, tokens, passwords, TOTP secrets, their
# encrypted forms): a change to one is recorded as "changed", never with its value.
SECRET_FIELDS = frozenset(
    {"password", "secret", "token", "plaintext", "code", "codes", "recovery_codes", "api_key"}
)
SECRET_SUFFIXES = ("_secret", "_password", "_enc", "_key", "_token", "_hash_secret")
REDACTED = "[redacted]"


def is_secret(field: str) -> bool:
    name = field.lower()
    return name in SECRET_FIELDS or name.endswith(SECRET_SUFFIXES)


def plain(value: Any) -> Any:
    """A value as JSON stores it (ids and times as text, enums by value, sets sorted)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=str)
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        return [plain(v) for v in value]
    if hasattr(value, "model_dump"):  # a Pydantic model (a schedule, a delay range)
        return plain(value.model_dump(mode="json"))
    return str(value)


def redact(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` with every secret-named value replaced, at any depth."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if is_secret(key):
            out[key] = REDACTED if value not in (None, "") else None
        elif isinstance(value, Mapping):
            out[key] = redact(value)
        else:
            out[key] = plain(value)
    return out


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The named attributes of ``obj``, JSON-ready: the "before" (or "after") of a change."""
    return {f: plain(getattr(obj, f)) for f in fields}


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Only the fields that changed, as ``{field: {"from": old, "to": new}}``; a secret field
    says only that it changed (its values are ``[redacted]``, or None when unset)."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = plain(before.get(key)), plain(after.get(key))
        if old == new:
            continue
        if is_secret(key):
            old = REDACTED if old not in (None, "") else None
            new = REDACTED if new not in (None, "") else None
        out[key] = {"from": old, "to": new}
    return out


def _fields(snapshot: Any) -> dict[str, Any]:
    value = plain(snapshot)
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"value": value}


async def record(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    action: str,
    principal: Principal | None = None,
    user_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: str | uuid.UUID | None = None,
    ip: str | None = None,
    before: Any = None,
    after: Any = None,
    **details: Any,
) -> None:
    """Append one event. Who (the principal: a user or a token), what, on which target, from
    where (IP, the request's user agent) and under which correlation id come from the
    arguments and the request's context; ``before``/``after`` (snapshots of the changed
    object: mappings or dataclasses) are stored as the fields that changed. Secret-named
    values are never stored."""
    if action not in ACTIONS:
        raise UnknownAuditAction(f"audit action {action!r} is not in mirage.ops.audit.ACTIONS")
    body = redact(details)
    if before is not None or after is not None:
        body["changes"] = changes(_fields(before), _fields(after))
    await AuditRepository(session).add(
        AuditEvent(
            tenant_id=tenant_id,
            actor_user_id=principal.user_id if principal else user_id,
            actor_token_id=principal.token_id if principal else None,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id else None,
            ip=(principal.ip if principal else None) or ip,
            user_agent=correlation.current_user_agent(),
            correlation_id=correlation.current(),
            details=body,
        )
    )


# --- reading: the audit page, the API and the CSV ----------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page, the API and the export filter by (all optional, combined)."""

    actions: tuple[str, ...] = ()
    actor: uuid.UUID | None = None
    target_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


ACTION_GROUP = re.compile(r"^[a-z_]{1,40}$")


def build_filter(
    *,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilter:
    """Check the filters as typed (the API's query, the page's form): an action is a code of
    ACTIONS or its group (``campaign`` for every ``campaign.*``), the actor a user's or a
    token's id, the target type one of TARGET_TYPES. Anything else is a 422 naming its field."""
    actions: tuple[str, ...] = ()
    if action:
        if action in ACTIONS:
            actions = (action,)
        elif ACTION_GROUP.match(action) and (
            group := tuple(code for code in ACTIONS if code.split(".", 1)[0] == action)
        ):
            actions = group
        else:
            raise ValidationFailed(N_("unknown action"), field="action")
    actor_id = None
    if actor:
        try:
            actor_id = uuid.UUID(actor)
        except ValueError:
            raise ValidationFailed(
                N_("the actor must be the id of a member or an API token"), field="actor"
            ) from None
    if target_type and target_type not in TARGET_TYPES:
        raise ValidationFailed(N_("unknown target type"), field="target_type")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(
                N_("give the time with its offset (e.g. 2026-03-01T00:00:00-03:00)"),
                field=name,
            )
    if since is not None and until is not None and until <= since:
        raise ValidationFailed(N_("the end of the period must be after its start"), field="until")
    return AuditFilter(actions, actor_id, target_type or None, since, until)


def encode_cursor(event: AuditEvent) -> str:
    raw = json.dumps([event.created_at.isoformat(), str(event.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        if len(cursor) > 200:
            raise ValueError
        at, rid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed, uuid.UUID(rid)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed(
            N_("invalid cursor: use next_cursor from a previous page"), field="cursor"
        ) from None


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEvent]
    next_cursor: str | None


async def search(
    session: AsyncSession, f: AuditFilter, *, cursor: str | None = None, limit: int = 50
) -> AuditPage:
    """One page of the tenant's events (RLS), newest first; ``next_cursor`` continues it."""
    after = decode_cursor(cursor)
    rows = list(await AuditRepository(session).search(f, after, limit + 1))
    more = len(rows) > limit
    items = rows[:limit]
    return AuditPage(items, encode_cursor(items[-1]) if more and items else None)


def value_text(locale: str | None, value: Any) -> str:
    """A stored value as a person reads it: yes/no, lists joined, nothing as a dash."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return i18n.text(locale, N_("yes") if value else N_("no"))
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(value_text(locale, v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class Change:
    field: str  # a catalog id when the field has a label, else the field's name in words
    before: str
    after: str


def described_changes(event: AuditEvent, locale: str | None) -> list[Change]:
    """The event's before → after, field by field, as text (empty when it has none)."""
    raw = (event.details or {}).get("changes") or {}
    if not isinstance(raw, dict):
        return []
    return [
        Change(
            FIELD_LABELS.get(field) or field.replace("_", " "),
            value_text(locale, pair.get("from")),
            value_text(locale, pair.get("to")),
        )
        for field, pair in raw.items()
        if isinstance(pair, dict)
    ]


def other_details(event: AuditEvent) -> dict[str, Any]:
    """Details other than the changes (a name, a reason, a count), for display."""
    return {k: v for k, v in (event.details or {}).items() if k != "changes"}


CSV_HEADER = (
    "time",
    "action",
    "action_label",
    "actor",
    "actor_user_id",
    "actor_token_id",
    "target_type",
    "target_id",
    "changes",
    "details",
    "ip",
    "user_agent",
    "correlation_id",
)


def _csv_cell(value: str) -> str:
    # A spreadsheet must not read a cell as a formula (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_line(cells: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([_csv_cell(c) for c in cells])
    return buf.getvalue()


async def export_csv(
    tenant_id: uuid.UUID,
    f: AuditFilter,
    *,
    zone: str,
    locale: str | None,
    names: Mapping[uuid.UUID, str],
    page_size: int = 1000,
) -> AsyncIterator[str]:
    """The filtered events as CSV lines, streamed: each page is read in its own short
    transaction under the tenant's context, so an export of any size holds no connection
    between pages and keeps memory bounded. Times in the tenant's zone, with their offset."""
    tz = ZoneInfo(zone)
    yield "\ufeff" + _csv_line(CSV_HEADER)  # the BOM: spreadsheets then read UTF-8
    cursor: str | None = None
    while True:
        with tenant_context(tenant_id):
            async with session_scope() as session:
                page = await search(session, f, cursor=cursor, limit=page_size)
        chunk = []
        for e in page.items:
            actor_id = e.actor_user_id or e.actor_token_id
            changes = "; ".join(
                f"{i18n.text(locale, c.field)}: {c.before} → {c.after}"
                for c in described_changes(e, locale)
            )
            chunk.append(
                _csv_line(
                    (
                        e.created_at.astimezone(tz).isoformat(timespec="seconds"),
                        e.action,
                        i18n.text(locale, label(e.action)),
                        names.get(actor_id, "") if actor_id else "",
                        str(e.actor_user_id or ""),
                        str(e.actor_token_id or ""),
                        e.target_type or "",
                        e.target_id or "",
                        changes,
                        json.dumps(other_details(e), ensure_ascii=False, sort_keys=True)
                        if other_details(e)
                        else "",
                        e.ip or "",
                        e.user_agent or "",
                        e.correlation_id or "",
                    )
                )
            )
        if chunk:
            yield "".join(chunk)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def recent(session: AsyncSession, limit: int = 50) -> list[AuditEvent]:
    """The tenant's latest audit events, newest first (RLS: the session's tenant only)."""
    rows: Sequence[AuditEvent] = await AuditRepository(session).recent(limit)
    return list(rows)
