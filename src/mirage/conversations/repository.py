"""Queries for conversations, their participants and rounds (under RLS)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from mirage.models import (
    Conversation,
    ConversationParticipant,
    ConversationState,
    Instance,
    Message,
    Persona,
    Round,
    RoundMember,
    RoundSlot,
    RoundState,
)
from mirage.models.conversations import OPEN_ROUND_STATES


class Participant(NamedTuple):
    """A number in a conversation, with the persona it speaks as."""

    participant: ConversationParticipant
    instance: Instance
    persona: Persona


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self) -> Sequence[Conversation]:
        stmt = select(Conversation).order_by(Conversation.name)
        return (await self.session.execute(stmt)).scalars().all()

    async def active(self) -> Sequence[Conversation]:
        stmt = select(Conversation).where(Conversation.state == ConversationState.ACTIVE)
        return (await self.session.execute(stmt)).scalars().all()

    async def get(
        self, conversation_id: uuid.UUID, *, for_update: bool = False
    ) -> Conversation | None:
        stmt = select(Conversation).where(Conversation.id == conversation_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_name(self, name: str) -> Conversation | None:
        stmt = select(Conversation).where(func.lower(Conversation.name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, conversation: Conversation) -> Conversation:
        self.session.add(conversation)
        await self.session.flush()
        return conversation

    async def add_participant(self, participant: ConversationParticipant) -> None:
        self.session.add(participant)
        await self.session.flush()

    async def clear_participants(self, conversation_id: uuid.UUID) -> None:
        for p in await self.participants(conversation_id):
            await self.session.delete(p.participant)
        await self.session.flush()

    async def participants(self, conversation_id: uuid.UUID) -> Sequence[Participant]:
        stmt = (
            select(ConversationParticipant, Instance, Persona)
            .join(Instance, Instance.id == ConversationParticipant.instance_id)
            .join(Persona, Persona.id == ConversationParticipant.persona_id)
            .where(ConversationParticipant.conversation_id == conversation_id)
            .order_by(ConversationParticipant.position)
        )
        return [Participant(a, b, c) for a, b, c in (await self.session.execute(stmt)).all()]

    async def delete(self, conversation: Conversation) -> None:
        await self.session.delete(conversation)
        await self.session.flush()

    async def using_instance(self, instance_id: uuid.UUID) -> Sequence[Conversation]:
        """The conversations a number takes part in, locked (it is about to change them)."""
        stmt = (
            select(Conversation)
            .join(
                ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id
            )
            .where(ConversationParticipant.instance_id == instance_id)
            .order_by(Conversation.name)
            .with_for_update(of=Conversation)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def following_default(self) -> Sequence[Conversation]:
        stmt = select(Conversation).where(Conversation.schedule_source == "default")
        return (await self.session.execute(stmt)).scalars().all()


class SlotRepository:
    """The engine's plan: round slots (see models.RoundSlot)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_tenant(self, tenant_id: uuid.UUID) -> None:
        """One planner per tenant at a time (transaction-scoped): a number's slots are checked
        against every other slot of the tenant, so two planners must not interleave."""
        await self.session.execute(
            text("select pg_advisory_xact_lock(hashtext('mirage.round_slots:' || :t))"),
            {"t": str(tenant_id)},
        )

    async def add(self, slot: RoundSlot) -> None:
        self.session.add(slot)

    async def busy(self, instance_ids: Sequence[uuid.UUID], after: datetime) -> Sequence[RoundSlot]:
        """Slots holding any of these numbers and ending after ``after``."""
        stmt = select(RoundSlot).where(
            RoundSlot.instance_ids.overlap(list(instance_ids)), RoundSlot.ends_at > after
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def count_for(self, conversation_id: uuid.UUID) -> int:
        stmt = select(func.count(RoundSlot.id)).where(RoundSlot.conversation_id == conversation_id)
        return int((await self.session.execute(stmt)).scalar_one())

    async def next_free(self, conversation_id: uuid.UUID, since: datetime) -> RoundSlot | None:
        """The conversation's next slot no round was made from yet, starting from ``since``."""
        stmt = (
            select(RoundSlot)
            .where(
                RoundSlot.conversation_id == conversation_id,
                RoundSlot.round_id.is_(None),
                RoundSlot.starts_at >= since,
            )
            .order_by(RoundSlot.starts_at)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def drop_missed(self, conversation_id: uuid.UUID, before: datetime) -> None:
        """Slots whose time passed with no round made from them (the numbers were busy, the
        conversation was waiting): nothing will run in them."""
        await self.session.execute(
            delete(RoundSlot).where(
                RoundSlot.conversation_id == conversation_id,
                RoundSlot.round_id.is_(None),
                RoundSlot.starts_at < before,
            )
        )

    async def drop_unused(
        self, conversation_id: uuid.UUID, planned_round_id: uuid.UUID | None
    ) -> None:
        """Every slot of the conversation that no started round used (to plan it again)."""
        unused: ColumnElement[bool] = RoundSlot.round_id.is_(None)
        if planned_round_id is not None:
            unused = or_(unused, RoundSlot.round_id == planned_round_id)
        await self.session.execute(
            delete(RoundSlot).where(RoundSlot.conversation_id == conversation_id, unused)
        )

    async def prune(self, before: datetime) -> None:
        await self.session.execute(delete(RoundSlot).where(RoundSlot.ends_at < before))

    async def between(self, start: datetime, end: datetime) -> Sequence[RoundSlot]:
        stmt = (
            select(RoundSlot)
            .where(RoundSlot.starts_at < end, RoundSlot.ends_at > start)
            .order_by(RoundSlot.starts_at)
        )
        return (await self.session.execute(stmt)).scalars().all()


class RoundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, rnd: Round) -> Round:
        self.session.add(rnd)
        await self.session.flush()
        return rnd

    async def get(self, round_id: uuid.UUID, *, for_update: bool = False) -> Round | None:
        stmt = select(Round).where(Round.id == round_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_round(self, conversation_id: uuid.UUID) -> Round | None:
        stmt = (
            select(Round)
            .where(Round.conversation_id == conversation_id, Round.state.in_(OPEN_ROUND_STATES))
            .order_by(Round.created_at.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_rounds(self) -> Sequence[Round]:
        """Planned and running rounds, locked; a round a job is working on is skipped."""
        stmt = (
            select(Round)
            .where(Round.state.in_(OPEN_ROUND_STATES))
            .order_by(Round.planned_at)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def between(self, start: datetime, end: datetime) -> Sequence[Round]:
        """Rounds that started (or were planned) in ``[start, end)``."""
        at = func.coalesce(Round.started_at, Round.planned_at)
        stmt = select(Round).where(at >= start, at < end).order_by(at)
        return (await self.session.execute(stmt)).scalars().all()

    async def recent(self, conversation_id: uuid.UUID, limit: int = 20) -> Sequence[Round]:
        stmt = (
            select(Round)
            .where(Round.conversation_id == conversation_id)
            .order_by(Round.created_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def last_for(self, conversation_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Round]:
        if not conversation_ids:
            return {}
        sub = (
            select(Round.conversation_id, func.max(Round.created_at).label("at"))
            .where(Round.conversation_id.in_(conversation_ids))
            .group_by(Round.conversation_id)
            .subquery()
        )
        stmt = select(Round).join(
            sub, and_(Round.conversation_id == sub.c.conversation_id, Round.created_at == sub.c.at)
        )
        return {r.conversation_id: r for r in (await self.session.execute(stmt)).scalars()}

    async def awaiting(self, instance_id: uuid.UUID, jids: Sequence[str]) -> Round | None:
        """The running round waiting for a reply on this number from one of these JIDs."""
        stmt = (
            select(Round)
            .where(
                Round.state == RoundState.RUNNING,
                Round.awaiting_instance_id == instance_id,
                Round.awaiting_from_jid.in_(list(jids)),
            )
            .with_for_update()
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_member(self, member: RoundMember) -> None:
        self.session.add(member)
        await self.session.flush()

    async def release_members(self, round_id: uuid.UUID) -> None:
        await self.session.execute(
            update(RoundMember).where(RoundMember.round_id == round_id).values(active=False)
        )

    async def members(self, round_id: uuid.UUID) -> list[uuid.UUID]:
        """The numbers the round holds (active members)."""
        stmt = select(RoundMember.instance_id).where(
            RoundMember.round_id == round_id, RoundMember.active.is_(True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def other_member(self, round_id: uuid.UUID, instance_id: uuid.UUID) -> uuid.UUID | None:
        """The round's other number (the receiver of ``instance_id``'s turn)."""
        stmt = select(RoundMember.instance_id).where(
            RoundMember.round_id == round_id, RoundMember.instance_id != instance_id
        )
        return (await self.session.execute(stmt)).scalars().first()


class InboundRepository:
    """The real inbound message a round's next turn answers (stored by the webhooks)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def text(self, message_id: uuid.UUID, instance_id: uuid.UUID) -> str | None:
        stmt = select(Message.text).where(
            Message.id == message_id, Message.instance_id == instance_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()


class OverviewRepository:
    """The overview's reads of conversations and rounds: each one statement, bounded."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counts(self) -> tuple[int, int, int]:
        """(active, paused, active but waiting for their numbers) conversations."""
        active = Conversation.state == ConversationState.ACTIVE
        stmt = select(
            func.count().filter(active),
            func.count().filter(Conversation.state == ConversationState.PAUSED),
            func.count().filter(active & Conversation.waiting_reason.is_not(None)),
        ).select_from(Conversation)
        a, p, w = (await self.session.execute(stmt)).one()
        return int(a), int(p), int(w)

    async def waiting(self, limit: int) -> Sequence[tuple[uuid.UUID, str, str | None]]:
        stmt = (
            select(Conversation.id, Conversation.name, Conversation.waiting_reason)
            .where(
                Conversation.state == ConversationState.ACTIVE,
                Conversation.waiting_reason.is_not(None),
            )
            .order_by(Conversation.waiting_since, Conversation.name)
            .limit(limit)
        )
        return [(i, n, r) for i, n, r in (await self.session.execute(stmt)).all()]

    async def upcoming(self, limit: int) -> Sequence[tuple[Round, str]]:
        """Open rounds (running first, then by start), with their conversation's name."""
        running = Round.state == RoundState.RUNNING
        stmt = (
            select(Round, Conversation.name)
            .join(Conversation, Conversation.id == Round.conversation_id)
            .where(Round.state.in_(OPEN_ROUND_STATES))
            .order_by(running.desc(), func.coalesce(Round.started_at, Round.planned_at))
            .limit(limit)
        )
        return [(r, n) for r, n in (await self.session.execute(stmt)).all()]

    async def outcomes_since(self, since: datetime) -> dict[str, int]:
        stmt = (
            select(Round.state, func.count()).where(Round.ended_at >= since).group_by(Round.state)
        )
        return {str(s): int(n) for s, n in (await self.session.execute(stmt)).all()}

    async def failing_since(
        self, since: datetime, states: Sequence[str], limit: int
    ) -> Sequence[tuple[uuid.UUID, str, int, str, datetime | None]]:
        """Conversations with rounds ended in ``states`` since then, most such rounds first:
        (id, name, how many, the latest one's state, when it ended)."""
        latest = func.max(Round.ended_at)
        last_state = func.array_agg(aggregate_order_by(Round.state, Round.ended_at.desc()))[1]
        stmt = (
            select(Conversation.id, Conversation.name, func.count(), last_state, latest)
            .join(Round, Round.conversation_id == Conversation.id)
            .where(Round.ended_at >= since, Round.state.in_(list(states)))
            .group_by(Conversation.id, Conversation.name)
            .order_by(func.count().desc(), latest.desc())
            .limit(limit)
        )
        return [
            (i, n, int(c), str(s), at)
            for i, n, c, s, at in (await self.session.execute(stmt)).all()
        ]
