"""The metrics domain's SQL: folding raw facts into the rollup tables (maintenance, admin
session) and reading the rollups for pages and the API (request paths, tenant session under
row-level security).

Other domains' tables (messages, outgoing_messages, policy_decisions, rounds, consent_events,
instances, campaigns, campaign_recipients) are read here with this domain's own SQL, never
through their repositories.

Every fold is set-based: the buckets touched by facts changed since a point in time are
collected into a temporary table, their rollup rows are deleted and recomputed from the raw
rows of those buckets only. The joins name the bucket twice: as a range (an index range scan
per bucket when few are touched) and as an equality on the truncated hour (a hash join when
many are, as in a rebuild: a range alone would compare every message with every bucket).
A bucket recomputed twice gives the same rows (idempotent), and a
status that changes after its message was counted (a late receipt) touches its bucket again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

NIL = uuid.UUID(int=0)
# Serialises refreshes and rebuilds across workers and processes (transaction-scoped).
LOCK_KEY = "select pg_advisory_xact_lock(hashtext('mirage.metrics.refresh'))"

# --- folding (admin session: explicit cross-tenant maintenance) -----------------------------

_TOUCHED_TABLES = """
create temp table if not exists metrics_touched_messages
    (tenant_id uuid not null, instance_id uuid not null, hour timestamptz not null)
    on commit drop;
create temp table if not exists metrics_touched_hours
    (tenant_id uuid not null, hour timestamptz not null) on commit drop;
create temp table if not exists metrics_touched_rounds
    (tenant_id uuid not null, hour timestamptz not null) on commit drop;
create temp table if not exists metrics_touched_campaigns
    (tenant_id uuid not null, campaign_id uuid not null) on commit drop;
"""

# The (tenant, number, hour) buckets whose counts may have changed since :since — a message
# inserted or updated (receipts, edits), an outgoing message whose provider id was recorded
# (its kind), an opt-out recorded for an inbound message. :tenant limits to one tenant.
_TOUCH_MESSAGES = text(
    """
    insert into metrics_touched_messages (tenant_id, instance_id, hour)
    select tenant_id, instance_id, date_trunc('hour', created_at, 'UTC') from messages
     where updated_at >= :since and (cast(:tenant as uuid) is null or tenant_id = :tenant)
    union
    select m.tenant_id, m.instance_id, date_trunc('hour', m.created_at, 'UTC')
      from outgoing_messages o
      join messages m on m.tenant_id = o.tenant_id and m.instance_id = o.instance_id
                     and m.provider_message_id = o.provider_message_id
     where o.provider_message_id is not null and o.sent_at >= :since
       and (cast(:tenant as uuid) is null or o.tenant_id = :tenant)
    union
    select m.tenant_id, m.instance_id, date_trunc('hour', m.created_at, 'UTC')
      from outgoing_messages o
      join instances s on s.id = o.instance_id and s.owner_jid is not null
      join instances r on r.tenant_id = o.tenant_id
      join messages m on m.tenant_id = o.tenant_id and m.instance_id = r.id
                     and m.provider_message_id = o.provider_message_id
                     and m.direction = 'inbound' and m.remote_jid = s.owner_jid
     where o.provider_message_id is not null and o.sent_at >= :since
       and o.conversation_id is not null
       and (cast(:tenant as uuid) is null or o.tenant_id = :tenant)
    union
    select m.tenant_id, m.instance_id, date_trunc('hour', m.created_at, 'UTC')
      from consent_events c join messages m on m.id = c.message_id
     where c.kind = 'opt_out' and c.message_id is not null and c.created_at >= :since
       and (cast(:tenant as uuid) is null or c.tenant_id = :tenant)
    """
)
_TOUCH_DECISIONS = text(
    """
    insert into metrics_touched_hours (tenant_id, hour)
    select distinct tenant_id, date_trunc('hour', created_at, 'UTC') from policy_decisions
     where created_at >= :since and (cast(:tenant as uuid) is null or tenant_id = :tenant)
    """
)
_TOUCH_ROUNDS = text(
    """
    insert into metrics_touched_rounds (tenant_id, hour)
    select distinct tenant_id, date_trunc('hour', ended_at, 'UTC') from rounds
     where ended_at >= :since and (cast(:tenant as uuid) is null or tenant_id = :tenant)
    """
)

# The campaigns one of whose recipients was frozen or changed status since :since (every update
# moves updated_at: a trigger keeps it, migration 0020).
_TOUCH_CAMPAIGNS = text(
    """
    insert into metrics_touched_campaigns (tenant_id, campaign_id)
    select distinct tenant_id, campaign_id from campaign_recipients
     where updated_at >= :since and (cast(:tenant as uuid) is null or tenant_id = :tenant)
    """
)

# A message's kind: its owner when known (campaign, warm-up round), else what the send
# pipeline recorded for that provider id (an opt-out confirmation counts with the campaigns:
# outreach, and the kinds stay three), else an inbound message from one of the tenant's own
# numbers is warm-up; anything else is manual (sent or received outside Mirage's pipeline).
KIND_SQL = """
    case when m.campaign_id is not null then 'campaign'
         when m.round_id is not null then 'warmup'
         when o.purpose = 'optout_confirm' then 'campaign'
         when o.purpose is not null then o.purpose
         when m.direction = 'inbound' and m.remote_jid in (
              select i.owner_jid from instances i
               where i.tenant_id = m.tenant_id and i.owner_jid is not null) then 'warmup'
         else 'manual' end
