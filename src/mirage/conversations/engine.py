"""Rounds: plan, start, compose each turn, answer the real inbound message, time out, finish.

Every step runs inside a job's transaction (``@tenant_job``): it re-reads state first and
writes its side effect together with the next state, so a retried job does nothing twice.
The one step with a network call, composing a turn (the LLM), runs in three parts: plan in a
short transaction, call the LLM holding no transaction and no lock, then write the turn in
another transaction that re-checks the round (if it moved on meanwhile, the text is dropped).

The round owns its messages through the send pipeline (``messaging.service``): it registers as
the owner of ``warmup`` messages (in ``conversations.tasks``), supplies their policy context,
starts awaiting the reply when a send is claimed, and reacts to each outcome in its
``conversations.on_send_outcome`` job.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.ai.dialogue import round_length
from mirage.ai.llm import AIConfig
from mirage.ai.persona import PastRound, ReplyRequest, Turn, daypart_of
from mirage.ai.service import GeneratedReply, generate_reply
from mirage.config import get_settings, human_seconds
from mirage.conversations import planner, schedule
from mirage.conversations.repository import (
    ConversationRepository,
    InboundRepository,
    Participant,
    RoundRepository,
    SlotRepository,
)
from mirage.conversations.windows import windows_of
from mirage.db.engine import session_scope
from mirage.db.tenancy import current_tenant_id
from mirage.kit import jobs
from mirage.kit.cache import Cache
from mirage.kit.clock import utcnow
from mirage.kit.live import notify
from mirage.kit.logging import get_logger
from mirage.messaging import cadence
from mirage.messaging import service as messaging
from mirage.models import (
    Conversation,
    ConversationState,
    Instance,
    OutgoingMessage,
    OutgoingStatus,
    Purpose,
    Round,
    RoundMember,
    RoundSlot,
    RoundState,
    Tenant,
    TenantSettings,
)
from mirage.models.messaging import FINAL_STATUSES
from mirage.personas import service as personas
from mirage.policy import ALWAYS, SendContext, WeeklyWindows, local_day_start
from mirage.policy.windows import resolve_local
from mirage.tenants import settings as tenant_settings

log = get_logger(__name__)
BUSY_RETRY_S = (45.0, 150.0)
# Jobs are deferred by their registered names (conversations.tasks registers them).
START_ROUND_JOB = "conversations.start_round"
COMPOSE_TURN_JOB = "conversations.compose_turn"
CHECK_TIMEOUT_JOB = "conversations.check_timeout"
OUTCOME_JOB = "conversations.on_send_outcome"
NOT_ENOUGH_NUMBERS = "fewer than two of its numbers can send"
# How long a round may wait for a turn whose number cannot send (disconnected, paused,
# unhealthy) before it ends as `unsent` and frees both numbers. Short reconnects (Baileys'
# 408/428/515 codes resolve in seconds) fit comfortably; a logged-out number does not.
HOLD_LIMIT = timedelta(minutes=3)
# A round the policy ended says so first in its outcome: "policy: quiet_hours (until …)".
POLICY_OUTCOME = "policy: "
# A round step that should have happened by now and did not (its job was lost): repaired.
STALL_LIMIT = timedelta(minutes=10)
# A job that should have run by now (its time is this far past): deferred again.
REDEFER_AFTER = timedelta(minutes=2)
# The plan (round slots) covers today and this many days after it, whole days in the tenant's
# zone: the week grid shows it, and each new day is planned as it comes into reach.
PLAN_DAYS = 8
# A slot whose start passed this long ago with no round made from it is dropped (missed).
MISSED_AFTER = timedelta(minutes=2)
# A round's start job that runs earlier than this before its time (it was moved later) waits.
START_EARLY = timedelta(seconds=5)
# Used slots are kept this long (the week grid shows the past days of the week from rounds).
KEEP_SLOTS = timedelta(days=8)


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
    if tenant is None:
        raise LookupError("the round's tenant is gone")
    return tenant


# --- planning -----------------------------------------------------------------------------


async def plan(
    session: AsyncSession, conversation: Conversation, now: datetime, rng: random.Random
) -> Round | None:
    """Create the conversation's next round (if none is open) from its next slot, and
    schedule its start."""
    rounds = RoundRepository(session)
    if conversation.state != ConversationState.ACTIVE or await rounds.open_round(conversation.id):
        return None
    if conversation.waiting_reason is not None:
        # Waiting for its numbers: plan again only once two can send (no round that would
        # only be blocked, minute after minute).
        if len(await _ready(session, conversation)) < 2:
            return None
        conversation.waiting_reason = None
        conversation.waiting_since = None
        log.info("conversation.resumed", conversation_id=str(conversation.id))
    slot = await _next_slot(session, conversation, now)
    if slot is None:
        conversation.next_round_at = None
        return None
    start = max(slot.starts_at, now)
    conversation.next_round_at = start
    topic = rng.choice(conversation.topics) if conversation.topics else "dia a dia"
    rnd = await rounds.add(
        Round(
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.id,
            state=RoundState.PLANNED,
            topic=topic,
            exchanges=round_length(rng),
            planned_at=start,
        )
    )
    slot.round_id = rnd.id
    await jobs.defer(session, START_ROUND_JOB, schedule_at=start, round_id=str(rnd.id))
    await notify(session, conversation.tenant_id, "conversation", conversation.id)
    return rnd


async def _next_slot(
    session: AsyncSession, conversation: Conversation, now: datetime
) -> RoundSlot | None:
    """The conversation's next unused slot (its plan filled first), missed ones dropped."""
    await plan_slots(session, conversation, now)
    slots = SlotRepository(session)
    await slots.drop_missed(conversation.id, now - MISSED_AFTER)
    return await slots.next_free(conversation.id, now - MISSED_AFTER)


