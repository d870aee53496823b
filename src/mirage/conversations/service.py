"""Conversation rules: 2–4 of the tenant's connected-or-not numbers, one persona each,
validated windows and delays; pausing cancels what is planned."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.conversations import engine
from mirage.conversations.repository import (
    ConversationRepository,
    OverviewRepository,
    Participant,
    RoundRepository,
)
from mirage.conversations.schemas import ConversationIn
from mirage.conversations.windows import DEFAULT_WINDOWS, parse_windows, to_json
from mirage.instances import service as instances
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, NotFound, ValidationFailed
from mirage.messaging import service as messaging
from mirage.models import (
    Conversation,
    ConversationParticipant,
    ConversationState,
    OutgoingMessage,
    PolicyDecision,
    Round,
    RoundState,
)
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.personas import service as personas
from mirage.tenants import overview as overview_parts


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    participants: Sequence[Participant]
    last_round: Round | None
    next_message: OutgoingMessage | None


async def list_conversations(session: AsyncSession, principal: Principal) -> list[ConversationView]:
    require(principal, "read")
    repo = ConversationRepository(session)
    conversations = list(await repo.list())
    last = await RoundRepository(session).last_for([c.id for c in conversations])
    out = []
    for c in conversations:
        out.append(
            ConversationView(
                c,
                await repo.participants(c.id),
                last.get(c.id),
                await messaging.next_planned(session, c.id),
            )
        )
    return out


async def get_view(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> ConversationView:
    require(principal, "read")
    repo = ConversationRepository(session)
    c = await repo.get(conversation_id)
    if c is None:
        raise NotFound("conversation not found")
    last = await RoundRepository(session).last_for([c.id])
    return ConversationView(
        c,
        await repo.participants(c.id),
        last.get(c.id),
        await messaging.next_planned(session, c.id),
    )


async def _check_refs(session: AsyncSession, principal: Principal, data: ConversationIn) -> None:
    for p in data.participants:
        try:
            await instances.get_instance(session, principal, p.instance_id)
        except NotFound:
            raise ValidationFailed(
                "a participant number does not exist", field="participants"
            ) from None
        try:
            await personas.get_persona(session, principal, p.persona_id)
        except NotFound:
            raise ValidationFailed(
                "a participant persona does not exist", field="participants"
            ) from None


async def create_conversation(
    session: AsyncSession, principal: Principal, data: ConversationIn
) -> Conversation:
    require(principal, "write", role=Role.OPERATOR)
    repo = ConversationRepository(session)
    if await repo.by_name(data.name):
        raise Conflict("a conversation with this name already exists", field="name")
    await _check_refs(session, principal, data)
    windows = to_json(parse_windows(data.windows if data.windows is not None else DEFAULT_WINDOWS))
    conversation = await repo.add(
        Conversation(
            tenant_id=principal.tenant_id,
            name=" ".join(data.name.split()),
            topics=data.topics,
            delay_min_s=data.delay_min_s,
            delay_max_s=data.delay_max_s,
            rounds_per_window=data.rounds_per_window,
            windows=windows,
            state=data.state,
        )
    )
    for position, p in enumerate(data.participants):
        await repo.add_participant(
            ConversationParticipant(
                tenant_id=principal.tenant_id,
                conversation_id=conversation.id,
                instance_id=p.instance_id,
                persona_id=p.persona_id,
                position=position,
            )
        )
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="conversation.create",
        target_type="conversation",
        target_id=conversation.id,
        name=conversation.name,
    )
    if conversation.state == ConversationState.ACTIVE:
        await engine.plan(session, conversation, utcnow(), random.Random())
    return conversation


async def set_state(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    state: ConversationState | str,
) -> Conversation:
    require(principal, "write", role=Role.OPERATOR)
    if state not in tuple(ConversationState):
        raise ValidationFailed("state is active or paused", field="state")
    c = await ConversationRepository(session).get(conversation_id, for_update=True)
    if c is None:
        raise NotFound("conversation not found")
    if c.state == state:
        return c
    c.state = ConversationState(state)
    now = utcnow()
    rng = random.Random()
    if c.state == ConversationState.PAUSED:
        open_round = await RoundRepository(session).open_round(c.id)
        if open_round is not None:
            await messaging.cancel_planned_for_round(session, open_round.id)
            await engine.finish(
                session,
                open_round,
                RoundState.CANCELLED,
                "conversation paused",
                now,
                rng,
                replan=False,
            )
        c.next_round_at = None
    else:
        await session.flush()
        await engine.plan(session, c, now, rng)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action=f"conversation.{'pause' if c.state == ConversationState.PAUSED else 'resume'}",
        target_type="conversation",
        target_id=c.id,
    )
    return c


async def delete_conversation(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> None:
    require(principal, "write", role=Role.OPERATOR)
    repo = ConversationRepository(session)
    c = await repo.get(conversation_id, for_update=True)
    if c is None:
        raise NotFound("conversation not found")
    open_round = await RoundRepository(session).open_round(c.id)
    if open_round is not None:
        await RoundRepository(session).release_members(open_round.id)
    await repo.delete(c)


@dataclass(frozen=True)
class RoundDetail:
    round: Round
    turns: list[OutgoingMessage]
    deliveries: dict[str, str]
    decisions: list[PolicyDecision]


async def rounds(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, limit: int = 20
) -> list[RoundDetail]:
    view = await get_view(session, principal, conversation_id)
    out = []
    for r in await RoundRepository(session).recent(view.conversation.id, limit):
        out.append(await _detail(session, r))
    return out


async def _detail(session: AsyncSession, r: Round) -> RoundDetail:
    turns = await messaging.messages_for_round(session, r.id)
    deliveries = await messaging.delivery_statuses(
        session, [t.provider_message_id for t in turns if t.provider_message_id]
    )
    return RoundDetail(r, turns, deliveries, await messaging.decisions_for_round(session, r.id))


async def round_detail(
    session: AsyncSession, principal: Principal, round_id: uuid.UUID
) -> RoundDetail:
    require(principal, "read")
    r = await RoundRepository(session).get(round_id)
    if r is None:
        raise NotFound("round not found")
    return await _detail(session, r)


# --- the overview's part (registered with tenants.overview by the app) -------------------

UPCOMING_SHOWN = 6
FAILING_WINDOW = timedelta(hours=24)


async def overview(session: AsyncSession, now: datetime) -> overview_parts.ConversationsPart:
    """Conversations and rounds as the overview shows them: counts, those waiting for their
    numbers, the next rounds, and the rounds of the last 24 hours by outcome (with the
    conversations whose rounds failed). Five statements, whatever the tenant's size."""
    repo = OverviewRepository(session)
    active, paused, waiting = await repo.counts()
    since = now - FAILING_WINDOW
    return overview_parts.ConversationsPart(
        active=active,
        paused=paused,
        waiting=waiting,
        waiting_list=[
            overview_parts.ConversationRef(i, name, reason)
            for i, name, reason in await repo.waiting(3)
        ],
        upcoming=[
            overview_parts.UpcomingRound(
                r.conversation_id, name, r.state, r.topic, r.started_at or r.planned_at
            )
            for r, name in await repo.upcoming(UPCOMING_SHOWN)
        ],
        outcomes=await repo.outcomes_since(since),
        failing=[
            overview_parts.FailingConversation(i, name, n, state, at)
            for i, name, n, state, at in await repo.failing_since(
                since, overview_parts.FAILED_ROUNDS, 3
            )
        ],
    )
