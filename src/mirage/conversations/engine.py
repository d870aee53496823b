"""Rounds: plan, start, answer the real inbound message, time out, finish.

Every step runs inside a job's transaction (``@tenant_job``): it re-reads state first and
writes its side effect together with the next state, so a retried job does nothing twice.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.ai.llm import AIConfig
from mirage.ai.persona import PersonaSpec, ReplyRequest, Turn, daypart_of
from mirage.ai.service import generate_reply
from mirage.config import get_settings
from mirage.conversations import planner
from mirage.conversations.repository import (
    ConversationRepository,
    OutgoingRepository,
    RoundRepository,
)
from mirage.conversations.windows import windows_of
from mirage.kit import jobs
from mirage.kit.clock import human_seconds
from mirage.kit.live import notify
from mirage.kit.logging import get_logger
from mirage.messaging import cadence
from mirage.models import (
    Conversation,
    Instance,
    OutgoingMessage,
    Persona,
    Round,
    RoundMember,
    Tenant,
    TenantSettings,
)
from mirage.tenants import settings as tenant_settings

log = get_logger(__name__)
BUSY_RETRY_S = (45.0, 150.0)


def persona_spec(p: Persona) -> PersonaSpec:
    return PersonaSpec(
        name=p.name,
        style=p.style,  # type: ignore[arg-type]
        vocabulary=tuple(p.vocabulary),
        emoji_rate=p.emoji_rate,
        typo_rate=p.typo_rate,
        min_length=p.min_length,
        max_length=p.max_length,
        greetings={k: tuple(v) for k, v in p.greetings.items()},  # type: ignore[misc]
        language=p.language,
    )


def ai_config(row: TenantSettings) -> AIConfig | None:
    """The tenant's own endpoint and key, else the deployment's endpoint and key, else none.

    The two never mix: the deployment's key goes only to the deployment's endpoint."""
    settings = get_settings()
    tenant_key = tenant_settings.ai_key(row)
    if tenant_key:
        return AIConfig(
            api_key=tenant_key,
            base_url=row.ai_base_url or settings.openai_base_url,
            model=row.ai_model or settings.openai_model,
        )
    if settings.openai_api_key is None or row.ai_base_url:
        return None
    return AIConfig(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        model=row.ai_model or settings.openai_model,
    )


def delays(conversation: Conversation, row: TenantSettings) -> tuple[float, float]:
    if conversation.delay_min_s and conversation.delay_max_s:
        return float(conversation.delay_min_s), float(conversation.delay_max_s)
    return float(row.delay_min_s), float(row.delay_max_s)


async def _tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    assert tenant is not None
    return tenant


# --- planning -----------------------------------------------------------------------------


async def plan(
    session: AsyncSession, conversation: Conversation, now: datetime, rng: random.Random
) -> Round | None:
    """Create the conversation's next round (if none is open) and schedule its start."""
    rounds = RoundRepository(session)
    if conversation.state != "active" or await rounds.open_round(conversation.id):
        return None
    tenant = await _tenant(session, conversation.tenant_id)
    windows = windows_of(conversation.windows)
    zone = ZoneInfo(tenant.timezone)
    start = planner.plan_next_round(
        now,
        last_round_at=conversation.last_round_at,
        rounds_per_window=conversation.rounds_per_window,
        window_end=windows.current_end(now, zone),
        next_open=lambda t: windows.next_open_at(t, zone),
        in_window=lambda t: windows.is_open_at(t, zone),
        rng=rng,
        pause=human_seconds,
    )
    conversation.next_round_at = start
    if start is None:
        return None
    topic = rng.choice(conversation.topics) if conversation.topics else "dia a dia"
    rnd = await rounds.add(
        Round(
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.id,
            state="planned",
            topic=topic,
            exchanges=planner.exchanges_for(rng),
            planned_at=start,
        )
    )
    from mirage.conversations import tasks

    await jobs.defer(session, tasks.start_round, schedule_at=start, round_id=str(rnd.id))
    await notify(session, conversation.tenant_id, "conversation", conversation.id)
    return rnd