async def plan_slots(session: AsyncSession, conversation: Conversation, now: datetime) -> int:
    """Fill the conversation's plan up to the end of the last planned day: each window (its
    schedule's windows minus the tenant's quiet hours) gets its rounds, never overlapping a
    slot that holds one of its numbers. Idempotent: planned days are not planned again
    (``slots_until``); the tenant's planning lock keeps two planners from interleaving."""
    if conversation.state != ConversationState.ACTIVE or conversation.waiting_reason is not None:
        return 0  # a waiting conversation holds no numbers: planned again when it resumes
    tenant = await _tenant(session, conversation.tenant_id)
    zone = ZoneInfo(tenant.timezone)
    horizon = local_day_start(now.astimezone(zone).date() + timedelta(days=PLAN_DAYS + 1), zone)
    since = max(now, conversation.slots_until or now)
    if since >= horizon:
        return 0  # the usual case, every minute: nothing new comes into reach
    members = await ConversationRepository(session).participants(conversation.id)
    if len(members) < 2:
        return 0
    slots = SlotRepository(session)
    await slots.lock_tenant(conversation.tenant_id)
    row = await tenant_settings.get_or_create(session, conversation.tenant_id)
    sched = schedule.effective(conversation, row)
    open_ranges = WeeklyWindows.from_json(sched.windows).without_daily(
        row.quiet_start, row.quiet_end
    )
    numbers = [m.instance.id for m in members]
    busy = [planner.Span(b.starts_at, b.ends_at) for b in await slots.busy(numbers, since)]
    cadence = planner.Cadence(sched.rounds_per_window, sched.pause_min_s, sched.pause_max_s)
    duration = planner.round_duration(delays(conversation, row)[1], human_seconds)
    first_soon = conversation.last_round_at is None and not await slots.count_for(conversation.id)
    added = 0
    day = since.astimezone(zone).date()
    while local_day_start(day, zone) < horizon:
        for start, end in open_ranges.days[day.weekday()]:
            window = planner.Span(
                resolve_local(day, start, zone).astimezone(UTC),
                (
                    local_day_start(day + timedelta(days=1), zone)
                    if end == time(0)
                    else resolve_local(day, end, zone)
                ).astimezone(UTC),
            )
            if window.end <= since:
                continue
            # The same window draws the same times (re-planning moves only what changed).
            rng = random.Random(f"{conversation.id}:{window.start.isoformat()}")
            for span in planner.plan_window(
                window,
                earliest=since,
                cadence=cadence,
                duration=duration,
                busy=busy,
                rng=rng,
                first_soon=first_soon,
                pause=human_seconds,
            ):
                first_soon = False
                busy.append(span)
                await slots.add(
                    RoundSlot(
                        tenant_id=conversation.tenant_id,
                        conversation_id=conversation.id,
                        starts_at=span.start,
                        ends_at=span.end,
                        instance_ids=numbers,
                    )
                )
                added += 1
        day += timedelta(days=1)
    conversation.slots_until = horizon
    await session.flush()
    return added