"""
OUTGOING_JOIN = """
    left join lateral (
        select og.purpose, og.conversation_id from outgoing_messages og
         where og.tenant_id = m.tenant_id and og.instance_id = m.instance_id
           and og.provider_message_id = m.provider_message_id
         limit 1) o on true
    left join lateral (
        select og.conversation_id from instances s
          join outgoing_messages og on og.tenant_id = s.tenant_id and og.instance_id = s.id
                                   and og.provider_message_id = m.provider_message_id
         where m.direction = 'inbound' and m.conversation_id is null
           and s.tenant_id = m.tenant_id and s.owner_jid = m.remote_jid
           and og.conversation_id is not null
         limit 1) oi on true
"""
# A message's warm-up conversation (the nil UUID for none): its own, else the one of the send
# that wrote it — this number's (outbound) or, for an inbound message from one of the tenant's
# own numbers, that number's send with the same provider id (WhatsApp keeps the id across).
CONVERSATION_SQL = f"coalesce(m.conversation_id, o.conversation_id, oi.conversation_id, '{NIL}')"
# The outcomes of one message, as filters over a group of them. A reply is an inbound message
# from a contact the number wrote to in the 24 hours before it.
OUTCOMES_SQL = """
    count(*),
    count(*) filter (where m.direction = 'outbound' and m.status_rank between 3 and 5),
    count(*) filter (where m.direction = 'outbound' and m.status_rank between 4 and 5),
    count(*) filter (where m.direction = 'inbound' and exists (
        select 1 from messages p
         where p.tenant_id = m.tenant_id and p.instance_id = m.instance_id
           and p.direction = 'outbound' and p.remote_jid = m.remote_jid
           and p.created_at < m.created_at
           and p.created_at >= m.created_at - interval '24 hours')),
    count(*) filter (where m.status = 'ERROR'),
    count(*) filter (where m.direction = 'inbound' and exists (
        select 1 from consent_events c
         where c.message_id = m.id and c.kind = 'opt_out' and c.tenant_id = m.tenant_id))
