"""Queries for tenants and memberships (RLS decides what the app role sees)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import Invitation, Membership, Tenant, User
from mirage.models.tenancy import Role


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


class MemberRow(NamedTuple):
    membership: Membership
    user: User


class MembershipRepository:
    """Memberships of a tenant. Every query names the tenant: besides the tenant's own rows,
    RLS lets a signed-in user read their own memberships in other tenants (the switcher)."""

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

    async def members(self, tenant_id: uuid.UUID) -> Sequence[MemberRow]:
        """Members of the tenant, by name."""
        stmt = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.tenant_id == tenant_id)
            .order_by(func.lower(User.display_name), User.email)
        )
        return [MemberRow(m, u) for m, u in (await self.session.execute(stmt)).all()]

    async def member(
        self, tenant_id: uuid.UUID, member_id: uuid.UUID, *, for_update: bool = False
    ) -> MemberRow | None:
        stmt = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.tenant_id == tenant_id, Membership.id == member_id)
        )
        if for_update:
            stmt = stmt.with_for_update(of=Membership)
        row = (await self.session.execute(stmt)).one_or_none()
        return MemberRow(row[0], row[1]) if row is not None else None

    async def by_email(self, tenant_id: uuid.UUID, email: str) -> MemberRow | None:
        stmt = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.tenant_id == tenant_id,
                func.lower(User.email) == email.strip().lower(),
            )
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return MemberRow(row[0], row[1]) if row is not None else None

    async def lock_owners(self, tenant_id: uuid.UUID) -> list[uuid.UUID]:
        """The tenant's owners (membership ids), locked until the transaction ends: two
        demotions or removals at once cannot both leave it without an owner."""
        stmt = (
            select(Membership.id)
            .where(Membership.tenant_id == tenant_id, Membership.role == Role.OWNER.value)
            .order_by(Membership.id)
            .with_for_update()
        )
        return list((await self.session.execute(stmt)).scalars())

    async def role_of(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
        """The user's role in the tenant, if they are an active member."""
        stmt = (
            select(Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.user_id == user_id,
                User.is_active.is_(True),
            )
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def set_role(self, member_id: uuid.UUID, role: str) -> None:
        await self.session.execute(
            update(Membership).where(Membership.id == member_id).values(role=role)
        )

    async def delete(self, member_id: uuid.UUID) -> None:
        await self.session.execute(delete(Membership).where(Membership.id == member_id))

    async def count(self, tenant_id: uuid.UUID) -> int:
        stmt = select(func.count(Membership.id)).where(Membership.tenant_id == tenant_id)
        return int((await self.session.execute(stmt)).scalar_one())


class InvitationRepository:
    """Invitations of the current tenant (RLS: the accept page binds the tenant its token
    names before looking the token up)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, invitation: Invitation) -> Invitation:
        self.session.add(invitation)
        await self.session.flush()
        return invitation

    async def get(self, invitation_id: uuid.UUID, *, for_update: bool = False) -> Invitation | None:
        stmt = select(Invitation).where(Invitation.id == invitation_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_hash(self, token_hash: str, *, for_update: bool = False) -> Invitation | None:
        stmt = select(Invitation).where(Invitation.token_hash == token_hash)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, *, open_only: bool, limit: int = 100
    ) -> Sequence[tuple[Invitation, str | None]]:
        """Invitations, newest first, with the name of who sent each: only those still open
        (not accepted or revoked; expired ones included), or every recent one."""
        stmt = (
            select(Invitation, User.display_name)
            .outerjoin(User, User.id == Invitation.invited_by)
            .order_by(Invitation.created_at.desc())
            .limit(limit)
        )
        if open_only:
            stmt = stmt.where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        return [(i, name) for i, name in (await self.session.execute(stmt)).all()]

    async def revoke_open(
        self, *, email: str | None = None, invited_by: uuid.UUID | None = None, when: datetime
    ) -> int:
        """Revoke the open invitations for an address, or sent by a user."""
        stmt = update(Invitation).where(
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
        )
        if email is not None:
            stmt = stmt.where(func.lower(Invitation.email) == email.strip().lower())
        if invited_by is not None:
            stmt = stmt.where(Invitation.invited_by == invited_by)
        result = await self.session.execute(
            stmt.values(revoked_at=when).execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def count_open(self, now: datetime) -> int:
        stmt = select(func.count(Invitation.id)).where(
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        return int((await self.session.execute(stmt)).scalar_one())