async def replan(
    session: AsyncSession, conversation: Conversation, now: datetime, rng: random.Random
) -> None:
    """Its schedule, numbers or the rules changed: plan its slots again from now. A planned
    round moves to the new first slot (earlier or later: its start job at the old time finds
    it not due); a running round keeps its slot and finishes."""
    slots = SlotRepository(session)
    await slots.lock_tenant(conversation.tenant_id)
    rnd = await RoundRepository(session).open_round(conversation.id)
    planned = rnd if rnd is not None and rnd.state == RoundState.PLANNED else None
    await slots.drop_unused(conversation.id, planned.id if planned else None)
    conversation.slots_until = None
    await session.flush()
    if conversation.state != ConversationState.ACTIVE:
        return
    if planned is None:
        if rnd is None:
            await plan(session, conversation, now, rng)
        else:
            await plan_slots(session, conversation, now)
        return
    slot = await _next_slot(session, conversation, now)
    if slot is None:
        await finish(
            session, planned, RoundState.CANCELLED, "no window opens", now, rng, replan=False
        )
        conversation.next_round_at = None
        return
    planned.planned_at = conversation.next_round_at = max(slot.starts_at, now)
    slot.round_id = planned.id
    await jobs.defer(
        session, START_ROUND_JOB, schedule_at=planned.planned_at, round_id=str(planned.id)
    )
    await notify(session, conversation.tenant_id, "conversation", conversation.id)


async def replan_after_settings(session: AsyncSession, now: datetime, rng: random.Random) -> int:
    """The tenant's rules changed (quiet hours, zone, delays, caps): every active
    conversation's plan is made again from now, both ways — a round the old rules moved to
    later (quiet hours, a deferral) comes back, one the new quiet hours cover moves out."""
    await SlotRepository(session).lock_tenant(session_tenant(session))
    moved = 0
    for conversation in await ConversationRepository(session).active():
        await replan(session, conversation, now, rng)
        moved += 1
    return moved


def session_tenant(session: AsyncSession) -> uuid.UUID:
    """The tenant a job's session works for (its RLS context)."""
    tenant = current_tenant_id()
    if tenant is None:
        raise LookupError("no tenant context")
    return tenant


async def plan_tenant(session: AsyncSession, now: datetime, rng: random.Random) -> int:
    slots = SlotRepository(session)
    # First: every path that plans takes this lock before it locks a conversation.
    await slots.lock_tenant(session_tenant(session))
    await repair_tenant(session, now, rng)
    await slots.prune(now - KEEP_SLOTS)
    planned = 0
    for conversation in await ConversationRepository(session).active():
        await plan_slots(session, conversation, now)  # a new day comes into reach
        if await plan(session, conversation, now, rng):
            planned += 1
    return planned


# --- repairs: what a lost job, a stranded send or a silent number left behind ---------------


async def repair_tenant(session: AsyncSession, now: datetime, rng: random.Random) -> list[str]:
    """Every minute, before planning: bring every open round to where its messages say it
    should be. Each step is the same idempotent step a job would have taken, so a late job
    and a repair never do a thing twice."""
    repaired = []
    for rnd in await RoundRepository(session).open_rounds():
        what = await _repair(session, rnd, now, rng)
        if what is not None:
            log.info("round.repaired", round_id=str(rnd.id), repair=what)
            repaired.append(what)
    return repaired


