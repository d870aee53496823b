"""Queries for personas (under the tenant's RLS context)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import Conversation, ConversationParticipant, Persona


class PersonaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self) -> Sequence[Persona]:
        return (await self.session.execute(select(Persona).order_by(Persona.name))).scalars().all()

    async def get(self, persona_id: uuid.UUID) -> Persona | None:
        return await self.session.get(Persona, persona_id)

    async def by_name(self, name: str) -> Persona | None:
        stmt = select(Persona).where(func.lower(Persona.name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, persona: Persona) -> Persona:
        self.session.add(persona)
        await self.session.flush()
        return persona

    async def delete(self, persona: Persona) -> None:
        await self.session.delete(persona)
        await self.session.flush()

    async def used_by(self, persona_id: uuid.UUID) -> Sequence[str]:
        """The names of the conversations that speak with this persona."""
        stmt = (
            select(Conversation.name)
            .join(
                ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id
            )
            .where(ConversationParticipant.persona_id == persona_id)
            .distinct()
            .order_by(Conversation.name)
        )
        return (await self.session.execute(stmt)).scalars().all()