async def plan_tenant(session: AsyncSession, now: datetime, rng: random.Random) -> int:
    planned = 0
    for conversation in await ConversationRepository(session).active():
        if await plan(session, conversation, now, rng):
            planned += 1
    return planned


# --- starting and answering ---------------------------------------------------------------


async def start_round(
    session: AsyncSession, round_id: uuid.UUID, now: datetime, rng: random.Random
) -> str:
    rounds = RoundRepository(session)
    rnd = await rounds.get(round_id, for_update=True)
    if rnd is None or rnd.state != "planned":
        return "not-planned"
    conversation = await ConversationRepository(session).get(rnd.conversation_id)
    if conversation is None or conversation.state != "active":
        await finish(session, rnd, "cancelled", "conversation paused", now, rng, replan=False)
        return "cancelled"
    members = await ConversationRepository(session).participants(conversation.id)
    connected = [m for m in members if m[1].connected]
    if len(connected) < 2:
        await finish(session, rnd, "blocked", "fewer than two connected numbers", now, rng)
        return "blocked"
    pair = rng.sample(connected, 2)
    # Hold both numbers; the database refuses a number already in another active round.
    try:
        async with session.begin_nested():
            for _, inst, _ in pair:
                await rounds.add_member(
                    RoundMember(tenant_id=rnd.tenant_id, round_id=rnd.id, instance_id=inst.id)
                )
    except IntegrityError:
        rnd.planned_at = now + timedelta(seconds=human_seconds(rng.uniform(*BUSY_RETRY_S)))
        from mirage.conversations import tasks

        await jobs.defer(
            session, tasks.start_round, schedule_at=rnd.planned_at, round_id=str(rnd.id)
        )
        return "busy"
    rnd.state = "running"
    rnd.started_at = now
    (_, sender, sender_persona), (_, receiver, receiver_persona) = pair
    await _plan_turn(
        session,
        conversation,
        rnd,
        sender,
        sender_persona,
        receiver,
        receiver_persona,
        incoming=None,
        now=now,
        rng=rng,
    )
    await notify(session, rnd.tenant_id, "conversation", conversation.id, round_id=rnd.id)
    return "started"


async def _plan_turn(
    session: AsyncSession,
    conversation: Conversation,
    rnd: Round,
    sender: Instance,
    sender_persona: Persona,
    receiver: Instance,
    receiver_persona: Persona,
    *,
    incoming: str | None,
    now: datetime,
    rng: random.Random,
) -> OutgoingMessage:
    """Write the next message of the round and schedule its send (reading + thinking first;
    typing is shown by the send itself)."""
    outgoing = OutgoingRepository(session)
    history = [
        Turn(speaker=(m.persona_id and str(m.persona_id)) or "", text=m.text)
        for m in await outgoing.for_round(rnd.id)
    ]
    names = {
        str(sender_persona.id): sender_persona.name,
        str(receiver_persona.id): receiver_persona.name,
    }
    history = [Turn(speaker=names.get(t.speaker, t.speaker), text=t.text) for t in history]
    tenant = await _tenant(session, rnd.tenant_id)
    row = await tenant_settings.get_or_create(session, rnd.tenant_id)
    local = now.astimezone(ZoneInfo(tenant.timezone))
    turn = len(history) + 1
    request = ReplyRequest(
        persona=persona_spec(sender_persona),
        partner_name=receiver_persona.name,
        topic=rnd.topic,
        daypart=daypart_of(local),
        history=tuple(history),
        opening=turn == 1,
        closing=turn == rnd.exchanges,
    )
    reply = await generate_reply(
        request, config=ai_config(row), recent_texts=await outgoing.recent_texts(), rng=rng
    )
    min_s, max_s = delays(conversation, row)
    timing = cadence.plan_turn(incoming, reply.text, rng, min_s, max_s)
    planned_at = now + timedelta(seconds=human_seconds(timing.read_s + timing.think_s))
    msg = await outgoing.add(
        OutgoingMessage(
            tenant_id=rnd.tenant_id,
            instance_id=sender.id,
            round_id=rnd.id,
            conversation_id=conversation.id,
            persona_id=sender_persona.id,
            to_number=receiver.phone or (receiver.owner_jid or "").split("@")[0],
            text=reply.text,
            turn=turn,
            status="planned",
            planned_at=planned_at,
            read_ms=int(timing.read_s * 1000),
            think_ms=int(timing.think_s * 1000),
            typing_ms=int(timing.typing_s * 1000),
            generation_source=reply.source,
            fallback_reason=reply.fallback_reason,
            repetition_score=round(reply.repetition_score, 4),
        )
    )
    from mirage.messaging import tasks as messaging_tasks

    await jobs.defer(
        session,
        messaging_tasks.send_message,
        schedule_at=planned_at,
        lock=f"send:{sender.id}",
        outgoing_id=str(msg.id),
    )
    return msg


