"""Queries for the audit log and runtime health."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import AuditEvent


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, event: AuditEvent) -> None:
        self.session.add(event)
        await self.session.flush()

    async def recent(self, limit: int = 50) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()


class HealthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ping(self) -> None:
        await self.session.execute(text("select 1"))

    async def last_worker_heartbeat(self) -> datetime | None:
        stmt = text("select max(last_heartbeat) from procrastinate_workers")
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def queue_depth(self) -> dict[str, int]:
        stmt = text(
            "select status::text, count(*) from procrastinate_jobs "
            "where status in ('todo', 'doing') group by status"
        )
        rows = (await self.session.execute(stmt)).all()
        return {str(r[0]): int(r[1]) for r in rows}

    async def now(self) -> datetime:
        return (await self.session.execute(select(func.now()))).scalar_one()