async def _repair(
    session: AsyncSession, rnd: Round, now: datetime, rng: random.Random
) -> str | None:
    if rnd.state == RoundState.PLANNED:
        if rnd.planned_at < now - REDEFER_AFTER:
            # Its start job was lost (aborted by a shutdown, or failed): start it again.
            try:
                async with session.begin_nested():
                    await jobs.defer(
                        session,
                        START_ROUND_JOB,
                        round_id=str(rnd.id),
                        queueing_lock=f"start:{rnd.id}",
                    )
            except AlreadyEnqueued:
                return None
            return "start-again"
        return None
    turns = await messaging.messages_for_round(session, rnd.id)
    latest = max(turns, key=lambda m: m.turn, default=None)
    if latest is None:
        if (rnd.started_at or rnd.planned_at) < now - STALL_LIMIT:
            await finish(
                session, rnd, RoundState.FAILED, "the first turn was never written", now, rng
            )
            return "never-written"
        return None
    if latest.status == OutgoingStatus.SENT:
        if rnd.turns_sent < latest.turn:  # the outcome job was lost
            await after_sent(session, latest, now, rng)
            return "after-sent"
        if rnd.awaiting_instance_id is not None:
            if rnd.reply_deadline is not None and rnd.reply_deadline < now - REDEFER_AFTER:
                await check_timeout(session, rnd.id, latest.turn, now, rng)
                return "timeout"
            return None
        if (latest.sent_at or now) < now - STALL_LIMIT:
            await finish(
                session, rnd, RoundState.FAILED, "the next turn was never written", now, rng
            )
            return "never-written"
        return None
    if latest.status in FINAL_STATUSES:  # failed, cancelled or unknown: the outcome job was lost
        state, label = _unsent_state(latest)
        await finish(session, rnd, state, label, now, rng)
        return str(state)
    if latest.status == OutgoingStatus.PLANNED and latest.created_at < now - HOLD_LIMIT:
        sender = await session.get(Instance, latest.instance_id)
        why = messaging.why_cannot_send(sender) if sender else "number_gone"
        if why is not None:
            # Its number cannot send (disconnected, paused, unhealthy): the round would hold
            # both numbers for as long as that lasts. End it with the real reason.
            name = sender.display_name if sender else "?"
            await finish(session, rnd, RoundState.UNSENT, f"{name} cannot send: {why}", now, rng)
            return "held"
        if latest.planned_at > now + HOLD_LIMIT:
            # The policy moved the turn far ahead (a cap spent for the day, quiet hours, a
            # closed window): the round would hold both numbers until then. It ends blocked,
            # with the policy's reason, and the conversation's next round is planned from
            # that time on — not one now that would be deferred the same way.
            decision = await messaging.latest_decision(session, latest.id)
            reason = decision.reason if decision else "deferred"
            until = latest.planned_at
            label = f"{POLICY_OUTCOME}{reason} (until {until:%Y-%m-%d %H:%M} UTC)"
            await finish(session, rnd, RoundState.BLOCKED, label, now, rng, replan=False)
            conversation = await ConversationRepository(session).get(rnd.conversation_id)
            if conversation is not None:
                await plan(session, conversation, until, rng)
            return "deferred-far"
    return None


# --- starting and answering ---------------------------------------------------------------


async def start_round(
    session: AsyncSession, round_id: uuid.UUID, now: datetime, rng: random.Random
) -> str:
    rounds = RoundRepository(session)
    rnd = await rounds.get(round_id, for_update=True)
    if rnd is None or rnd.state != RoundState.PLANNED:
        return "not-planned"
    if rnd.planned_at > now + START_EARLY:
        return "not-due"  # moved later (re-planned): its job at the new time starts it
    conversation = await ConversationRepository(session).get(rnd.conversation_id)
    if conversation is None or conversation.state != ConversationState.ACTIVE:
        await finish(
            session, rnd, RoundState.CANCELLED, "conversation paused", now, rng, replan=False
        )
        return "cancelled"
    members = await ConversationRepository(session).participants(conversation.id)
    ready = [m for m in members if messaging.can_send(m.instance)]
    if len(ready) < 2:
        # Blocked once; the conversation then waits (reason shown) until two numbers can
        # send again, instead of planning a round that would be blocked every minute.
        await finish(session, rnd, RoundState.BLOCKED, NOT_ENOUGH_NUMBERS, now, rng, replan=False)
        conversation.waiting_reason = _waiting_reason(members)
        conversation.waiting_since = now
        return "blocked"
    sender, receiver = rng.sample(ready, 2)
    # Hold both numbers; the database refuses a number already in another active round. In
    # one order for everyone (by id): two rounds of the same pair taking them in opposite
    # orders would each wait for the other's first insert — a deadlock, not a refusal.
    try:
        async with session.begin_nested():
            for m in sorted((sender, receiver), key=lambda p: p.instance.id):
                await rounds.add_member(
                    RoundMember(tenant_id=rnd.tenant_id, round_id=rnd.id, instance_id=m.instance.id)
                )
    except IntegrityError:
        rnd.planned_at = now + timedelta(seconds=human_seconds(rng.uniform(*BUSY_RETRY_S)))
        await jobs.defer(session, START_ROUND_JOB, schedule_at=rnd.planned_at, round_id=str(rnd.id))
        return "busy"
    rnd.state = RoundState.RUNNING
    rnd.started_at = now
    await _compose_next(session, rnd, turn=1, sender=sender.instance.id, incoming=None)
    await notify(session, rnd.tenant_id, "conversation", conversation.id, round_id=rnd.id)
    return "started"


async def _ready(session: AsyncSession, conversation: Conversation) -> list[Participant]:
    members = await ConversationRepository(session).participants(conversation.id)
    return [m for m in members if messaging.can_send(m.instance)]