async def after_sent(
    session: AsyncSession, msg: OutgoingMessage, now: datetime, rng: random.Random
) -> None:
    """The message went out. The last one ends the round; otherwise the reply is already
    awaited (set when the send was claimed, before the gateway could deliver it)."""
    if msg.round_id is None:
        return
    rnd = await RoundRepository(session).get(msg.round_id, for_update=True)
    if rnd is None or rnd.state != "running":
        return
    rnd.turns_sent = max(rnd.turns_sent, msg.turn)
    if rnd.turns_sent >= rnd.exchanges:
        await finish(session, rnd, "completed", None, now, rng)
        return
    await notify(session, rnd.tenant_id, "conversation", rnd.conversation_id, round_id=rnd.id)


async def _receiver_of(session: AsyncSession, rnd: Round, sender_id: uuid.UUID) -> uuid.UUID | None:
    from sqlalchemy import select

    stmt = select(RoundMember.instance_id).where(
        RoundMember.round_id == rnd.id, RoundMember.instance_id != sender_id
    )
    return (await session.execute(stmt)).scalars().first()


async def on_inbound(
    session: AsyncSession,
    round_id: uuid.UUID,
    *,
    instance_id: uuid.UUID,
    message_id: uuid.UUID | None,
    now: datetime,
    rng: random.Random,
    text: str | None = None,
) -> str:
    """The real inbound message arrived on the awaited number: the next turn is its reply.

    The job names the stored message by id (job arguments are not tenant-isolated, so they
    never carry its text); the text is read here, under the tenant's RLS context. ``text``
    is only for jobs queued before that change."""
    if message_id is not None:
        from sqlalchemy import select

        from mirage.models import Message

        stmt = select(Message.text).where(
            Message.id == message_id, Message.instance_id == instance_id
        )
        text = (await session.execute(stmt)).scalar_one_or_none()
    rounds = RoundRepository(session)
    rnd = await rounds.get(round_id, for_update=True)
    if rnd is None or rnd.state != "running" or rnd.awaiting_instance_id != instance_id:
        return "not-awaited"  # a duplicate delivery, or the round moved on
    rnd.awaiting_instance_id = None
    rnd.awaiting_from_jid = None
    rnd.reply_deadline = None
    conversation = await ConversationRepository(session).get(rnd.conversation_id)
    if conversation is None or conversation.state != "active":
        await finish(session, rnd, "cancelled", "conversation paused", now, rng, replan=False)
        return "cancelled"
    members = {
        m[1].id: m for m in await ConversationRepository(session).participants(conversation.id)
    }
    other_id = await _receiver_of(session, rnd, instance_id)
    if instance_id not in members or other_id not in members:
        await finish(session, rnd, "failed", "a participant left the conversation", now, rng)
        return "failed"
    _, me, my_persona = members[instance_id]
    _, other, other_persona = members[other_id]
    await _plan_turn(
        session,
        conversation,
        rnd,
        me,
        my_persona,
        other,
        other_persona,
        incoming=text,
        now=now,
        rng=rng,
    )
    await notify(session, rnd.tenant_id, "conversation", conversation.id, round_id=rnd.id)
    return "replying"


