"""The audit log as owners and admins read it: who may, and the names of the actors.

The events themselves are written and queried by ``ops.audit``; this module adds what only
the tenant knows (its members' e-mails, its tokens' names) and the role rule: the log shows
every change of the tenant, so only its owners and admins see it (API: the ``admin`` scope).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import service as auth
from mirage.auth.principal import Principal
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.tenants import team


def may_read(principal: Principal) -> bool:
    return principal.role.at_least(Role.ADMIN) and principal.can("admin")


def require_reader(principal: Principal) -> None:
    auth.require(principal, "admin", role=Role.ADMIN)


async def actor_names(session: AsyncSession, principal: Principal) -> dict[uuid.UUID, str]:
    """Members by their e-mail, tokens by their name (a removed member's events keep only
    the id: the membership is gone)."""
    names: dict[uuid.UUID, str] = {
        m.user_id: m.email for m in await team.list_members(session, principal)
    }
    for token in await auth.list_tokens(session, principal):
        names[token.id] = f"{token.name} (token)"
    return names


async def search(
    session: AsyncSession,
    principal: Principal,
    f: audit.AuditFilter,
    *,
    cursor: str | None,
    limit: int,
) -> audit.AuditPage:
    require_reader(principal)
    return await audit.search(session, f, cursor=cursor, limit=limit)