def _waiting_reason(members: Sequence[Participant]) -> str:
    """Which numbers cannot send and why (policy reason codes), for the conversation page."""
    parts = [
        f"{m.instance.display_name}: {messaging.why_cannot_send(m.instance)}"
        for m in members
        if not messaging.can_send(m.instance)
    ]
    return f"{NOT_ENOUGH_NUMBERS} ({'; '.join(parts)})"[:200]


async def _compose_next(
    session: AsyncSession,
    rnd: Round,
    *,
    turn: int,
    sender: uuid.UUID,
    incoming: uuid.UUID | None,
) -> None:
    """Have the next turn written by its own job (it calls the LLM outside any transaction),
    queued in this transaction: if this one rolls back, no turn is written."""
    await jobs.defer(
        session,
        COMPOSE_TURN_JOB,
        round_id=str(rnd.id),
        turn=turn,
        sender_id=str(sender),
        message_id=str(incoming) if incoming else None,
    )


@dataclass(frozen=True)
class TurnPlan:
    """Everything needed to write a turn, read in one short transaction."""

    round_id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    turn: int
    sender_id: uuid.UUID
    sender_persona_id: uuid.UUID
    to_number: str
    request: ReplyRequest
    ai: AIConfig | None
    recent_texts: list[str]
    incoming: str | None
    delays: tuple[float, float]
    now: datetime


async def plan_turn(
    session: AsyncSession,
    round_id: uuid.UUID,
    *,
    turn: int,
    sender_id: uuid.UUID,
    message_id: uuid.UUID | None,
    now: datetime,
) -> TurnPlan | str:
    """Part 1 of composing a turn (no lock taken): what to ask the LLM, or why not to."""
    rnd = await RoundRepository(session).get(round_id)
    if rnd is None or rnd.state != RoundState.RUNNING:
        return "moved-on"
    turns = await messaging.messages_for_round(session, rnd.id)
    if len(turns) != turn - 1:
        return "moved-on"  # already written (a retried job), or the round is elsewhere
    conversation = await ConversationRepository(session).get(rnd.conversation_id)
    if conversation is None:
        return "moved-on"
    members = {
        m.instance.id: m
        for m in await ConversationRepository(session).participants(conversation.id)
    }
    receiver_id = await RoundRepository(session).other_member(rnd.id, sender_id)
    if sender_id not in members or receiver_id not in members:
        return "moved-on"
    me, other = members[sender_id], members[receiver_id]
    names = {str(me.persona.id): me.persona.name, str(other.persona.id): other.persona.name}
    history = tuple(
        Turn(
            speaker=names.get(str(m.persona_id), str(m.persona_id)) if m.persona_id else "",
            text=m.text,
        )
        for m in turns
    )
    tenant = await _tenant(session, rnd.tenant_id)
    row = await tenant_settings.get_or_create(session, rnd.tenant_id)
    zone = ZoneInfo(tenant.timezone)
    local = now.astimezone(zone)
    incoming = await InboundRepository(session).text(message_id, sender_id) if message_id else None
    earlier = await _earlier_rounds(session, rnd, names, zone, now)
    return TurnPlan(
        round_id=rnd.id,
        tenant_id=rnd.tenant_id,
        conversation_id=conversation.id,
        turn=turn,
        sender_id=sender_id,
        sender_persona_id=me.persona.id,
        to_number=other.instance.phone or (other.instance.owner_jid or "").split("@")[0],
        request=ReplyRequest(
            persona=personas.persona_spec(me.persona),
            partner_name=other.persona.name,
            topic=rnd.topic,
            daypart=daypart_of(local),
            history=history,
            opening=turn == 1,
            closing=turn == rnd.exchanges,
            earlier=earlier,
            now=local,
        ),
        ai=ai_config(row),
        recent_texts=await messaging.recent_texts(session),
        incoming=incoming,
        delays=delays(conversation, row),
        now=now,
    )


# The generator's memory across rounds: the conversation's last rounds within a few days,
# read from their sent messages (nothing else is stored, so it survives restarts). Three days
# of a busy pair are about twenty rounds: what either side said of themselves stays true.
MEMORY_ROUNDS = 20
MEMORY_SPAN = timedelta(days=3)


async def _earlier_rounds(
    session: AsyncSession, rnd: Round, names: dict[str, str], zone: ZoneInfo, now: datetime
) -> tuple[PastRound, ...]:
    out: list[PastRound] = []
    for past in await RoundRepository(session).recent(rnd.conversation_id, MEMORY_ROUNDS + 1):
        began = past.started_at or past.planned_at
        if past.id == rnd.id or began < now - MEMORY_SPAN or len(out) == MEMORY_ROUNDS:
            continue
        turns = tuple(
            Turn(speaker=names.get(str(m.persona_id), ""), text=m.text)
            for m in await messaging.messages_for_round(session, past.id)
            if m.status == OutgoingStatus.SENT and m.persona_id is not None
        )
        if turns:
            out.append(PastRound(topic=past.topic, turns=turns, at=began.astimezone(zone)))
    return tuple(reversed(out))