"""

_RECOMPUTE_MESSAGES = [
    text(
        """
        delete from metrics_message_hours r using metrics_touched_messages t
         where r.tenant_id = t.tenant_id and r.instance_id = t.instance_id and r.hour = t.hour
        """
    ),
    text(
        f"""
        insert into metrics_message_hours (tenant_id, instance_id, hour, direction, kind,
            conversation_id, messages, delivered, read, replied, failed, opted_out)
        select m.tenant_id, m.instance_id, t.hour, m.direction, {KIND_SQL}, {CONVERSATION_SQL},
               {OUTCOMES_SQL}
          from (select distinct tenant_id, instance_id, hour from metrics_touched_messages) t
          join messages m on m.tenant_id = t.tenant_id and m.instance_id = t.instance_id
                         and m.created_at >= t.hour and m.created_at < t.hour + interval '1 hour'
                         and date_trunc('hour', m.created_at, 'UTC') = t.hour
          {OUTGOING_JOIN}
         group by 1, 2, 3, 4, 5, 6
        """
    ),
]
# The tenant-wide hours, summed from the number-hours just recomputed.
_TOUCHED_TENANT_HOURS = "(select distinct tenant_id, hour from metrics_touched_messages)"
_RECOMPUTE_TENANT_HOURS = [
    text(
        f"""
        delete from metrics_tenant_hours r using {_TOUCHED_TENANT_HOURS} t
         where r.tenant_id = t.tenant_id and r.hour = t.hour
        """
    ),
    text(
        f"""
        insert into metrics_tenant_hours (tenant_id, hour, direction, kind, messages, delivered,
            read, replied, failed, opted_out)
        select r.tenant_id, r.hour, r.direction, r.kind, sum(r.messages), sum(r.delivered),
               sum(r.read), sum(r.replied), sum(r.failed), sum(r.opted_out)
          from {_TOUCHED_TENANT_HOURS} t
          join metrics_message_hours r on r.tenant_id = t.tenant_id and r.hour = t.hour
         group by 1, 2, 3, 4
        """
    ),
]
# The number-days (in the tenant's zone) holding a touched hour, summed from number-hours.
_TOUCHED_DAYS = """
    (select distinct t.tenant_id, t.instance_id, z.zone,
            (t.hour at time zone z.zone)::date as day
       from metrics_touched_messages t
       join (select id, coalesce(timezone, 'UTC') as zone from tenants) z
         on z.id = t.tenant_id)
