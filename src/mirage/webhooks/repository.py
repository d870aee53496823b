"""Writes of the webhook path: raw events and idempotent, order-tolerant message upserts."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import pipelined_one
from mirage.providers.models import MessageStatus
from mirage.webhooks import normalize as n

_INSERT_EVENT = text(
    "insert into webhook_events (tenant_id, instance_id, event, correlation_id, payload) "
    "values (:tenant_id, :instance_id, :event, :cid, cast(:payload as jsonb))"
)

# One statement per message fact. The unique key makes redelivery a no-op; the CASE/greatest
# pair makes statuses monotonic whatever order receipts arrive in; a receipt that arrives
# before its message creates a stub the message later fills in.
_UPSERT_SQL = """
    insert into messages as m (
        id, tenant_id, instance_id, provider_message_id, direction, from_me, remote_jid,
        remote_jid_alt, participant, push_name, message_type, text, source, status,
        status_rank, status_history, provider_timestamp)
    values (
        :id, :tenant_id, :instance_id, :provider_message_id, :direction, :from_me,
        :remote_jid, :remote_jid_alt, :participant, :push_name, :message_type, :text, :source,
        :status, :rank,
        jsonb_build_array(jsonb_build_object('status', cast(:hist_status as text), 'at', now())),
        :provider_timestamp)
    on conflict (tenant_id, instance_id, provider_message_id) do update set
        status = case when excluded.status_rank > m.status_rank then excluded.status
                      else m.status end,
        status_rank = greatest(m.status_rank, excluded.status_rank),
        status_history = case
            when m.status_history
                 @> jsonb_build_array(jsonb_build_object('status', excluded.status))
            then m.status_history
            else m.status_history || excluded.status_history end,
        message_type = case when m.message_type = 'unknown' then excluded.message_type
                            else m.message_type end,
        text = coalesce(m.text, excluded.text),
        remote_jid_alt = coalesce(m.remote_jid_alt, excluded.remote_jid_alt),
        participant = coalesce(m.participant, excluded.participant),
        push_name = coalesce(m.push_name, excluded.push_name),
        source = coalesce(m.source, excluded.source),
        provider_timestamp = coalesce(m.provider_timestamp, excluded.provider_timestamp),
        updated_at = now()
    returning (xmax = 0) as inserted, m.id
