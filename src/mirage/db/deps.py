"""The request's database session: its transaction is committed before the response is sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from mirage.db.engine import get_database
from mirage.db.tenancy import apply_context, context_params, set_tenant, set_user

# What the open transaction's connection has applied (``db.tenancy``'s after_begin hook, or
# ``bind_context``), kept in ``session.info`` while a connection is bound to the transaction.
_APPLIED = "mirage.context_applied"


async def _request_session() -> AsyncIterator[AsyncSession]:
    # scope="function": the commit runs after the endpoint returns but before the response is
    # sent, so a failed commit becomes a 5xx instead of a 200 for work that was lost.
    # The transaction open at the end is committed (``db.engine.release`` may have committed
    # an earlier one before a network call); on an error, closing the session rolls it back.
    async with get_database().sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            # Detach before the rollback expires them, so an error page can still show
            # what was loaded (the signed-in user, the tenant menu).
            session.expunge_all()
            raise


DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]


@event.listens_for(Session, "after_begin")
def _remember_applied(session: Session, transaction: SessionTransaction, connection: Any) -> None:
    # Registered after db.tenancy's hook, which applied exactly these values on this begin.
    session.info[_APPLIED] = context_params()


@event.listens_for(Session, "after_transaction_end")
def _forget_applied(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the root transaction (not a savepoint) ended
        session.info.pop(_APPLIED, None)


async def bind_context(
    session: AsyncSession, *, tenant_id: uuid.UUID | None, user_id: uuid.UUID | None
) -> None:
    """Set the tenant/user for the rest of this request. The database hears about it once:
    when the transaction has not reached the database yet (authentication before any query),
    its begin hook applies these values; when it has, they are re-applied here — only if they
    differ from what its connection already has."""
    set_tenant(tenant_id)
    set_user(user_id)
    applied = session.sync_session.info.get(_APPLIED)
    if applied is None or applied == context_params():
        return
    conn = await session.connection()
    await conn.run_sync(apply_context)
    session.sync_session.info[_APPLIED] = context_params()
