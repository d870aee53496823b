"""Queries for instances (always under the tenant's RLS context)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Date, case, cast, exists, func, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import Instance, Message

# A page of numbers is addressed by the (display_name, id) of a row it starts after or ends
# before: display names are unique per tenant, and (tenant_id, display_name) is indexed.
Key = tuple[str, uuid.UUID]


class FleetGroup(NamedTuple):
    """How many of the tenant's numbers share these facts (the overview's sums)."""

    state: str
    health: str
    paused: bool
    needs_pairing: bool
    connected: bool
    step: int | None  # warm-up step index; None: never connected
    numbers: int


class InstanceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, instance: Instance) -> Instance:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def get(
        self, instance_id: uuid.UUID, *, for_update: bool = False, skip_locked: bool = False
    ) -> Instance | None:
        stmt = select(Instance).where(Instance.id == instance_id)
        if for_update:
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self) -> Sequence[Instance]:
        stmt = select(Instance).order_by(Instance.display_name)
        return (await self.session.execute(stmt)).scalars().all()

    async def page(
        self,
        *,
        limit: int,
        after: Key | None = None,
        before: Key | None = None,
        state: str | None = None,
    ) -> Sequence[Instance]:
        """Up to ``limit`` numbers in name order: the first ones after ``after`` or, with
        ``before``, the last ones before it (returned in name order all the same). One
        statement, whatever the tenant's size."""
        key = tuple_(Instance.display_name, Instance.id)
        stmt = select(Instance)
        if state is not None:
            stmt = stmt.where(Instance.state == state)
        if before is not None:
            stmt = stmt.where(key < tuple_(literal(before[0]), literal(before[1])))
            stmt = stmt.order_by(Instance.display_name.desc(), Instance.id.desc())
        else:
            if after is not None:
                stmt = stmt.where(key > tuple_(literal(after[0]), literal(after[1])))
            stmt = stmt.order_by(Instance.display_name, Instance.id)
        rows = (await self.session.execute(stmt.limit(limit))).scalars().all()
        return rows[::-1] if before is not None else rows

    async def count_by_state(self) -> dict[str, int]:
        """How many numbers are in each connection state (states with none are absent)."""
        stmt = select(Instance.state, func.count()).group_by(Instance.state)
        return {state: int(n) for state, n in (await self.session.execute(stmt)).all()}

    async def fleet(self, *, zone: str, today: date, steps: Sequence[int]) -> Sequence[FleetGroup]:
        """The tenant's numbers counted by everything the overview sums: connection state,
        health, paused, needing a pairing, connected (open and identified), and warm-up step
        (the index of the last of ``steps`` — first days of each step — that the number's
        age in the tenant's days has reached; None for a number never connected). One
        statement; one row per combination that has numbers."""
        first_day = cast(func.timezone(zone, Instance.first_connected_at), Date)
        age = literal(today, Date) - first_day
        step = case(
            (Instance.first_connected_at.is_(None), None),
            *[(age >= first, index) for index, first in reversed(list(enumerate(steps)))],
            else_=0,
        )
        paused = Instance.paused_at.is_not(None)
        connected = (Instance.state == "open") & Instance.owner_jid.is_not(None)
        columns = (
            Instance.state,
            Instance.health,
            paused,
            Instance.needs_pairing,
            connected,
            step,
        )
        stmt = select(*columns, func.count()).group_by(*columns)
        return [FleetGroup(*row) for row in (await self.session.execute(stmt)).all()]

    async def needing_attention(self, limit: int) -> Sequence[Instance]:
        """Up to ``limit`` numbers, those an operator must look at first (unusable health,
        needing a pairing, disconnected, paused, degraded), then by name."""
        order = case(
            (Instance.health.in_(("restricted", "banned", "quarantined")), 0),
            ((Instance.state != "open") & Instance.needs_pairing, 1),
            (Instance.state != "open", 2),
            (Instance.paused_at.is_not(None), 3),
            (Instance.health == "degraded", 4),
            else_=5,
        )
        stmt = (
            select(Instance)
            .order_by(order, func.lower(Instance.display_name), Instance.id)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def owns_account(self, digits: Sequence[str]) -> bool:
        """Whether one of the tenant's numbers is the WhatsApp account with these digits (its
        ``owner_jid`` before any device suffix and domain, or its ``phone``)."""
        if not digits:
            return False
        account = func.split_part(func.split_part(Instance.owner_jid, "@", 1), ":", 1)
        phone = func.regexp_replace(Instance.phone, r"\D", "", "g")
        stmt = select(exists().where(or_(account.in_(list(digits)), phone.in_(list(digits)))))
        return bool((await self.session.execute(stmt)).scalar_one())

    async def by_display_name(self, name: str) -> Instance | None:
        stmt = select(Instance).where(func.lower(Instance.display_name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count(Instance.id)))).scalar_one())

    async def update(self, instance_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(Instance).where(Instance.id == instance_id).values(**values)
        )

    async def delete(self, instance: Instance) -> None:
        await self.session.delete(instance)
        await self.session.flush()

    async def ack_sample(
        self, instance_id: uuid.UUID, *, since: datetime, settle: timedelta
    ) -> tuple[int, int]:
        """Outbound messages old enough to be delivered, and how many were (DELIVERY_ACK+)."""
        stmt = select(
            func.count(Message.id),
            func.count(Message.id).filter(Message.status_rank >= 3),
        ).where(
            Message.instance_id == instance_id,
            Message.direction == "outbound",
            Message.created_at >= since,
            Message.created_at <= func.now() - settle,
        )
        sent, delivered = (await self.session.execute(stmt)).one()
        return int(sent), int(delivered)
