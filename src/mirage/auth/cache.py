"""A short-lived, in-process cache of signed-in browser sessions (the dashboard's hot path).

A page request whose session was resolved in the last ``TTL_S`` seconds skips the session,
user and membership reads: its tenant context is bound from the cached answer before any
query, so the request's transaction applies it once.

Revocation reaches it:

- on this process at once: any committed write through a Session to users, user sessions,
  memberships, tenants or API tokens (sign-out, tenant switch, a member removed or demoted, a
  user deactivated) empties the cache when it commits; an answer read before such a commit
  is never stored after it (a generation counter);
- on other processes within ``TTL_S`` (and for changes made outside any Mirage process,
  e.g. with psql): an entry is never used after its TTL, nor after the session's expiry.
  This is the bound the live streams already have (their checks repeat every
  ``MIRAGE_STREAM_RECHECK_SECONDS``, 5 s; streams themselves never use this cache). A
  LISTEN/NOTIFY invalidation would need every writer — including psql — to announce its
  change (triggers in a migration); the TTL needs nothing and bounds the staleness anyway.

API tokens are not cached: their contract is that every request re-reads the creator's
membership and role (``tests/auth/test_token_creator_rights.py``); that read is one
statement in the request's transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from mirage.models import ApiToken, Membership, Tenant, User, UserSession

TTL_S = 5.0
MAX_ENTRIES = 10_000

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.generation = 0
        self._entries: dict[str, tuple[V, float]] = {}

    def get(self, key: str) -> V | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[1] <= self.clock():
            self._entries.pop(key, None)
            return None
        return hit[0]

    def put(self, key: str, value: V, generation: int) -> None:
        """Store ``value`` read while ``generation`` was current; dropped when the cache was
        emptied since (the value may predate the write that emptied it)."""
        if generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # bounded; entries refill on demand
        self._entries[key] = (value, self.clock() + self.ttl_s)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


sessions: TtlCache[Any] = TtlCache(TTL_S)

_WATCHED = (ApiToken, Membership, Tenant, User, UserSession)
_DIRTY = "mirage.auth.cache_dirty"
# Execution option of writes that change nothing a cached answer depends on (last seen/used
# times): they leave the cache alone, or every active session would empty it once a minute.
NEUTRAL = "mirage_auth_cache_neutral"


@event.listens_for(Session, "do_orm_execute")
def _statement_write(state: ORMExecuteState) -> None:
    if state.is_select or state.execution_options.get(NEUTRAL):
        return
    if any(m.class_ in _WATCHED for m in state.all_mappers):
        state.session.info[_DIRTY] = True


@event.listens_for(Session, "after_flush")
def _unit_of_work_write(session: Session, flush_context: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, _WATCHED):
            session.info[_DIRTY] = True
            return


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        sessions.clear()