"""
_RECOMPUTE_NUMBER_DAYS = [
    text(
        f"""
        delete from metrics_number_days r using {_TOUCHED_DAYS} d
         where r.tenant_id = d.tenant_id and r.instance_id = d.instance_id and r.day = d.day
        """
    ),
    text(
        f"""
        insert into metrics_number_days (tenant_id, instance_id, day, sent, received,
            delivered, read, replied, failed, opted_out)
        select d.tenant_id, d.instance_id, d.day,
               coalesce(sum(r.messages) filter (where r.direction = 'outbound'), 0),
               coalesce(sum(r.messages) filter (where r.direction = 'inbound'), 0),
               sum(r.delivered), sum(r.read), sum(r.replied), sum(r.failed), sum(r.opted_out)
          from {_TOUCHED_DAYS} d
          join metrics_message_hours r
            on r.tenant_id = d.tenant_id and r.instance_id = d.instance_id
           and r.hour >= (d.day::timestamp at time zone d.zone)
           and r.hour < ((d.day + 1)::timestamp at time zone d.zone)
         group by 1, 2, 3
        """
    ),
]
_RECOMPUTE_DECISIONS = [
    text(
        """
        delete from metrics_decision_hours r using metrics_touched_hours t
         where r.tenant_id = t.tenant_id and r.hour = t.hour
        """
    ),
    text(
        f"""
        insert into metrics_decision_hours (tenant_id, instance_id, hour, action, reason,
            conversation_id, decisions)
        select d.tenant_id, coalesce(d.instance_id, '{NIL}'::uuid), t.hour, d.action, d.reason,
               coalesce(d.conversation_id, '{NIL}'::uuid), count(*)
          from (select distinct tenant_id, hour from metrics_touched_hours) t
          join policy_decisions d on d.tenant_id = t.tenant_id and d.created_at >= t.hour
                                 and d.created_at < t.hour + interval '1 hour'
                                 and date_trunc('hour', d.created_at, 'UTC') = t.hour
         group by 1, 2, 3, 4, 5, 6
        """
    ),
]
_RECOMPUTE_ROUNDS = [
    text(
        """
        delete from metrics_round_hours r using metrics_touched_rounds t
         where r.tenant_id = t.tenant_id and r.hour = t.hour
        """
    ),
    text(
        """
        insert into metrics_round_hours (tenant_id, hour, state, conversation_id, rounds)
        select r.tenant_id, t.hour, r.state, r.conversation_id, count(*)
          from (select distinct tenant_id, hour from metrics_touched_rounds) t
          join rounds r on r.tenant_id = t.tenant_id and r.ended_at >= t.hour
                       and r.ended_at < t.hour + interval '1 hour'
                       and date_trunc('hour', r.ended_at, 'UTC') = t.hour
         group by 1, 2, 3, 4
        """
    ),
]
# A touched campaign is counted again whole (one index range of its recipients): a campaign
# has at most its frozen audience, and a status change moves a recipient between two rows.
_RECOMPUTE_CAMPAIGNS = [
    text(
        """
        delete from metrics_campaign_recipients r using metrics_touched_campaigns t
         where r.tenant_id = t.tenant_id and r.campaign_id = t.campaign_id
        """
    ),
    text(
        """
        insert into metrics_campaign_recipients (tenant_id, campaign_id, status, reason,
            recipients)
        select r.tenant_id, r.campaign_id, r.status, coalesce(r.reason, ''), count(*)
          from (select distinct tenant_id, campaign_id from metrics_touched_campaigns) t
          join campaign_recipients r on r.tenant_id = t.tenant_id
                                    and r.campaign_id = t.campaign_id
         group by 1, 2, 3, 4
        """
    ),
]
_TOUCHED_TENANTS = text(
    "select tenant_id from metrics_touched_messages union "
    "select tenant_id from metrics_touched_hours union "
    "select tenant_id from metrics_touched_rounds union "
    "select tenant_id from metrics_touched_campaigns"
)


@dataclass(frozen=True)
class Fold:
    """What one refresh did: buckets recomputed, tenants whose figures may have changed."""

    message_buckets: int
    decision_buckets: int
    round_buckets: int
    tenants: list[uuid.UUID]
    watermark: datetime
    campaigns: int = 0


class RollupRepository:
    """Writes of the rollups. Maintenance only: callers hold an admin (BYPASSRLS) session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        await self.session.execute(text(LOCK_KEY))

    async def watermark(self) -> datetime:
        """The refresh state's watermark, row-locked until the transaction ends."""
        stmt = text("select watermark from metrics_refresh_state where id = 1 for update")
        value: datetime = (await self.session.execute(stmt)).scalar_one()
        return value

    async def fold(self, since: datetime, tenant: uuid.UUID | None = None) -> Fold:
        """Recompute every bucket touched by a fact changed at or after ``since``."""
        conn = await self.session.connection()
        await conn.exec_driver_sql(_TOUCHED_TABLES)
        await conn.exec_driver_sql(
            "truncate metrics_touched_messages, metrics_touched_hours, metrics_touched_rounds, "
            "metrics_touched_campaigns"
        )
        params: dict[str, Any] = {"since": since, "tenant": tenant}
        counts = []
        for touch in (_TOUCH_MESSAGES, _TOUCH_DECISIONS, _TOUCH_ROUNDS, _TOUCH_CAMPAIGNS):
            counts.append((await self.session.execute(touch, params)).rowcount)  # type: ignore[attr-defined]
        for stmt in (
            *_RECOMPUTE_MESSAGES,
            *_RECOMPUTE_TENANT_HOURS,
            *_RECOMPUTE_NUMBER_DAYS,
            *_RECOMPUTE_DECISIONS,
            *_RECOMPUTE_ROUNDS,
            *_RECOMPUTE_CAMPAIGNS,
        ):
            await self.session.execute(stmt)
        tenants = [r[0] for r in (await self.session.execute(_TOUCHED_TENANTS)).all()]
        now: datetime = (await self.session.execute(text("select now()"))).scalar_one()
        return Fold(counts[0], counts[1], counts[2], tenants, now, counts[3])

    async def clear(self, tenant: uuid.UUID | None) -> None:
        """Delete the rollups (of one tenant, or all) before a full rebuild."""
        for table in (
            "metrics_message_hours",
            "metrics_tenant_hours",
            "metrics_number_days",
            "metrics_decision_hours",
            "metrics_round_hours",
            "metrics_campaign_recipients",
        ):
            if tenant is None:
                await self.session.execute(text(f"delete from {table}"))
            else:
                await self.session.execute(
                    text(f"delete from {table} where tenant_id = :t"),
                    {"t": tenant},
                )

    async def advance(self, watermark: datetime, elapsed_ms: int) -> None:
        """Move the watermark forward (never back: a refresh that waited for the lock began
        before the one it waited for)."""
        await self.session.execute(
            text(
                "update metrics_refresh_state set watermark = greatest(watermark, :w), "
                "refreshed_at = clock_timestamp(), last_ms = :ms where id = 1"
            ),
            {"w": watermark, "ms": elapsed_ms},
        )

    async def tenant_by_slug(self, slug: str) -> uuid.UUID | None:
        stmt = text("select id from tenants where slug = :s")
        found: uuid.UUID | None = (await self.session.execute(stmt, {"s": slug})).scalar()
        return found


