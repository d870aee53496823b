"""Conversation rules: 2–4 of the tenant's connected-or-not numbers, one persona each,
validated windows and delays; pausing cancels what is planned. Conversations can be edited
(numbers, personas, topics, delays, schedule): the plan is made again from now, and a running
round whose numbers leave the conversation ends cleanly (cancelled, nothing more sent).

A deleted number pauses the conversations it took part in (their reason says which number),
through the hook this module registers with ``instances.service``: one of them has only one
number left, and an operator chooses another (edit) before resuming it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.conversations import engine, schedule
from mirage.conversations.repository import (
    ConversationRepository,
    OverviewRepository,
    Participant,
    RoundRepository,
    SlotRepository,
)
from mirage.conversations.schedule import Schedule
from mirage.conversations.schemas import (
    ConversationIn,
    ConversationPatch,
    ConversationScheduleIn,
    ParticipantIn,
    ScheduleIn,
)
from mirage.conversations.windows import parse_windows, to_json
from mirage.instances import service as instances
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, NotFound, ValidationFailed
from mirage.kit.i18n import N_
from mirage.messaging import service as messaging
from mirage.models import (
    Conversation,
    ConversationParticipant,
    ConversationState,
    Instance,
    OutgoingMessage,
    PolicyDecision,
    Round,
    RoundSlot,
    RoundState,
    Tenant,
)
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.personas import service as personas
from mirage.policy.windows import DAY_US, daily_spans, local_day_start, us_to_time
from mirage.tenants import overview as overview_parts
from mirage.tenants import settings as tenant_settings

# Why the system paused a conversation (stored on it, shown translated on its page).
NUMBER_DELETED = "number_deleted"
NUMBERS_CHANGED = "its numbers changed"
FEWER_THAN_TWO = N_(
    "this conversation has fewer than two numbers: edit it and choose another number first"
)


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    participants: Sequence[Participant]
    last_round: Round | None
    next_message: OutgoingMessage | None
    schedule: Schedule
    # When the tenant's quiet hours cover now: their end (why nothing starts before then).
    quiet_until: datetime | None = None


async def list_conversations(session: AsyncSession, principal: Principal) -> list[ConversationView]:
    require(principal, "read")
    repo = ConversationRepository(session)
    conversations = list(await repo.list())
    last = await RoundRepository(session).last_for([c.id for c in conversations])
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    out = []
    for c in conversations:
        out.append(
            ConversationView(
                c,
                await repo.participants(c.id),
                last.get(c.id),
                await messaging.next_planned(session, c.id),
                schedule.effective(c, row),
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
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    return ConversationView(
        c,
        await repo.participants(c.id),
        last.get(c.id),
        await messaging.next_planned(session, c.id),
        schedule.effective(c, row),
        quiet_until(
            row.quiet_start, row.quiet_end, await tenant_zone(session, principal), utcnow()
        ),
    )


def quiet_until(
    start: time | None, end: time | None, zone: ZoneInfo, now: datetime
) -> datetime | None:
    """The end of the daily quiet hours ``[start, end)`` covering ``now`` in ``zone`` (past
    midnight when they wrap it), or None when they do not cover it."""
    if start is None or end is None:
        return None
    local = now.astimezone(zone)
    us = (local.hour * 3600 + local.minute * 60 + local.second) * 1_000_000 + local.microsecond
    spans = daily_spans(start, end)
    for s, e in spans:
        if s <= us < e:
            day = local.date()
            if e == DAY_US and spans[0][0] == 0 and spans[0] != (s, e):
                day, e = day + timedelta(days=1), spans[0][1]  # wraps: ends tomorrow
            return local_day_start(day, zone) + timedelta(microseconds=e)
    return None


async def _check_refs(
    session: AsyncSession, principal: Principal, participants: Sequence[ParticipantIn]
) -> None:
    for p in participants:
        try:
            await instances.get_instance(session, principal, p.instance_id)
        except NotFound:
            raise ValidationFailed(
                N_("a participant number does not exist"), field="participants"
            ) from None
        try:
            await personas.get_persona(session, principal, p.persona_id)
        except NotFound:
            raise ValidationFailed(
                N_("a participant persona does not exist"), field="participants"
            ) from None


def _resolve_schedule(current: Schedule, data: ConversationScheduleIn) -> Schedule:
    """The schedule asked for, its missing fields taken from ``current``, validated."""
    if data.source == schedule.DEFAULT:
        return Schedule(
            schedule.DEFAULT,
            current.windows,
            current.rounds_per_window,
            current.pause_min_s,
            current.pause_max_s,
        )
    pause_min = data.pause_min_s if data.pause_min_s is not None else current.pause_min_s
    pause_max = data.pause_max_s if data.pause_max_s is not None else current.pause_max_s
    if pause_max < pause_min:
        raise ValidationFailed(
            N_("the minimum pause must not be longer than the maximum pause"), field="pause_min_s"
        )
    windows = data.windows if data.windows is not None else current.windows
    return Schedule(
        schedule.OWN,
        to_json(parse_windows(windows)),
        data.rounds_per_window or current.rounds_per_window,
        pause_min,
        pause_max,
    )


def _apply_schedule(c: Conversation, sched: Schedule) -> None:
    c.schedule_source = sched.source
    if sched.source == schedule.OWN:
        c.windows = sched.windows
        c.rounds_per_window = sched.rounds_per_window
        c.pause_min_s = sched.pause_min_s
        c.pause_max_s = sched.pause_max_s


async def _lock_planning(session: AsyncSession, principal: Principal) -> None:
    """Before any conversation row lock (the engine's order: no deadlock with a planner)."""
    await SlotRepository(session).lock_tenant(principal.tenant_id)


async def create_conversation(
    session: AsyncSession, principal: Principal, data: ConversationIn
) -> Conversation:
    require(principal, "write", role=Role.OPERATOR)
    repo = ConversationRepository(session)
    if await repo.by_name(data.name):
        raise Conflict("a conversation with this name already exists", field="name")
    await _check_refs(session, principal, data.participants)
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    default = schedule.tenant_default(row)
    # New conversations follow the tenant default unless given a schedule of their own.
    source = data.schedule_source or (schedule.OWN if data.schedule_given() else schedule.DEFAULT)
    sched = _resolve_schedule(
        default,
        ConversationScheduleIn(
            source=source,
            windows=data.windows,
            rounds_per_window=data.rounds_per_window,
            pause_min_s=data.pause_min_s,
            pause_max_s=data.pause_max_s,
        ),
    )
    await _lock_planning(session, principal)
    conversation = Conversation(
        tenant_id=principal.tenant_id,
        name=" ".join(data.name.split()),
        topics=data.topics,
        delay_min_s=data.delay_min_s,
        delay_max_s=data.delay_max_s,
        state=data.state,
    )
    # The conversation's own columns start as the default's (used if it is made its own).
    _apply_schedule(conversation, Schedule(schedule.OWN, *_values(default)))
    _apply_schedule(conversation, sched)
    conversation = await repo.add(conversation)
    await _set_participants(session, conversation, data.participants)
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


def _values(s: Schedule) -> tuple[dict[str, list[list[str]]], int, int, int]:
    return s.windows, s.rounds_per_window, s.pause_min_s, s.pause_max_s


async def _set_participants(
    session: AsyncSession, conversation: Conversation, participants: Sequence[ParticipantIn]
) -> None:
    repo = ConversationRepository(session)
    await repo.clear_participants(conversation.id)
    for position, p in enumerate(participants):
        await repo.add_participant(
            ConversationParticipant(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.id,
                instance_id=p.instance_id,
                persona_id=p.persona_id,
                position=position,
            )
        )


async def _locked(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    require(principal, "write", role=Role.OPERATOR)
    await _lock_planning(session, principal)
    c = await ConversationRepository(session).get(conversation_id, for_update=True)
    if c is None:
        raise NotFound("conversation not found")
    return c


async def update_conversation(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, data: ConversationPatch
) -> Conversation:
    """Change what is given. The plan is made again from now when the numbers, delays or
    schedule change; a running round whose numbers leave ends cleanly (see module doc)."""
    c = await _locked(session, principal, conversation_id)
    repo = ConversationRepository(session)
    changed: list[str] = []
    # Before → after of each changed field, for the audit log.
    was: dict[str, Any] = {}
    now_is: dict[str, Any] = {}
    if data.name is not None and " ".join(data.name.split()) != c.name:
        if not data.name.strip():
            raise ValidationFailed(N_("give the conversation a name"), field="name")
        other = await repo.by_name(data.name)
        if other is not None and other.id != c.id:
            raise Conflict("a conversation with this name already exists", field="name")
        was["name"] = c.name
        c.name = now_is["name"] = " ".join(data.name.split())
        changed.append("name")
    if data.topics is not None and data.topics != list(c.topics):
        was["topics"] = list(c.topics)
        c.topics = now_is["topics"] = data.topics
        changed.append("topics")
    delays = (data.delay_min_s, data.delay_max_s)
    if {"delay_min_s", "delay_max_s"} & data.model_fields_set and delays != (
        c.delay_min_s,
        c.delay_max_s,
    ):
        was["delays"] = [c.delay_min_s, c.delay_max_s]
        now_is["delays"] = list(delays)
        c.delay_min_s, c.delay_max_s = delays
        changed.append("delays")
    wanted = data.schedule()
    if wanted is not None:
        row = await tenant_settings.get_or_create(session, principal.tenant_id)
        before = schedule.effective(c, row)
        base = before if wanted.source == schedule.OWN else schedule.tenant_default(row)
        sched = _resolve_schedule(base, wanted)
        if sched != before:
            was["schedule"], now_is["schedule"] = before, sched
            _apply_schedule(c, sched)
            changed.append("schedule")
    now, rng = utcnow(), random.Random()
    if data.participants is not None:
        await _check_refs(session, principal, data.participants)
        current = [(p.instance.id, p.persona.id) for p in await repo.participants(c.id)]
        asked = [(p.instance_id, p.persona_id) for p in data.participants]
        if current != asked:
            was["participants"], now_is["participants"] = current, asked
            await _end_round_of_leaving_numbers(
                session, c, {p.instance_id for p in data.participants}, now, rng
            )
            await _set_participants(session, c, data.participants)
            c.waiting_reason = c.waiting_since = None
            changed.append("participants")
    if not changed:
        return c
    await session.flush()
    if {"participants", "delays", "schedule"} & set(changed):
        await engine.replan(session, c, now, rng)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="conversation.update",
        target_type="conversation",
        target_id=c.id,
        changed=changed,
        before=was,
        after=now_is,
    )
    return c


async def _end_round_of_leaving_numbers(
    session: AsyncSession,
    c: Conversation,
    staying: set[uuid.UUID],
    now: datetime,
    rng: random.Random,
) -> None:
    """A running round holding a number that leaves the conversation ends now (cancelled):
    its planned turns are cancelled, a turn already handed to the gateway is the last one
    (its outcome and its reply find the round over), and both numbers are free. A round
    whose numbers all stay finishes normally."""
    rounds = RoundRepository(session)
    open_round = await rounds.open_round(c.id)
    if open_round is None:
        return
    rnd = await rounds.get(open_round.id, for_update=True)
    if rnd is None or rnd.state != RoundState.RUNNING:
        return  # a planned round is moved by the re-plan; it picks its pair when it starts
    if set(await rounds.members(rnd.id)) <= staying:
        return
    await engine.finish(session, rnd, RoundState.CANCELLED, NUMBERS_CHANGED, now, rng, replan=False)


async def get_schedule(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Schedule:
    view = await get_view(session, principal, conversation_id)
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    return schedule.effective(view.conversation, row)


async def set_schedule(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    data: ConversationScheduleIn,
) -> Conversation:
    fields = {k: v for k, v in data.model_dump().items() if k != "source"}
    return await update_conversation(
        session,
        principal,
        conversation_id,
        ConversationPatch(schedule_source=data.source, **fields),
    )


@dataclass(frozen=True)
class DefaultSchedule:
    schedule: Schedule
    following: int
    own: int


async def get_default_schedule(session: AsyncSession, principal: Principal) -> DefaultSchedule:
    require(principal, "read")
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    every = await ConversationRepository(session).list()
    following = sum(c.schedule_source == schedule.DEFAULT for c in every)
    return DefaultSchedule(schedule.tenant_default(row), following, len(every) - following)


async def set_default_schedule(
    session: AsyncSession, principal: Principal, data: ScheduleIn
) -> DefaultSchedule:
    """The tenant default. Conversations that follow it are planned again by it; those with
    their own schedule are never changed by it."""
    require(principal, "admin", role=Role.ADMIN)
    windows = to_json(parse_windows(data.windows))
    await _lock_planning(session, principal)
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    before = schedule.tenant_default(row)
    row.default_windows = windows
    row.default_rounds_per_window = data.rounds_per_window
    row.default_pause_min_s = data.pause_min_s
    row.default_pause_max_s = data.pause_max_s
    await session.flush()
    if schedule.tenant_default(row) != before:
        now, rng = utcnow(), random.Random()
        for c in await ConversationRepository(session).following_default():
            await ConversationRepository(session).get(c.id, for_update=True)
            await engine.replan(session, c, now, rng)
        await audit.record(
            session,
            tenant_id=principal.tenant_id,
            principal=principal,
            action="schedule.default_update",
            target_type="tenant_settings",
            target_id=row.id,
            before=before,
            after=schedule.tenant_default(row),
        )
    return await get_default_schedule(session, principal)


async def set_state(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    state: ConversationState | str,
) -> Conversation:
    require(principal, "write", role=Role.OPERATOR)
    if state not in tuple(ConversationState):
        raise ValidationFailed("state is active or paused", field="state")
    c = await _locked(session, principal, conversation_id)
    if c.state == state:
        return c
    if state == ConversationState.ACTIVE:
        if len(await ConversationRepository(session).participants(c.id)) < 2:
            raise Conflict(FEWER_THAN_TWO, field="participants")
        c.paused_reason = None
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
        await engine.replan(session, c, now, rng)  # its unused slots go: numbers free
    else:
        await session.flush()
        await engine.replan(session, c, now, rng)
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
    repo = ConversationRepository(session)
    c = await _locked(session, principal, conversation_id)
    open_round = await RoundRepository(session).open_round(c.id)
    if open_round is not None:
        await RoundRepository(session).release_members(open_round.id)
    await repo.delete(c)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="conversation.delete",
        target_type="conversation",
        target_id=conversation_id,
        name=c.name,
    )


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


# --- a deleted number ----------------------------------------------------------------------


async def number_deleted(session: AsyncSession, principal: Principal, instance: Instance) -> None:
    """Registered with ``instances.service``: before the number's row goes, every
    conversation it takes part in is paused (its round ended cleanly, its plan dropped) and
    says why; it cannot be resumed before it has two numbers again (edit)."""
    now, rng = utcnow(), random.Random()
    await _lock_planning(session, principal)
    for c in await ConversationRepository(session).using_instance(instance.id):
        open_round = await RoundRepository(session).open_round(c.id)
        if open_round is not None:
            rnd = await RoundRepository(session).get(open_round.id, for_update=True)
            if rnd is not None and rnd.state in (RoundState.PLANNED, RoundState.RUNNING):
                await engine.finish(
                    session,
                    rnd,
                    RoundState.CANCELLED,
                    f"number {instance.display_name} deleted"[:200],
                    now,
                    rng,
                    replan=False,
                )
        was_active = c.state == ConversationState.ACTIVE
        c.state = ConversationState.PAUSED
        c.next_round_at = None
        c.paused_reason = f"{NUMBER_DELETED}:{instance.display_name}"[:200]
        await engine.replan(session, c, now, rng)
        await audit.record(
            session,
            tenant_id=principal.tenant_id,
            principal=principal,
            action="conversation.pause",
            target_type="conversation",
            target_id=c.id,
            reason=NUMBER_DELETED,
            number=instance.display_name,
            was_active=was_active,
        )


instances.on_delete(number_deleted)


def paused_because(c: Conversation) -> tuple[str, str] | None:
    """(reason code, detail) when the system paused it."""
    if not c.paused_reason:
        return None
    code, _, detail = c.paused_reason.partition(":")
    return code, detail


# --- the week calendar ------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarConversation:
    conversation: Conversation
    schedule: Schedule
    instances: list[Instance]


@dataclass(frozen=True)
class CalendarSlot:
    slot: RoundSlot
    state: str


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    start: datetime
    end: datetime
    days: list[date]
    quiet: dict[date, list[tuple[time, time]]]
    conversations: list[CalendarConversation]
    slots: list[CalendarSlot]
    today: date


async def tenant_zone(session: AsyncSession, principal: Principal) -> ZoneInfo:
    tenant = await session.get(Tenant, principal.tenant_id)
    return ZoneInfo(tenant.timezone if tenant else "UTC")


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def calendar(session: AsyncSession, principal: Principal, day: date | None) -> Calendar:
    """The week (Monday first, the tenant's zone) containing ``day`` (today when None): the
    engine's planned slots, the rounds made from them, quiet hours and every conversation's
    schedule. What is shown is what the engine planned (the round_slots rows)."""
    require(principal, "read")
    zone = await tenant_zone(session, principal)
    today = utcnow().astimezone(zone).date()
    monday = week_of(day or today)
    days = [monday + timedelta(days=i) for i in range(7)]
    start = local_day_start(monday, zone)
    end = local_day_start(monday + timedelta(days=7), zone)
    row = await tenant_settings.get_or_create(session, principal.tenant_id)
    quiet: dict[date, list[tuple[time, time]]] = {d: [] for d in days}
    if row.quiet_start is not None and row.quiet_end is not None:
        spans = [
            (us_to_time(s), us_to_time(e)) for s, e in daily_spans(row.quiet_start, row.quiet_end)
        ]
        quiet = dict.fromkeys(days, spans)
    repo = ConversationRepository(session)
    conversations = []
    for c in await repo.list():
        members = await repo.participants(c.id)
        conversations.append(
            CalendarConversation(c, schedule.effective(c, row), [m.instance for m in members])
        )
    rounds = {
        r.id: r for r in await RoundRepository(session).between(start - timedelta(days=1), end)
    }
    slots = []
    missed_before = utcnow() - engine.MISSED_AFTER
    for slot in await SlotRepository(session).between(start, end):
        r = rounds.get(slot.round_id) if slot.round_id else None
        if r is None and slot.round_id is not None:
            r = await RoundRepository(session).get(slot.round_id)
        if r is not None:
            state = str(r.state)
        else:  # no round made from it (yet): its time passed while the numbers could not send
            state = "missed" if slot.starts_at < missed_before else "planned"
        slots.append(CalendarSlot(slot, state))
    return Calendar(zone, start, end, days, quiet, conversations, slots, today)


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
