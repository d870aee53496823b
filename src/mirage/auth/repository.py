"""Queries for users (and the tenants they belong to), browser sessions and API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.cache import NEUTRAL
from mirage.models import (
    ApiToken,
    Membership,
    MfaRecoveryCode,
    Tenant,
    TenantSettings,
    User,
    UserSession,
)


class TenantMembership(NamedTuple):
    membership: Membership
    tenant: Tenant


class TenantAndUser(NamedTuple):
    tenant: Tenant
    user: User | None


class SessionAndUser(NamedTuple):
    session: UserSession
    user: User


class TokenAuth(NamedTuple):
    id: uuid.UUID
    created_by: uuid.UUID | None
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    creator_role: str | None
    step_up: bool


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> User | None:
        stmt = select(User).where(func.lower(User.email) == email.strip().lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def memberships(self, user_id: uuid.UUID) -> Sequence[TenantMembership]:
        """The user's memberships in every tenant (visible through the user-read policy)."""
        stmt = (
            select(Membership, Tenant)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user_id)
            .order_by(Tenant.name)
        )
        return [TenantMembership(m, t) for m, t in (await self.session.execute(stmt)).all()]

    async def tenant(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def tenant_and_user(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID | None
    ) -> TenantAndUser | None:
        """The (current) tenant and a user, in one statement."""
        stmt = (
            select(Tenant, User).outerjoin(User, User.id == user_id).where(Tenant.id == tenant_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return TenantAndUser(row[0], row[1]) if row is not None else None

    async def set_last_login(self, user_id: uuid.UUID, when: datetime) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(last_login_at=when)
        )

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash)
        )

    async def set_locale(self, user_id: uuid.UUID, locale: str) -> None:
        await self.session.execute(update(User).where(User.id == user_id).values(locale=locale))


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: UserSession) -> UserSession:
        self.session.add(row)
        await self.session.flush()
        return row

    async def by_token_hash(self, token_hash: str) -> UserSession | None:
        stmt = select(UserSession).where(UserSession.token_hash == token_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def with_user(self, token_hash: str) -> SessionAndUser | None:
        """The session and its user, in one statement (both are global tables)."""
        stmt = (
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == token_hash)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return SessionAndUser(row[0], row[1]) if row is not None else None

    async def touch(self, session_id: uuid.UUID, when: datetime) -> None:
        await self.session.execute(
            update(UserSession)
            .where(UserSession.id == session_id)
            .values(last_seen_at=when)
            .execution_options(**{NEUTRAL: True})
        )

    async def set_active_tenant(self, session_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        await self.session.execute(
            update(UserSession)
            .where(UserSession.id == session_id)
            .values(active_tenant_id=tenant_id)
        )

    async def revoke(self, session_id: uuid.UUID, when: datetime) -> None:
        await self.session.execute(
            update(UserSession).where(UserSession.id == session_id).values(revoked_at=when)
        )

    async def revoke_in_tenant(
        self, user_id: uuid.UUID, tenant_id: uuid.UUID, when: datetime
    ) -> list[uuid.UUID]:
        """End the user's live sessions that look at this tenant (or at none yet, which fall
        back to their first membership): the ids of those ended. Sessions looking at another
        of their tenants go on there."""
        result = await self.session.execute(
            update(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                or_(
                    UserSession.active_tenant_id == tenant_id,
                    UserSession.active_tenant_id.is_(None),
                ),
            )
            .values(revoked_at=when)
            .returning(UserSession.id)
            .execution_options(synchronize_session=False)
        )
        return list(result.scalars())

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(UserSession).where(
                (UserSession.expires_at < before) | (UserSession.revoked_at < before)
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class ApiTokenRepository:
    """Every query here runs under RLS: only the current tenant's tokens exist."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: ApiToken) -> ApiToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get(self, token_id: uuid.UUID) -> ApiToken | None:
        return await self.session.get(ApiToken, token_id)

    async def by_hash(self, token_hash: str) -> ApiToken | None:
        stmt = select(ApiToken).where(ApiToken.token_hash == token_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def auth_row(self, token_hash: str) -> TokenAuth | None:
        """What authenticating a bearer token needs, as plain columns in one statement (the hot
        path of every API request): the token's state and its creator's current role in the
        token's tenant (None when the creator is gone: no longer a member, deactivated, or
        deleted)."""
        stmt = (
            select(
                ApiToken.id,
                ApiToken.created_by,
                ApiToken.scopes,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                ApiToken.last_used_at,
                Membership.role,
                ApiToken.step_up,
            )
            .outerjoin(User, (User.id == ApiToken.created_by) & User.is_active.is_(True))
            .outerjoin(
                Membership,
                (Membership.tenant_id == ApiToken.tenant_id) & (Membership.user_id == User.id),
            )
            .where(ApiToken.token_hash == token_hash)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return TokenAuth(*row) if row is not None else None

    async def list(self, *, include_revoked: bool = False) -> Sequence[ApiToken]:
        stmt = select(ApiToken).order_by(ApiToken.created_at.desc())
        if not include_revoked:
            stmt = stmt.where(ApiToken.revoked_at.is_(None))
        return (await self.session.execute(stmt)).scalars().all()

    async def revoke(self, token_id: uuid.UUID, when: datetime) -> bool:
        result = await self.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_created_by(self, user_id: uuid.UUID, when: datetime) -> Sequence[uuid.UUID]:
        """Revoke the live tokens this user created (in the current tenant: RLS)."""
        result = await self.session.execute(
            update(ApiToken)
            .where(ApiToken.created_by == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=when)
            .returning(ApiToken.id)
            .execution_options(synchronize_session=False)
        )
        return list(result.scalars())

    async def mark_used(self, token_id: uuid.UUID, when: datetime) -> None:
        await self.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(last_used_at=when)
            .execution_options(**{NEUTRAL: True})
        )


class MfaRepository:
    """A user's two-factor state (columns of ``users``) and recovery codes (global tables,
    reached by the signed-in user's id), and the tenant's MFA rule (``tenant_settings``,
    under RLS: the current tenant's row only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_user(self, user_id: uuid.UUID) -> User | None:
        """The user row, locked until the transaction ends: two verifications of one code
        cannot both read the same last time step."""
        stmt = (
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def user(self, user_id: uuid.UUID) -> User | None:
        """The user row as stored now (not a cached copy)."""
        return await self.session.get(User, user_id, populate_existing=True)

    async def set_state(self, user_id: uuid.UUID, **values: object) -> None:
        await self.session.execute(update(User).where(User.id == user_id).values(**values))

    async def unused_codes(self, user_id: uuid.UUID) -> Sequence[MfaRecoveryCode]:
        stmt = select(MfaRecoveryCode).where(
            MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def count_unused(self, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def replace_codes(self, user_id: uuid.UUID, hashes: Sequence[str]) -> None:
        await self.session.execute(
            delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id)
        )
        self.session.add_all(MfaRecoveryCode(user_id=user_id, code_hash=h) for h in hashes)
        await self.session.flush()

    async def use_code(self, code_id: uuid.UUID, when: datetime) -> bool:
        result = await self.session.execute(
            update(MfaRecoveryCode)
            .where(MfaRecoveryCode.id == code_id, MfaRecoveryCode.used_at.is_(None))
            .values(used_at=when)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_session_verified(self, session_id: uuid.UUID, when: datetime | None) -> None:
        await self.session.execute(
            update(UserSession).where(UserSession.id == session_id).values(mfa_verified_at=when)
        )

    async def end_step_up(self, user_id: uuid.UUID) -> None:
        """The user's sessions forget their step-up (MFA was disabled)."""
        await self.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.mfa_verified_at.is_not(None))
            .values(mfa_verified_at=None)
            .execution_options(synchronize_session=False)
        )

    async def drop_token_step_up(self, user_id: uuid.UUID) -> None:
        """The user's tokens (in the current tenant: RLS) lose their step-up."""
        await self.session.execute(
            update(ApiToken)
            .where(ApiToken.created_by == user_id, ApiToken.step_up.is_(True))
            .values(step_up=False)
            .execution_options(synchronize_session=False)
        )

    async def tenant_rule(self) -> tuple[bool, int] | None:
        """(MFA mandatory for owners and admins, step-up minutes) of the current tenant."""
        stmt = select(TenantSettings.mfa_required, TenantSettings.step_up_minutes)
        row = (await self.session.execute(stmt)).one_or_none()
        return (bool(row[0]), int(row[1])) if row is not None else None
