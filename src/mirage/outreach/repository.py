"""Queries for outreach policies (under the tenant's RLS context)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import Campaign, OutreachPolicy


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

    async def all_optout_keywords(self) -> Sequence[str]:
        """Every extra opt-out keyword of the tenant's policies (one statement, any number of
        policies), deduplicated."""
        stmt = select(func.unnest(OutreachPolicy.optout_keywords)).distinct()
        return [str(k) for k in (await self.session.execute(stmt)).scalars().all()]

    async def campaigns_using(self, policy_id: uuid.UUID) -> int:
        stmt = select(func.count(Campaign.id)).where(Campaign.policy_id == policy_id)
        return int((await self.session.execute(stmt)).scalar_one())


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, limit: int) -> Sequence[Campaign]:
        stmt = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def get(self, campaign_id: uuid.UUID) -> Campaign | None:
        return await self.session.get(Campaign, campaign_id)

    async def by_name(self, name: str) -> Campaign | None:
        stmt = select(Campaign).where(func.lower(Campaign.name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, campaign: Campaign) -> Campaign:
        self.session.add(campaign)
        await self.session.flush()
        return campaign

    async def delete(self, campaign: Campaign) -> None:
        await self.session.delete(campaign)
        await self.session.flush()
