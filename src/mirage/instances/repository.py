"""Queries for instances (always under the tenant's RLS context)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import Instance, Message


class InstanceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, instance: Instance) -> Instance:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def get(
        self, instance_id: uuid.UUID, *, for_update: bool = False, skip_locked: bool = False
    ) -> Instance | None:
        stmt = select(Instance).where(Instance.id == instance_id)
        if for_update:
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self) -> Sequence[Instance]:
        stmt = select(Instance).order_by(Instance.display_name)
        return (await self.session.execute(stmt)).scalars().all()

    async def by_display_name(self, name: str) -> Instance | None:
        stmt = select(Instance).where(func.lower(Instance.display_name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count(Instance.id)))).scalar_one())

    async def update(self, instance_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(Instance).where(Instance.id == instance_id).values(**values)
        )

    async def delete(self, instance: Instance) -> None:
        await self.session.delete(instance)
        await self.session.flush()

    async def ack_sample(
        self, instance_id: uuid.UUID, *, since: datetime, settle: timedelta
    ) -> tuple[int, int]:
        """Outbound messages old enough to be delivered, and how many were (DELIVERY_ACK+)."""
        stmt = select(
            func.count(Message.id),
            func.count(Message.id).filter(Message.status_rank >= 3),
        ).where(
            Message.instance_id == instance_id,
            Message.direction == "outbound",
            Message.created_at >= since,
            Message.created_at <= func.now() - settle,
        )
        sent, delivered = (await self.session.execute(stmt)).one()
        return int(sent), int(delivered)