async def write_turn(
    session: AsyncSession, plan: TurnPlan, reply: GeneratedReply, rng: random.Random
) -> str:
    """Part 3: write the turn — if the round is still where the plan found it."""
    rnd = await RoundRepository(session).get(plan.round_id, for_update=True)
    if rnd is None or rnd.state != RoundState.RUNNING or rnd.awaiting_instance_id is not None:
        return "moved-on"
    if len(await messaging.messages_for_round(session, rnd.id)) != plan.turn - 1:
        return "moved-on"
    if plan.sender_id not in await RoundRepository(session).members(rnd.id):
        return "moved-on"
    timing = cadence.plan_turn(plan.incoming, reply.text, rng, *plan.delays)
    planned_at = plan.now + timedelta(seconds=human_seconds(timing.read_s + timing.think_s))
    await messaging.plan_message(
        session,
        OutgoingMessage(
            tenant_id=plan.tenant_id,
            purpose=Purpose.WARMUP,
            instance_id=plan.sender_id,
            round_id=rnd.id,
            conversation_id=plan.conversation_id,
            persona_id=plan.sender_persona_id,
            to_number=plan.to_number,
            text=reply.text,
            turn=plan.turn,
            planned_at=planned_at,
            read_ms=int(timing.read_s * 1000),
            think_ms=int(timing.think_s * 1000),
            typing_ms=int(timing.typing_s * 1000),
            generation_source=reply.source,
            fallback_reason=reply.fallback_reason,
            repetition_score=round(reply.repetition_score, 4),
        ),
    )
    await notify(session, rnd.tenant_id, "conversation", plan.conversation_id, round_id=rnd.id)
    return "planned"


async def compose_turn(
    round_id: uuid.UUID,
    *,
    turn: int,
    sender_id: uuid.UUID,
    message_id: uuid.UUID | None,
    rng: random.Random,
) -> str:
    """Write the round's next message and schedule its send (reading + thinking first;
    typing is shown by the send itself). Three parts; only the middle one, holding nothing,
    talks to the LLM. Runs in the tenant's context (the job's)."""
    async with session_scope() as session:
        plan = await plan_turn(
            session, round_id, turn=turn, sender_id=sender_id, message_id=message_id, now=utcnow()
        )
    if isinstance(plan, str):
        return plan
    reply = await generate_reply(
        plan.request, config=plan.ai, recent_texts=plan.recent_texts, rng=rng
    )
    async with session_scope() as session:
        return await write_turn(session, plan, reply, rng)


async def on_inbound(
    session: AsyncSession,
    round_id: uuid.UUID,
    *,
    instance_id: uuid.UUID,
    message_id: uuid.UUID | None,
    now: datetime,
    rng: random.Random,
) -> str:
    """The real inbound message arrived on the awaited number: the next turn is its reply.

    The job names the stored message by id (job arguments are not tenant-isolated, so they
    never carry its text); the turn's job reads the text under the tenant's RLS context."""
    rounds = RoundRepository(session)
    rnd = await rounds.get(round_id, for_update=True)
    if rnd is None or rnd.state != RoundState.RUNNING or rnd.awaiting_instance_id != instance_id:
        return "not-awaited"  # a duplicate delivery, or the round moved on
    rnd.awaiting_instance_id = None
    rnd.awaiting_from_jid = None
    rnd.reply_deadline = None
    conversation = await ConversationRepository(session).get(rnd.conversation_id)
    if conversation is None or conversation.state != ConversationState.ACTIVE:
        await finish(
            session, rnd, RoundState.CANCELLED, "conversation paused", now, rng, replan=False
        )
        return "cancelled"
    members = {
        m.instance.id for m in await ConversationRepository(session).participants(conversation.id)
    }
    other_id = await rounds.other_member(rnd.id, instance_id)
    if instance_id not in members or other_id not in members:
        await finish(
            session, rnd, RoundState.FAILED, "a participant left the conversation", now, rng
        )
        return "failed"
    latest = max((m.turn for m in await messaging.messages_for_round(session, rnd.id)), default=0)
    await _compose_next(session, rnd, turn=latest + 1, sender=instance_id, incoming=message_id)
    await notify(session, rnd.tenant_id, "conversation", conversation.id, round_id=rnd.id)
    return "replying"


