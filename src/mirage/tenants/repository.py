"""Queries for tenants and memberships (RLS decides what the app role sees)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import Membership, Tenant, User


class TenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def by_slug(self, slug: str) -> Tenant | None:
        stmt = select(Tenant).where(Tenant.slug == slug)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, tenant: Tenant) -> Tenant:
        self.session.add(tenant)
        await self.session.flush()
        return tenant


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, membership: Membership) -> Membership:
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        stmt = select(Membership).where(
            Membership.tenant_id == tenant_id, Membership.user_id == user_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def members(self) -> Sequence[tuple[Membership, User]]:
        """Members of the current tenant."""
        stmt = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .order_by(User.display_name)
        )
        return [(m, u) for m, u in (await self.session.execute(stmt)).all()]

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count(Membership.id)))).scalar_one())