# --- reading (tenant session: row-level security applies) ------------------------------------


@dataclass(frozen=True)
class Filters:
    """A period [start, end) in UTC, an optional number and warm-up conversation, the tenant's
    zone for day buckets."""

    start: datetime
    end: datetime
    zone: str
    instance_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None


def _messages_table(f: Filters) -> str:
    """Per number (and conversation) when one is chosen, else the tenant-wide hours (one row
    per hour, not one per number and hour)."""
    if f.instance_id is None and f.conversation_id is None:
        return "metrics_tenant_hours"
    return "metrics_message_hours"


def _where(f: Filters, alias: str = "r", *, days: bool = False) -> tuple[str, dict[str, Any]]:
    sql = f"{alias}.tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)"
    if days:
        sql += (
            f" and {alias}.day >= (cast(:start as timestamptz) at time zone :zone)::date"
            f" and {alias}.day < (cast(:end as timestamptz) at time zone :zone)::date"
        )
    else:
        sql += f" and {alias}.hour >= :start and {alias}.hour < :end"
    params: dict[str, Any] = {"start": f.start, "end": f.end, "zone": f.zone}
    if f.instance_id is not None:
        sql += f" and {alias}.instance_id = :instance"
        params["instance"] = f.instance_id
    if f.conversation_id is not None:  # never with days: the number-days are not split
        # The second clause is the partial index's predicate, spelled out so that a generic
        # (prepared) plan can use the index too.
        sql += (
            f" and {alias}.conversation_id = :conversation"
            f" and {alias}.conversation_id <> '{NIL}'::uuid"
        )
        params["conversation"] = f.conversation_id
    return sql, params