async def check_timeout(
    session: AsyncSession, round_id: uuid.UUID, turn: int, now: datetime, rng: random.Random
) -> str:
    rnd = await RoundRepository(session).get(round_id, for_update=True)
    if rnd is None or rnd.state != RoundState.RUNNING or rnd.awaiting_instance_id is None:
        return "moved-on"
    turns = await messaging.messages_for_round(session, rnd.id)
    latest = max(turns, key=lambda m: m.turn, default=None)
    if latest is None or latest.turn != turn:
        return "moved-on"  # the reply came and a later turn is under way
    if rnd.reply_deadline and rnd.reply_deadline > now:
        return "not-due"
    if latest.status == OutgoingStatus.SENDING:
        # The turn itself is not confirmed yet: its outcome decides the label, not the clock.
        rnd.reply_deadline = now + messaging.RECHECK_AFTER
        await jobs.defer(
            session,
            CHECK_TIMEOUT_JOB,
            schedule_at=rnd.reply_deadline,
            round_id=str(rnd.id),
            turn=turn,
        )
        return "awaiting-send"
    if latest.status != OutgoingStatus.SENT:
        state, outcome = _unsent_state(latest)
        await finish(session, rnd, state, outcome, now, rng)
        return str(state)
    await finish(session, rnd, RoundState.TIMED_OUT, "the reply never arrived", now, rng)
    return "timed_out"


def _unsent_state(msg: OutgoingMessage) -> tuple[RoundState, str]:
    """What a round whose turn did not go out came to, from that turn's final status."""
    if msg.status == OutgoingStatus.UNKNOWN:
        return RoundState.UNKNOWN, "the turn's send was never confirmed by the gateway"
    error = msg.last_error or "the turn was not sent"
    if msg.status == OutgoingStatus.CANCELLED and error.startswith("denied: "):
        return RoundState.BLOCKED, f"{POLICY_OUTCOME}{error.removeprefix('denied: ')}"[:200]
    return RoundState.UNSENT, error[:200]


async def finish(
    session: AsyncSession,
    rnd: Round,
    state: RoundState,
    outcome: str | None,
    now: datetime,
    rng: random.Random,
    *,
    replan: bool = True,
) -> None:
    # The planning lock before the conversation's row lock, in every path (no deadlock with
    # a planner that holds it and inserts a slot referencing the conversation).
    await SlotRepository(session).lock_tenant(rnd.tenant_id)
    rnd.state = state
    rnd.outcome = outcome
    rnd.ended_at = now
    rnd.awaiting_instance_id = None
    rnd.awaiting_from_jid = None
    rnd.reply_deadline = None
    if state != RoundState.COMPLETED:
        # A turn still planned belongs to a round that is over: it must never go out.
        await messaging.cancel_planned_for_round(session, rnd.id)
    await RoundRepository(session).release_members(rnd.id)
    conversation = await ConversationRepository(session).get(rnd.conversation_id, for_update=True)
    if conversation is not None:
        conversation.last_round_at = now
        await session.flush()
        if replan:
            members = await ConversationRepository(session).participants(conversation.id)
            if sum(messaging.can_send(m.instance) for m in members) < 2:
                # A number stopped being able to send (paused, disconnected, banned) and ended
                # this round: that was the one blocked round; the conversation now waits (reason
                # shown) and planning resumes it once two numbers can send again.
                conversation.waiting_reason = _waiting_reason(members)
                conversation.waiting_since = now
            else:
                await plan(session, conversation, now, rng)
    await notify(session, rnd.tenant_id, "conversation", rnd.conversation_id, round_id=rnd.id)
    log.info("round.finished", round_id=str(rnd.id), state=state, outcome=outcome)


# --- the round as owner of its messages (registered in conversations.tasks) ----------------


# Each warm-up send's decision reads its conversation's state and windows: kept per process,
# dropped on every process when the tenant's conversations (their state or schedule, not the
# planner's bookkeeping) or settings (the default schedule) change (kit.cache).
_send_contexts: Cache[SendContext] = Cache(
    "conversation-send-context", tables=("conversations", "tenant_settings")
)


