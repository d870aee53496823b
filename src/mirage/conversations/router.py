"""/api/v1/conversations and rounds."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from mirage.auth.deps import ApiPrincipal
from mirage.auth.service import require
from mirage.conversations import service
from mirage.conversations.schedule import Schedule
from mirage.conversations.schemas import (
    CalendarConversationOut,
    CalendarDayOut,
    CalendarOut,
    ConversationIn,
    ConversationOut,
    ConversationPatch,
    ConversationScheduleIn,
    DecisionOut,
    DefaultScheduleOut,
    ParticipantOut,
    RoundOut,
    ScheduleIn,
    ScheduleOut,
    SlotOut,
    TurnOut,
)
from mirage.db.deps import DbSession
from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_
from mirage.messaging import service as messaging
from mirage.models import ConversationState
from mirage.web.errors import API_ERRORS

router = APIRouter(tags=["conversations"], responses=API_ERRORS)


def schedule_out(s: Schedule) -> ScheduleOut:
    return ScheduleOut(
        source=s.source,
        windows=s.windows,
        rounds_per_window=s.rounds_per_window,
        pause_min_s=s.pause_min_s,
        pause_max_s=s.pause_max_s,
    )


def _out(view: service.ConversationView) -> ConversationOut:
    c = view.conversation
    return ConversationOut(
        id=c.id,
        name=c.name,
        state=c.state,
        topics=c.topics,
        delay_min_s=c.delay_min_s,
        delay_max_s=c.delay_max_s,
        rounds_per_window=view.schedule.rounds_per_window,
        windows=view.schedule.windows,
        schedule=schedule_out(view.schedule),
        participants=[
            ParticipantOut(
                instance_id=i.id, instance_name=i.display_name, persona_id=p.id, persona_name=p.name
            )
            for _, i, p in view.participants
        ],
        next_round_at=c.next_round_at,
        last_round_at=c.last_round_at,
        waiting_reason=c.waiting_reason,
        paused_reason=c.paused_reason,
        created_at=c.created_at,
    )


def round_out(d: service.RoundDetail) -> RoundOut:
    r = d.round
    return RoundOut(
        id=r.id,
        state=r.state,
        topic=r.topic,
        exchanges=r.exchanges,
        turns_sent=r.turns_sent,
        planned_at=r.planned_at,
        started_at=r.started_at,
        ended_at=r.ended_at,
        outcome=r.outcome,
        turns=[
            TurnOut(
                turn=t.turn,
                sender_instance_id=t.instance_id,
                text=t.text,
                status=t.status,
                delivery=d.deliveries.get(t.provider_message_id or ""),
                planned_at=t.planned_at,
                sent_at=t.sent_at,
                read_ms=t.read_ms,
                think_ms=t.think_ms,
                typing_ms=t.typing_ms,
                generation_source=t.generation_source,
                repetition_score=t.repetition_score,
            )
            for t in d.turns
        ],
        decisions=[DecisionOut.model_validate(x) for x in d.decisions],
    )


@router.get("/conversations", response_model=list[ConversationOut])
async def list_conversations(session: DbSession, principal: ApiPrincipal) -> list[ConversationOut]:
    return [_out(v) for v in await service.list_conversations(session, principal)]


@router.post("/conversations", response_model=ConversationOut, status_code=201)
async def create_conversation(
    body: ConversationIn, session: DbSession, principal: ApiPrincipal
) -> ConversationOut:
    c = await service.create_conversation(session, principal, body)
    return _out(await service.get_view(session, principal, c.id))


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    conversation_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ConversationOut:
    return _out(await service.get_view(session, principal, conversation_id))


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def update_conversation(
    conversation_id: uuid.UUID, body: ConversationPatch, session: DbSession, principal: ApiPrincipal
) -> ConversationOut:
    """Change a conversation (numbers, personas, topics, delays, schedule). Its plan is made
    again from now; a running round whose numbers leave ends cleanly."""
    await service.update_conversation(session, principal, conversation_id, body)
    return _out(await service.get_view(session, principal, conversation_id))


@router.get("/conversations/{conversation_id}/schedule", response_model=ScheduleOut)
async def get_schedule(
    conversation_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ScheduleOut:
    return schedule_out(await service.get_schedule(session, principal, conversation_id))


@router.put("/conversations/{conversation_id}/schedule", response_model=ScheduleOut)
async def put_schedule(
    conversation_id: uuid.UUID,
    body: ConversationScheduleIn,
    session: DbSession,
    principal: ApiPrincipal,
) -> ScheduleOut:
    await service.set_schedule(session, principal, conversation_id, body)
    return schedule_out(await service.get_schedule(session, principal, conversation_id))


def _default_out(d: service.DefaultSchedule) -> DefaultScheduleOut:
    return DefaultScheduleOut(
        **schedule_out(d.schedule).model_dump(),
        conversations_following=d.following,
        conversations_own=d.own,
    )


@router.get("/schedule/default", response_model=DefaultScheduleOut, tags=["calendar"])
async def get_default_schedule(session: DbSession, principal: ApiPrincipal) -> DefaultScheduleOut:
    return _default_out(await service.get_default_schedule(session, principal))


@router.put("/schedule/default", response_model=DefaultScheduleOut, tags=["calendar"])
async def put_default_schedule(
    body: ScheduleIn, session: DbSession, principal: ApiPrincipal
) -> DefaultScheduleOut:
    """The tenant's default schedule. Conversations that follow it are planned again by it;
    those with their own schedule are not changed."""
    return _default_out(await service.set_default_schedule(session, principal, body))


@router.get("/calendar", response_model=CalendarOut, tags=["calendar"])
async def get_calendar(
    session: DbSession,
    principal: ApiPrincipal,
    week: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="any day of the week, YYYY-MM-DD (default: today)",
        ),
    ] = None,
) -> CalendarOut:
    """The week (Monday to Sunday, tenant zone): quiet hours, every conversation's schedule
    and the rounds the engine planned (with the state of those it started)."""
    try:
        day = date.fromisoformat(week) if week else None
    except ValueError:
        raise ValidationFailed(N_("week: enter a date as YYYY-MM-DD"), field="week") from None
    cal = await service.calendar(session, principal, day)
    return CalendarOut(
        timezone=cal.zone.key,
        start=cal.start,
        end=cal.end,
        days=[
            CalendarDayOut(
                date=d.isoformat(),
                quiet=[[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in cal.quiet[d]],
            )
            for d in cal.days
        ],
        conversations=[
            CalendarConversationOut(
                id=x.conversation.id,
                name=x.conversation.name,
                state=x.conversation.state,
                schedule=schedule_out(x.schedule),
                instance_ids=[i.id for i in x.instances],
            )
            for x in cal.conversations
        ],
        slots=[
            SlotOut(
                conversation_id=x.slot.conversation_id,
                starts_at=x.slot.starts_at,
                ends_at=x.slot.ends_at,
                instance_ids=list(x.slot.instance_ids),
                round_id=x.slot.round_id,
                state=x.state,
            )
            for x in cal.slots
        ],
    )


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(
    conversation_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await service.delete_conversation(session, principal, conversation_id)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/pause", response_model=ConversationOut)
async def pause(
    conversation_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ConversationOut:
    await service.set_state(session, principal, conversation_id, ConversationState.PAUSED)
    return _out(await service.get_view(session, principal, conversation_id))


@router.post("/conversations/{conversation_id}/resume", response_model=ConversationOut)
async def resume(
    conversation_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ConversationOut:
    await service.set_state(session, principal, conversation_id, ConversationState.ACTIVE)
    return _out(await service.get_view(session, principal, conversation_id))


@router.get("/conversations/{conversation_id}/rounds", response_model=list[RoundOut])
async def list_rounds(
    conversation_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[RoundOut]:
    return [round_out(d) for d in await service.rounds(session, principal, conversation_id, limit)]


@router.get("/rounds/{round_id}", response_model=RoundOut)
async def get_round(round_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> RoundOut:
    return round_out(await service.round_detail(session, principal, round_id))


@router.get("/policy-decisions", response_model=list[DecisionOut], tags=["policy"])
async def policy_decisions(
    session: DbSession, principal: ApiPrincipal, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[DecisionOut]:
    require(principal, "read")
    return [DecisionOut.model_validate(d) for d in await messaging.recent_decisions(session, limit)]