class MetricsRepository:
    """Reads of the rollups (and, for comparison in the bench, the same figures from raw)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def freshness(self) -> tuple[datetime, datetime]:
        """(watermark, refreshed_at) of the last refresh."""
        row = (
            await self.session.execute(
                text("select watermark, refreshed_at from metrics_refresh_state where id = 1")
            )
        ).one()
        return row[0], row[1]

    async def daily(self, f: Filters) -> list[tuple[Any, ...]]:
        """(day in the tenant's zone, sent, received, failed, delivered, read)."""
        where, params = _where(f)
        stmt = text(
            f"""
            select (r.hour at time zone :zone)::date as day,
                   coalesce(sum(r.messages) filter (where r.direction = 'outbound'), 0),
                   coalesce(sum(r.messages) filter (where r.direction = 'inbound'), 0),
                   coalesce(sum(r.failed), 0), coalesce(sum(r.delivered), 0),
                   coalesce(sum(r.read), 0)
              from {_messages_table(f)} r where {where}
             group by 1 order by 1
            """
        )
        return [tuple(r) for r in (await self.session.execute(stmt, params)).all()]

    async def heatmap(self, f: Filters) -> list[tuple[int, int, int]]:
        """(ISO weekday 1..7, hour 0..23 in the tenant's zone, messages)."""
        where, params = _where(f)
        stmt = text(
            f"""
            select extract(isodow from r.hour at time zone :zone)::int,
                   extract(hour from r.hour at time zone :zone)::int, sum(r.messages)::int
              from {_messages_table(f)} r where {where}
             group by 1, 2
            """
        )
        return [(int(a), int(b), int(c)) for a, b, c in (await self.session.execute(stmt, params))]

    async def per_number(self, f: Filters) -> list[tuple[Any, ...]]:
        """(instance id, name, sent, received, delivered, read, replied, failed, opted out),
        from the number-days (the period's bounds are whole days in the tenant's zone); of
        one conversation, from its number-hours."""
        if f.conversation_id is None:
            where, params = _where(f, days=True)
            source = f"""
                select r.instance_id, sum(r.sent) as sent, sum(r.received) as received,
                       sum(r.delivered) as delivered, sum(r.read) as read,
                       sum(r.replied) as replied, sum(r.failed) as failed,
                       sum(r.opted_out) as opted_out
                  from metrics_number_days r where {where}
                 group by r.instance_id"""
        else:
            where, params = _where(f)
            source = f"""
                select r.instance_id,
                       coalesce(sum(r.messages) filter (where r.direction = 'outbound'), 0)
                           as sent,
                       coalesce(sum(r.messages) filter (where r.direction = 'inbound'), 0)
                           as received,
                       sum(r.delivered) as delivered, sum(r.read) as read,
                       sum(r.replied) as replied, sum(r.failed) as failed,
                       sum(r.opted_out) as opted_out
                  from metrics_message_hours r where {where}
                 group by r.instance_id"""
        stmt = text(
            f"""
            select a.instance_id, coalesce(i.display_name, ''), a.sent, a.received,
                   a.delivered, a.read, a.replied, a.failed, a.opted_out
              from ({source}) a
              left join instances i on i.id = a.instance_id
             order by 2, 1
            """
        )
        return [tuple(r) for r in (await self.session.execute(stmt, params)).all()]

    async def by_kind(self, f: Filters) -> list[tuple[str, str, int]]:
        """(direction, kind, messages)."""
        where, params = _where(f)
        stmt = text(
            f"select r.direction, r.kind, sum(r.messages)::int from {_messages_table(f)} r "
            f"where {where} group by 1, 2 order by 1, 2"
        )
        return [(str(a), str(b), int(c)) for a, b, c in (await self.session.execute(stmt, params))]

    async def rounds(self, f: Filters) -> list[tuple[str, int]]:
        """(final state, rounds); rounds have no single number, so no number filter."""
        where, params = _where(Filters(f.start, f.end, f.zone, None, f.conversation_id))
        stmt = text(
            f"select r.state, sum(r.rounds)::int from metrics_round_hours r where {where} "
            "group by 1 order by 2 desc, 1"
        )
        return [(str(a), int(b)) for a, b in (await self.session.execute(stmt, params))]

    async def decisions(self, f: Filters) -> list[tuple[str, str, int]]:
        """(action, reason, decisions)."""
        where, params = _where(f)
        stmt = text(
            f"select r.action, r.reason, sum(r.decisions)::int from metrics_decision_hours r "
            f"where {where} group by 1, 2 order by 3 desc, 1, 2"
        )
        return [(str(a), str(b), int(c)) for a, b, c in (await self.session.execute(stmt, params))]

    async def campaigns(
        self, f: Filters, campaign_id: uuid.UUID | None = None
    ) -> list[tuple[Any, ...]]:
        """(campaign id, name, state, started at, status, reason, recipients) of the campaigns
        that ran during the period (started before its end, not finished before its start),
        newest first."""
        params: dict[str, Any] = {"start": f.start, "end": f.end}
        only = ""
        if campaign_id is not None:
            only = " and c.id = :campaign"
            params["campaign"] = campaign_id
        stmt = text(
            f"""
            select c.id, c.name, c.state, c.started_at, r.status, r.reason, r.recipients
              from campaigns c
              join metrics_campaign_recipients r
                on r.tenant_id = c.tenant_id and r.campaign_id = c.id
             where c.tenant_id = (select nullif(current_setting('app.tenant_id', true),
                                                '')::uuid)
               and c.started_at < :end and (c.finished_at is null or c.finished_at >= :start)
               {only}
             order by c.started_at desc, c.id, r.status, r.reason
            """
        )
        return [tuple(r) for r in (await self.session.execute(stmt, params)).all()]

    async def conversations(self) -> list[tuple[uuid.UUID, str]]:
        """The tenant's warm-up conversations (the filter's choices), by name."""
        stmt = text("select id, name from conversations order by name, id")
        return [(a, str(b)) for a, b in (await self.session.execute(stmt))]

    async def campaign_choices(self) -> list[tuple[uuid.UUID, str]]:
        """The tenant's campaigns that have started (the filter's choices), newest first."""
        stmt = text(
            "select id, name from campaigns where started_at is not null "
            "order by started_at desc, id limit 200"
        )
        return [(a, str(b)) for a, b in (await self.session.execute(stmt))]

    async def numbers(self) -> list[tuple[uuid.UUID, str]]:
        """The tenant's numbers (the filter's choices)."""
        stmt = text("select id, display_name from instances order by display_name, id")
        return [(a, str(b)) for a, b in (await self.session.execute(stmt))]

    async def tenant_zone(self) -> str:
        stmt = text(
            "select timezone from tenants "
            "where id = nullif(current_setting('app.tenant_id', true), '')::uuid"
        )
        zone: str | None = (await self.session.execute(stmt)).scalar()
        return zone or "UTC"