async def send_context(session: AsyncSession, msg: OutgoingMessage) -> SendContext:
    """The round's part of the policy's input, as current as the tables at each send."""
    conversation_id = msg.conversation_id
    if conversation_id is None:
        return SendContext(conversation_active=True, windows=ALWAYS)

    async def load() -> SendContext:
        conversation = await ConversationRepository(session).get(conversation_id)
        if conversation is None:
            return SendContext(conversation_active=True, windows=ALWAYS)
        row = (await tenant_settings.current(session, conversation.tenant_id)).row
        return SendContext(
            conversation_active=conversation.state == ConversationState.ACTIVE,
            windows=windows_of(schedule.effective(conversation, row).windows).weekly,
        )

    if msg.tenant_id != current_tenant_id():
        return await load()
    return await _send_contexts.get_or_load(msg.tenant_id, conversation_id, load)


async def message_claimed(session: AsyncSession, msg: OutgoingMessage, now: datetime) -> None:
    """About to hand the message to the gateway: from now on its reply may arrive (the
    gateway can deliver before we even hear back), so the round starts awaiting it here, in
    the claim's transaction."""
    rnd = await _round_of(session, msg)
    if rnd is not None and rnd.state == RoundState.RUNNING and msg.turn < rnd.exchanges:
        sender = await session.get(Instance, msg.instance_id)
        row = (await tenant_settings.current(session, rnd.tenant_id)).row
        rnd.awaiting_instance_id = await RoundRepository(session).other_member(
            rnd.id, msg.instance_id
        )
        rnd.awaiting_from_jid = sender.owner_jid if sender else None
        rnd.reply_deadline = now + timedelta(
            seconds=row.reply_timeout_s + human_seconds(msg.typing_ms / 1000)
        )
        await jobs.defer(
            session,
            CHECK_TIMEOUT_JOB,
            schedule_at=rnd.reply_deadline,
            round_id=str(rnd.id),
            turn=msg.turn,
        )
    if msg.conversation_id:
        await notify(
            session, msg.tenant_id, "conversation", msg.conversation_id, round_id=msg.round_id
        )


async def on_send_outcome(
    session: AsyncSession,
    outgoing_id: uuid.UUID,
    outcome: messaging.SendOutcome,
    reason: str | None,
    now: datetime,
    rng: random.Random,
) -> str:
    """What the send pipeline reports about one of the round's messages. Idempotent: a round
    that has moved on ignores it."""
    msg = await messaging.get_message(session, outgoing_id)
    if msg is None:
        return "gone"
    if outcome == messaging.SendOutcome.SENT:
        await after_sent(session, msg, now, rng)
    elif outcome == messaging.SendOutcome.DENIED:
        await _end_round(session, msg, RoundState.BLOCKED, f"{POLICY_OUTCOME}{reason}", now, rng)
    elif outcome in (messaging.SendOutcome.FAILED, messaging.SendOutcome.UNKNOWN):
        state, label = _unsent_state(msg)
        await _end_round(session, msg, state, label, now, rng)
    elif msg.conversation_id:  # deferred: only the dashboard needs to know
        await notify(
            session, msg.tenant_id, "conversation", msg.conversation_id, round_id=msg.round_id
        )
    return str(outcome)


async def after_sent(
    session: AsyncSession, msg: OutgoingMessage, now: datetime, rng: random.Random
) -> None:
    """The message went out. The last one ends the round; otherwise the reply is already
    awaited (set when the send was claimed, before the gateway could deliver it)."""
    if msg.status != OutgoingStatus.SENT:
        return
    rnd = await _round_of(session, msg)
    if rnd is None or rnd.state != RoundState.RUNNING:
        return
    rnd.turns_sent = max(rnd.turns_sent, msg.turn)
    if rnd.turns_sent >= rnd.exchanges:
        await finish(session, rnd, RoundState.COMPLETED, None, now, rng)
        return
    await notify(session, rnd.tenant_id, "conversation", rnd.conversation_id, round_id=rnd.id)


async def _round_of(session: AsyncSession, msg: OutgoingMessage) -> Round | None:
    if msg.round_id is None:
        return None
    return await RoundRepository(session).get(msg.round_id, for_update=True)


async def _end_round(
    session: AsyncSession,
    msg: OutgoingMessage,
    state: RoundState,
    outcome: str,
    now: datetime,
    rng: random.Random,
) -> None:
    rnd = await _round_of(session, msg)
    if rnd is not None and rnd.state in (RoundState.PLANNED, RoundState.RUNNING):
        await finish(session, rnd, state, outcome, now, rng)


def owner() -> messaging.Owner:
    """The round as the owner of ``warmup`` messages."""
    return messaging.Owner(
        outcome_job=OUTCOME_JOB, policy_context=send_context, on_claim=message_claimed
    )
