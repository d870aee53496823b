"""Queries for the audit log and runtime health."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import AuditEvent

# How long a worker may go without a heartbeat and still count as alive (readiness, metrics).
WORKER_STALE_AFTER_S = 60.0
# The health verdict's figures (mirage.instances.health: DEGRADED_FAILURES, OPERATOR_LOGOUT),
# copied because instances sits above ops in the package layers; a test keeps them equal.
CANNOT_SEND_FAILURES = 3
OPERATOR_LOGOUT_CODE = 1401

if TYPE_CHECKING:  # the filter is defined by the module that uses this repository
    from mirage.ops.audit import AuditFilter


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, event: AuditEvent) -> None:
        self.session.add(event)
        await self.session.flush()

    async def recent(self, limit: int = 50) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def search(
        self, f: AuditFilter, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent)
        if f.actions:
            stmt = stmt.where(AuditEvent.action.in_(f.actions))
        if f.actor is not None:
            stmt = stmt.where(
                or_(AuditEvent.actor_user_id == f.actor, AuditEvent.actor_token_id == f.actor)
            )
        if f.target_type:
            stmt = stmt.where(AuditEvent.target_type == f.target_type)
        if f.since is not None:
            stmt = stmt.where(AuditEvent.created_at >= f.since)
        if f.until is not None:
            stmt = stmt.where(AuditEvent.created_at < f.until)
        if after is not None:
            stmt = stmt.where(tuple_(AuditEvent.created_at, AuditEvent.id) < tuple_(*after))
        stmt = stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()


class HealthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ping(self) -> None:
        await self.session.execute(text("select 1"))

    async def last_worker_heartbeat(self) -> datetime | None:
        stmt = text("select max(last_heartbeat) from procrastinate_workers")
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def worker_heartbeat_age(self) -> float | None:
        """Seconds since any worker's last heartbeat (by the database's clock), or None."""
        stmt = text(
            "select extract(epoch from now() - max(last_heartbeat))::float8 "
            "from procrastinate_workers"
        )
        age = (await self.session.execute(stmt)).scalar_one_or_none()
        return float(age) if age is not None else None

    async def queue_depth(self) -> dict[str, int]:
        stmt = text(
            "select status::text, count(*) from procrastinate_jobs "
            "where status in ('todo', 'doing') group by status"
        )
        rows = (await self.session.execute(stmt)).all()
        return {str(r[0]): int(r[1]) for r in rows}

    async def now(self) -> datetime:
        return (await self.session.execute(select(func.now()))).scalar_one()


# The fleet's business figures for /metrics, read across tenants (an admin session) and
# aggregated without a tenant label: every group below is bounded by an enum or a fixed set of
# gateway event names, whatever the number of tenants.
FLEET_QUERIES: dict[str, str] = {
    "sends": (
        "select status::text, count(*) from outgoing_messages "
        "where status in ('sent', 'failed', 'unknown', 'cancelled') "
        "and coalesce(sent_at, claimed_at, planned_at) > now() - interval '1 hour' group by 1"
    ),
    "sends_open": (
        "select status::text, count(*) from outgoing_messages "
        "where status in ('planned', 'sending') group by 1"
    ),
    "decisions": (
        "select action || '|' || reason, count(*) from policy_decisions "
        "where created_at > now() - interval '1 hour' group by 1 order by 2 desc limit 100"
    ),
    "webhooks": (
        "select event, count(*) from webhook_events "
        "where received_at > now() - interval '1 hour' group by 1 order by 2 desc limit 50"
    ),
    "rounds": (
        "select state::text, count(*) from rounds "
        "where ended_at > now() - interval '1 hour' group by 1"
    ),
    "rounds_open": (
        "select state::text, count(*) from rounds where state in ('planned', 'running') group by 1"
    ),
    "numbers": "select state || '|' || health, count(*) from instances group by 1",
    # The health verdict's "connected but cannot send".
    "cannot_send": (
        "select '', count(*) from instances where state = 'open' "
        f"and consecutive_send_failures >= {CANNOT_SEND_FAILURES}"
    ),
    # Numbers that worked once and are down now, not because an operator logged them out
    # (banned ones are counted by health in "numbers": they have their own alert).
    "disconnected": (
        "select needs_pairing::text, count(*) from instances "
        "where first_connected_at is not null and state <> 'open' and health <> 'banned' "
        f"and coalesce(state_reason, 0) <> {OPERATOR_LOGOUT_CODE} group by 1"
    ),
    # Alive as readiness counts it. Rows of dead workers stay until another worker starts and
    # prunes them: none alive is the alert.
    "workers": (
        "select case when last_heartbeat > now() - interval "
        f"'{int(WORKER_STALE_AFTER_S)} seconds' "
        "then 'alive' else 'stale' end, count(*) from procrastinate_workers group by 1"
    ),
    "queue_lag": (
        "select j.queue_name, "
        "extract(epoch from max(now() - coalesce(j.scheduled_at, e.at, now()))) "
        "from procrastinate_jobs j left join procrastinate_events e "
        "on e.job_id = j.id and e.type = 'deferred' "
        "where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now()) "
        "group by 1"
    ),
    "queue_jobs": (
        "select queue_name || '|' || status::text, count(*) from procrastinate_jobs "
        "where status in ('todo', 'doing') group by 1"
    ),
    # From the metrics rollups (migration 0016): the last 24 whole UTC hours, the current one
    # included, by direction, kind and outcome (2 x 3 x 6 series at most).
    "messages_24h": (
        "select r.direction || '|' || r.kind || '|' || o.outcome, sum(o.n) "
        "from metrics_message_hours r cross join lateral (values ('total', r.messages), "
        "('delivered', r.delivered), ('read', r.read), ('replied', r.replied), "
        "('failed', r.failed), ('opted_out', r.opted_out)) o(outcome, n) "
        "where r.hour >= date_trunc('hour', now()) - interval '23 hours' group by 1"
    ),
    # How stale the rollups are: since the last refresh ended, and since the watermark (facts
    # changed after it are not counted yet); the last refresh's duration.
    "rollup_age": (
        "select 'refresh', extract(epoch from now() - refreshed_at) from metrics_refresh_state "
        "union all select 'watermark', extract(epoch from now() - watermark) "
        "from metrics_refresh_state"
    ),
    "rollup_refresh": "select 'refresh', last_ms / 1000.0 from metrics_refresh_state",
}


class FleetRepository:
    """Cross-tenant counts for the metrics endpoint (an admin session, read only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def snapshot(self) -> dict[str, dict[str, float]]:
        await self.session.execute(text("set transaction read only"))
        await self.session.execute(text("set local statement_timeout = '3s'"))
        out: dict[str, dict[str, float]] = {}
        for name, query in FLEET_QUERIES.items():
            rows = (await self.session.execute(text(query))).all()
            out[name] = {str(r[0]): float(r[1] or 0) for r in rows}
        return out