"""
_UPSERT_MESSAGE = text(_UPSERT_SQL)

# An edit replaces the text of the message it names (same tenant and instance), keeping the
# time of the edit; an older edit arriving after a newer one changes nothing. An edit that
# arrives before its message leaves a stub the message fills in (its text stays the edit's).
_APPLY_EDIT = text(
    """
    insert into messages as m (
        id, tenant_id, instance_id, provider_message_id, direction, from_me, remote_jid,
        message_type, text, status, status_rank, status_history, edited_at)
    values (
        :id, :tenant_id, :instance_id, :provider_message_id, :direction, :from_me,
        :remote_jid, 'unknown', :text, :status, :rank,
        jsonb_build_array(jsonb_build_object('status', cast(:hist_status as text), 'at', now())),
        coalesce(cast(:edited_at as timestamptz), now()))
    on conflict (tenant_id, instance_id, provider_message_id) do update set
        text = case when m.edited_at is null or excluded.edited_at >= m.edited_at
                    then coalesce(excluded.text, m.text) else m.text end,
        edited_at = greatest(m.edited_at, excluded.edited_at),
        updated_at = now()
    returning m.id
    """
)
# The hot path: the raw event and its message fact in one statement (one round trip).
_EVENT_AND_MESSAGE = text(
    "with raw_event as (insert into webhook_events (tenant_id, instance_id, event, "
    "correlation_id, payload) values (:tenant_id, :instance_id, :event, :cid, "
    "cast(:payload as jsonb)))" + _UPSERT_SQL
)


# The columns a fact may leave empty (a receipt names its message only); the fact's own
# fields (normalize.NormalizedMessage, normalize.StatusUpdate) fill them by name.
_FACT_DEFAULTS: dict[str, object] = {
    **{f.name: None for f in dataclasses.fields(n.NormalizedMessage)},
    "message_type": "unknown",
}


def message_params(
    tenant_id: uuid.UUID, instance_id: uuid.UUID, fact: n.NormalizedMessage | n.StatusUpdate
) -> dict[str, object]:
    """The upsert's parameters for one message fact: its fields by name, plus what they imply
    (direction, the status's rank and history entry)."""
    status = fact.status
    return {
        **_FACT_DEFAULTS,
        **vars(fact),
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "instance_id": instance_id,
        "direction": direction(fact.from_me),
        "status": status.value,
        "hist_status": status.value,
        "rank": status.rank,
    }


def direction(from_me: bool) -> str:
    return "outbound" if from_me else "inbound"


# The hot path: the raw event, the message upsert and the lookup of a round awaiting this
# (inbound) message, as ONE statement. Data-modifying CTEs run exactly once whether or not the
# final SELECT reads them.
_INGEST = text(
    "with raw_event as (insert into webhook_events (tenant_id, instance_id, event, "
    "correlation_id, payload) values (:tenant_id, :instance_id, :event, :cid, "
    "cast(:payload as jsonb))), upserted as (" + _UPSERT_SQL + ") "
    "select (select r.id from rounds r where r.state = 'running' "
    "and r.awaiting_instance_id = :instance_id and r.awaiting_from_jid = any(:jids) limit 1), "
    "(select id from upserted), (select inserted from upserted)"
)


class AwaitedReply(NamedTuple):
    """A running round awaited this inbound message, stored as ``message_id``."""

    round_id: uuid.UUID
    message_id: uuid.UUID


async def ingest_message_pipelined(
    params: dict[str, object], *, reply_jids: list[str] | None = None
) -> AwaitedReply | None:
    """The ingest statement in its own transaction under the current tenant context (the
    caller's ``tenant_context``), context and statement pipelined: one network round trip,
    then COMMIT (``db.engine.pipelined_one``). Says which running round awaited this (inbound)
    message, if one did."""
    row = await pipelined_one(_INGEST, {**params, "jids": reply_jids or []})
    return AwaitedReply(row[0], row[1]) if row and row[0] and row[1] else None


class Ingested(NamedTuple):
    """What the ingest statement did: the stored message's id, whether this call inserted it
    (a redelivery does not), and the running round that awaited it, if one did."""

    message_id: uuid.UUID
    inserted: bool
    awaited: AwaitedReply | None


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ingest_message(
        self, params: dict[str, object], *, reply_jids: list[str] | None = None
    ) -> Ingested:
        """The hot path's statement (raw event, message upsert, awaited round) inside this
        session's transaction: for a message whose effects must commit with it (an opt-out)."""
        row = (await self.session.execute(_INGEST, {**params, "jids": reply_jids or []})).one()
        awaited = AwaitedReply(row[0], row[1]) if row[0] and row[1] else None
        return Ingested(uuid.UUID(str(row[1])), bool(row[2]), awaited)

    async def insert_event(
        self,
        *,
        tenant_id: uuid.UUID,
        instance_id: uuid.UUID,
        event: str,
        cid: str | None,
        payload: str,
    ) -> None:
        await self.session.execute(
            _INSERT_EVENT,
            {
                "tenant_id": tenant_id,
                "instance_id": instance_id,
                "event": event,
                "cid": cid,
                "payload": payload,
            },
        )

    async def upsert_message(
        self,
        params: dict[str, object],
        *,
        raw_event: tuple[str, str | None, str] | None = None,
    ) -> bool:
        """``params`` from ``message_params``; ``raw_event`` (event, correlation id, raw JSON
        body) is stored with the fact, in one statement."""
        statement = _UPSERT_MESSAGE
        if raw_event is not None:
            statement = _EVENT_AND_MESSAGE
            params = {**params, "event": raw_event[0], "cid": raw_event[1], "payload": raw_event[2]}
        row = await self.session.execute(statement, params)
        return bool(row.scalar_one())

    async def apply_edit(
        self, tenant_id: uuid.UUID, instance_id: uuid.UUID, edit: n.MessageEdit
    ) -> uuid.UUID:
        status = MessageStatus.PENDING if edit.from_me else MessageStatus.DELIVERY_ACK
        row = await self.session.execute(
            _APPLY_EDIT,
            {
                **vars(edit),
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "instance_id": instance_id,
                "direction": direction(edit.from_me),
                "status": status.value,
                "hist_status": status.value,
                "rank": status.rank,
            },
        )
        return uuid.UUID(str(row.scalar_one()))

    async def prune_events(self, older_than: timedelta) -> int:
        result = await self.session.execute(
            text("delete from webhook_events where received_at < now() - :age"),
            {"age": older_than},
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def dumps(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
