"""The request's database session: one transaction, committed before the response is sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import get_database
from mirage.db.tenancy import apply_context, set_tenant, set_user


async def _request_session() -> AsyncIterator[AsyncSession]:
    # scope="function": the commit runs after the endpoint returns but before the response is
    # sent, so a failed commit becomes a 5xx instead of a 200 for work that was lost.
    async with get_database().sessions() as session, session.begin():
        try:
            yield session
        except BaseException:
            # Detach before the rollback expires them, so an error page can still show
            # what was loaded (the signed-in user, the tenant menu).
            session.expunge_all()
            raise


DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def bind_context(
    session: AsyncSession, *, tenant_id: uuid.UUID | None, user_id: uuid.UUID | None
) -> None:
    """Set the tenant/user for the rest of this request and re-apply it to the open transaction."""
    set_tenant(tenant_id)
    set_user(user_id)
    conn = await session.connection()
    await conn.run_sync(apply_context)
