"""Queries for outreach policies (under the tenant's RLS context)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import OutreachPolicy


class OutreachPolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self) -> Sequence[OutreachPolicy]:
        stmt = select(OutreachPolicy).order_by(func.lower(OutreachPolicy.name), OutreachPolicy.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def get(self, policy_id: uuid.UUID) -> OutreachPolicy | None:
        return await self.session.get(OutreachPolicy, policy_id)

    async def by_name(self, name: str) -> OutreachPolicy | None:
        stmt = select(OutreachPolicy).where(func.lower(OutreachPolicy.name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, policy: OutreachPolicy) -> OutreachPolicy:
        self.session.add(policy)
        await self.session.flush()
        return policy

    async def delete(self, policy: OutreachPolicy) -> None:
        await self.session.delete(policy)
        await self.session.flush()