async def check_timeout(
    session: AsyncSession, round_id: uuid.UUID, turn: int, now: datetime, rng: random.Random
) -> str:
    rnd = await RoundRepository(session).get(round_id, for_update=True)
    if rnd is None or rnd.state != "running" or rnd.awaiting_instance_id is None:
        return "moved-on"
    latest = max((m.turn for m in await OutgoingRepository(session).for_round(rnd.id)), default=0)
    if latest != turn:
        return "moved-on"  # the reply came and a later turn is under way
    if rnd.reply_deadline and rnd.reply_deadline > now:
        return "not-due"
    await finish(session, rnd, "timed_out", "the reply never arrived", now, rng)
    return "timed_out"


async def finish(
    session: AsyncSession,
    rnd: Round,
    state: str,
    outcome: str | None,
    now: datetime,
    rng: random.Random,
    *,
    replan: bool = True,
) -> None:
    rnd.state = state
    rnd.outcome = outcome
    rnd.ended_at = now
    rnd.awaiting_instance_id = None
    rnd.awaiting_from_jid = None
    await RoundRepository(session).release_members(rnd.id)
    conversation = await ConversationRepository(session).get(rnd.conversation_id, for_update=True)
    if conversation is not None:
        conversation.last_round_at = now
        await session.flush()
        if replan:
            await plan(session, conversation, now, rng)
    await notify(session, rnd.tenant_id, "conversation", rnd.conversation_id, round_id=rnd.id)
    log.info("round.finished", round_id=str(rnd.id), state=state, outcome=outcome)


# --- hooks from the send pipeline ---------------------------------------------------------


async def message_sending(session: AsyncSession, msg: OutgoingMessage, now: datetime) -> None:
    """About to hand the message to the gateway: from now on its reply may arrive (the
    gateway can deliver before we even hear back), so the round starts awaiting it here."""
    rnd = await _round_of(session, msg)
    if rnd is not None and rnd.state == "running" and msg.turn < rnd.exchanges:
        sender = await session.get(Instance, msg.instance_id)
        row = await tenant_settings.get_or_create(session, rnd.tenant_id)
        rnd.awaiting_instance_id = await _receiver_of(session, rnd, msg.instance_id)
        rnd.awaiting_from_jid = sender.owner_jid if sender else None
        rnd.reply_deadline = now + timedelta(
            seconds=row.reply_timeout_s + human_seconds(msg.typing_ms / 1000)
        )
        from mirage.conversations import tasks

        await jobs.defer(
            session,
            tasks.check_timeout,
            schedule_at=rnd.reply_deadline,
            round_id=str(rnd.id),
            turn=msg.turn,
        )
    if msg.conversation_id:
        await notify(
            session, msg.tenant_id, "conversation", msg.conversation_id, round_id=msg.round_id
        )


async def message_deferred(session: AsyncSession, msg: OutgoingMessage, decision: object) -> None:
    if msg.conversation_id:
        await notify(
            session, msg.tenant_id, "conversation", msg.conversation_id, round_id=msg.round_id
        )


async def _round_of(session: AsyncSession, msg: OutgoingMessage) -> Round | None:
    if msg.round_id is None:
        return None
    return await RoundRepository(session).get(msg.round_id, for_update=True)


async def message_denied(
    session: AsyncSession, msg: OutgoingMessage, decision: object, now: datetime, rng: random.Random
) -> None:
    rnd = await _round_of(session, msg)
    if rnd is not None and rnd.state in ("planned", "running"):
        reason = getattr(decision, "reason", None)
        await finish(session, rnd, "blocked", f"policy: {reason}", now, rng)


async def message_failed(
    session: AsyncSession, msg: OutgoingMessage, error: str, now: datetime, rng: random.Random
) -> None:
    rnd = await _round_of(session, msg)
    if rnd is not None and rnd.state in ("planned", "running"):
        await finish(session, rnd, "failed", error[:200], now, rng)
