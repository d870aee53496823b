"""Queries for conversations, rounds, planned messages and policy decisions (under RLS)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import (
    Conversation,
    ConversationParticipant,
    Instance,
    Message,
    OutgoingMessage,
    Persona,
    PolicyDecision,
    Round,
    RoundMember,
)

OPEN_ROUND_STATES = ("planned", "running")


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self) -> Sequence[Conversation]:
        stmt = select(Conversation).order_by(Conversation.name)
        return (await self.session.execute(stmt)).scalars().all()

    async def active(self) -> Sequence[Conversation]:
        stmt = select(Conversation).where(Conversation.state == "active")
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
            await self.session.delete(p[0])
        await self.session.flush()

    async def participants(
        self, conversation_id: uuid.UUID
    ) -> Sequence[tuple[ConversationParticipant, Instance, Persona]]:
        stmt = (
            select(ConversationParticipant, Instance, Persona)
            .join(Instance, Instance.id == ConversationParticipant.instance_id)
            .join(Persona, Persona.id == ConversationParticipant.persona_id)
            .where(ConversationParticipant.conversation_id == conversation_id)
            .order_by(ConversationParticipant.position)
        )
        return [(a, b, c) for a, b, c in (await self.session.execute(stmt)).all()]

    async def delete(self, conversation: Conversation) -> None:
        await self.session.delete(conversation)
        await self.session.flush()


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
                Round.state == "running",
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


class OutgoingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, msg: OutgoingMessage) -> OutgoingMessage:
        self.session.add(msg)
        await self.session.flush()
        return msg

    async def get(
        self, outgoing_id: uuid.UUID, *, for_update: bool = False
    ) -> OutgoingMessage | None:
        stmt = select(OutgoingMessage).where(OutgoingMessage.id == outgoing_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def for_round(self, round_id: uuid.UUID) -> Sequence[OutgoingMessage]:
        stmt = (
            select(OutgoingMessage)
            .where(OutgoingMessage.round_id == round_id)
            .order_by(OutgoingMessage.turn)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def next_planned(self, conversation_id: uuid.UUID) -> OutgoingMessage | None:
        stmt = (
            select(OutgoingMessage)
            .where(
                OutgoingMessage.conversation_id == conversation_id,
                OutgoingMessage.status == "planned",
            )
            .order_by(OutgoingMessage.planned_at)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def planned_between(self, start: datetime, end: datetime) -> Sequence[OutgoingMessage]:
        stmt = select(OutgoingMessage).where(
            OutgoingMessage.status == "planned",
            OutgoingMessage.planned_at >= start,
            OutgoingMessage.planned_at < end,
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def recent_texts(self, limit: int = 300) -> list[str]:
        """The tenant's latest texts (sent or planned): the repetition guard's memory."""
        stmt = (
            select(OutgoingMessage.text)
            .where(OutgoingMessage.status.in_(("planned", "sending", "sent")))
            .order_by(OutgoingMessage.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def send_counts(
        self, instance_id: uuid.UUID, *, hour_ago: datetime, day_start: datetime
    ) -> tuple[int, int, datetime | None]:
        stmt = select(
            func.count(OutgoingMessage.id).filter(OutgoingMessage.sent_at >= hour_ago),
            func.count(OutgoingMessage.id).filter(OutgoingMessage.sent_at >= day_start),
            func.max(OutgoingMessage.sent_at),
        ).where(
            OutgoingMessage.instance_id == instance_id,
            OutgoingMessage.status.in_(("sent", "sending", "unknown")),
        )
        hour, day, last = (await self.session.execute(stmt)).one()
        return int(hour), int(day), last

    async def tenant_sent_since(self, since: datetime) -> int:
        stmt = select(func.count(OutgoingMessage.id)).where(
            OutgoingMessage.sent_at >= since,
            OutgoingMessage.status.in_(("sent", "sending", "unknown")),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def tenant_last_sent(self) -> datetime | None:
        stmt = select(func.max(OutgoingMessage.sent_at))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def find_sent_record(
        self, instance_id: uuid.UUID, to_jids: Sequence[str], text: str, since: datetime
    ) -> Message | None:
        """The gateway's own record of a send (SEND_MESSAGE webhook): proof it went out."""
        stmt = (
            select(Message)
            .where(
                Message.instance_id == instance_id,
                Message.from_me.is_(True),
                or_(
                    Message.remote_jid.in_(list(to_jids)), Message.remote_jid_alt.in_(list(to_jids))
                ),
                Message.text == text,
                Message.created_at >= since,
            )
            .order_by(Message.created_at)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def statuses(self, provider_ids: Sequence[str]) -> dict[str, str]:
        if not provider_ids:
            return {}
        stmt = (
            select(Message.provider_message_id, func.max(Message.status_rank))
            .where(Message.provider_message_id.in_(list(provider_ids)))
            .group_by(Message.provider_message_id)
        )
        names = {
            0: "ERROR",
            1: "PENDING",
            2: "SERVER_ACK",
            3: "DELIVERY_ACK",
            4: "READ",
            5: "PLAYED",
            6: "DELETED",
        }
        return {
            pid: names.get(rank, "PENDING")
            for pid, rank in (await self.session.execute(stmt)).all()
        }


class DecisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, decision: PolicyDecision) -> None:
        self.session.add(decision)
        await self.session.flush()

    async def for_round(self, round_id: uuid.UUID) -> Sequence[PolicyDecision]:
        stmt = (
            select(PolicyDecision)
            .where(PolicyDecision.round_id == round_id)
            .order_by(PolicyDecision.created_at)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def recent(self, limit: int = 50) -> Sequence[PolicyDecision]:
        stmt = select(PolicyDecision).order_by(PolicyDecision.created_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()
