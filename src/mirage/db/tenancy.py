"""The tenant (and acting user) context, applied to every transaction with set_config(..., true).

Never a session-level SET: it would survive on a pooled connection and leak into the next
request. Row-level security policies read these settings and fail closed when they are empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

_tenant: ContextVar[uuid.UUID | None] = ContextVar("tenant_id", default=None)
_user: ContextVar[uuid.UUID | None] = ContextVar("user_id", default=None)


def current_tenant_id() -> uuid.UUID | None:
    return _tenant.get()


def current_user_id() -> uuid.UUID | None:
    return _user.get()


def set_tenant(tenant_id: uuid.UUID | None) -> None:
    _tenant.set(tenant_id)


def set_user(user_id: uuid.UUID | None) -> None:
    _user.set(user_id)


@contextmanager
def tenant_context(tenant_id: uuid.UUID | None, user_id: uuid.UUID | None = None) -> Iterator[None]:
    t = _tenant.set(tenant_id)
    u = _user.set(user_id)
    try:
        yield
    finally:
        _tenant.reset(t)
        _user.reset(u)


APPLY_CONTEXT = text(
    "select set_config('app.tenant_id', :t, true), set_config('app.user_id', :u, true)"
)


def context_params() -> dict[str, str]:
    """The values ``APPLY_CONTEXT`` sets: the current tenant and user, empty when absent."""
    tid, uid = _tenant.get(), _user.get()
    return {"t": str(tid) if tid else "", "u": str(uid) if uid else ""}


def apply_context(connection: Connection) -> None:
    connection.execute(APPLY_CONTEXT, context_params())


@event.listens_for(Session, "after_begin")
def _after_begin(session: Session, transaction: SessionTransaction, connection: Any) -> None:
    # Always set both values (empty when absent) so nothing from an earlier transaction applies.
    apply_context(connection)
