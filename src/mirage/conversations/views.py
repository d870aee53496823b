"""Dashboard: conversations (live list), a conversation's rounds and transcripts."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal
from mirage.auth.principal import Principal
from mirage.conversations import outcomes, service
from mirage.conversations.schemas import ConversationIn
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.kit.errors import DomainError
from mirage.kit.i18n import N_
from mirage.kit.live import Renderer
from mirage.messaging import service as messaging
from mirage.models import ConversationState, Instance, RoundState
from mirage.models.tenancy import Role
from mirage.personas import service as personas
from mirage.web.csrf import csrf_protect
from mirage.web.forms import NO_ERRORS, FieldErrors, form_errors, read_form, whole_number
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, render, render_fragment

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
outcomes.register()  # the outcome and waiting-reason words the templates use
# What each round state is called on the pages (one place: the list and the transcript).
ROUND_WORDS = {
    RoundState.PLANNED: N_("planned"),
    RoundState.RUNNING: N_("running"),
    RoundState.COMPLETED: N_("completed"),
    RoundState.TIMED_OUT: N_("timed out"),
    RoundState.BLOCKED: N_("blocked"),
    RoundState.FAILED: N_("failed"),
    RoundState.CANCELLED: N_("cancelled"),
    RoundState.UNSENT: N_("not sent"),
    RoundState.UNKNOWN: N_("outcome unknown"),
}
add_global("round_words", ROUND_WORDS)


def unable_to_send(view: service.ConversationView) -> list[Instance]:
    """The conversation's numbers that cannot send now (disconnected, still connecting,
    paused, unhealthy): the engine's own test (messaging.can_send)."""
    return [m.instance for m in view.participants if not messaging.can_send(m.instance)]


# Why a number cannot send, in a word (translated in the templates with message()).
_STATE_WORDS = {
    "connecting": N_("connecting"),
    "close": N_("disconnected"),
    "refused": N_("refused"),
    "unknown": N_("unknown"),
}
_HEALTH_WORDS = {
    "degraded": N_("degraded"),
    "restricted": N_("restricted"),
    "banned": N_("banned"),
    "quarantined": N_("quarantined"),
}


def number_state_word(instance: Instance) -> str:
    """The number's state as the conversation form and page show it: why it cannot send (its
    connection, a pause, its health), or "connected"."""
    if instance.state != "open":
        return _STATE_WORDS.get(instance.state, N_("unknown"))
    if not instance.connected:
        return N_("connecting")  # open, its account not identified yet
    if instance.paused:
        return N_("paused by an operator")
    if not messaging.can_send(instance):
        return _HEALTH_WORDS.get(instance.health, N_("unknown"))
    return N_("connected")


def waiting_for_numbers(view: service.ConversationView) -> bool:
    """An active conversation that runs no round until two of its numbers can send: the
    engine says so (waiting_reason) once a round is blocked, and before that (a number that
    never connected) its numbers already do. Shown instead of "active"."""
    c = view.conversation
    if c.state != ConversationState.ACTIVE:
        return False
    ready = len(view.participants) - len(unable_to_send(view))
    return c.waiting_reason is not None or ready < 2


add_global("unable_to_send", unable_to_send)
add_global("waiting_for_numbers", waiting_for_numbers)
add_global("number_state_word", number_state_word)
# Field names as the form shows them (for error messages).
LABELS = {
    "name": N_("Name"),
    "topics": N_("Topics"),
    "participants": N_("Participants"),
    "instance_id": N_("Number"),
    "persona_id": N_("Persona"),
    "rounds_per_window": N_("Rounds per window"),
    "delay_min_s": N_("Minimum delay"),
    "delay_max_s": N_("Maximum delay"),
}


# Model fields shown under another input, and rules across fields: where each is shown.
FIELDS = {
    "participants": "instance_1",
    "instance_id": "instance_1",
    "persona_id": "persona_1",
    "a number can take part only once": "instance_1",
    "a participant number does not exist": "instance_1",
    "a participant persona does not exist": "persona_1",
    "give both delay_min_s and delay_max_s, or neither": "delay_max_s",
    "delay_max_s must be at least delay_min_s": "delay_max_s",
}


def _delay(fields: dict[str, str], name: str) -> int | None:
    if not fields.get(name, "").strip():
        return None
    return whole_number(fields, name, LABELS[name], low=1, high=3600)


async def _list_context(session: DbSession, principal: DashboardPrincipal) -> dict[str, object]:
    numbers = await instances.list_instances(session, principal)
    return {
        "conversations": await service.list_conversations(session, principal),
        "numbers": numbers,
        # The form offers the numbers that can send first (and selects them by default).
        "ready_numbers": [n for n in numbers if messaging.can_send(n)],
        "other_numbers": [n for n in numbers if not messaging.can_send(n)],
        "personas": await personas.list_personas(session, principal),
        "can_edit": principal.role.at_least(Role.OPERATOR),
        "form": {},
        "errors": NO_ERRORS,
    }


@router.get("/conversations")
async def list_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(request, "conversations/list.html", await _list_context(session, principal))


@router.post("/conversations")
async def create(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    fields = await read_form(request)
    participants = []
    for i in range(4):
        inst, pers = fields.get(f"instance_{i}", ""), fields.get(f"persona_{i}", "")
        if inst and pers:
            participants.append({"instance_id": inst, "persona_id": pers})
    errors = FieldErrors()
    # Empty delays mean "the tenant's setting".
    delays = {
        name: errors.attempt(partial(_delay, fields, name), None)
        for name in ("delay_min_s", "delay_max_s")
    }
    rounds = errors.attempt(
        lambda: whole_number(
            fields, "rounds_per_window", LABELS["rounds_per_window"], 3, low=1, high=50
        ),
        3,
    )
    try:
        data = ConversationIn.model_validate(
            {
                "name": fields.get("name", ""),
                "participants": participants,
                "topics": list(fields.get("topics", "").replace("\n", ",").split(",")),
                **delays,
                "rounds_per_window": rounds,
            }
        )
        if errors:
            raise ValueError("reported field by field")
        c = await service.create_conversation(session, principal, data)
    except (ValidationError, DomainError, ValueError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403):
            raise
        if type(exc) is not ValueError:  # not only the fields already reported
            errors.merge(form_errors(exc, LABELS, FIELDS))
        ctx = await _list_context(session, principal)
        ctx["errors"] = errors
        ctx["form"] = fields
        return render(request, "conversations/list.html", ctx, status_code=422)
    return RedirectResponse(f"/conversations/{c.id}", status_code=303)


@router.get("/conversations/{conversation_id}")
async def detail_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    view = await service.get_view(session, principal, conversation_id)
    return render(
        request,
        "conversations/detail.html",
        {
            "view": view,
            "rounds": await service.rounds(session, principal, conversation_id, 10),
            "can_edit": principal.role.at_least(Role.OPERATOR),
        },
    )


@router.get("/conversations/{conversation_id}/rounds")
async def rounds_fragment(
    request: Request, session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    view = await service.get_view(session, principal, conversation_id)
    return render_fragment(
        request,
        "conversations/_rounds.html",
        {"view": view, "rounds": await service.rounds(session, principal, conversation_id, 10)},
    )


@router.post("/conversations/{conversation_id}/pause")
async def pause(
    session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    await service.set_state(session, principal, conversation_id, ConversationState.PAUSED)
    return RedirectResponse(f"/conversations/{conversation_id}", status_code=303)


@router.post("/conversations/{conversation_id}/resume")
async def resume(
    session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    await service.set_state(session, principal, conversation_id, ConversationState.ACTIVE)
    return RedirectResponse(f"/conversations/{conversation_id}", status_code=303)


@router.post("/conversations/{conversation_id}/delete")
async def delete(
    session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    await service.delete_conversation(session, principal, conversation_id)
    return RedirectResponse("/conversations", status_code=303)


@router.get("/conversations-events")
async def events(request: Request) -> Response:
    """Server-sent events: a changed conversation re-renders its row and its transcript."""

    def renderer(principal: Principal) -> Renderer:
        async def render(event: dict[str, Any]) -> list[tuple[str, str]]:
            return await _render(request, principal, uuid.UUID(event["id"]))

        return render

    return await open_stream(request, "conversation", renderer)


async def _render(
    request: Request, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> list[tuple[str, str]]:
    with tenant_context(principal.tenant_id, principal.user_id):
        async with get_database().sessions() as session, session.begin():
            try:
                view = await service.get_view(session, principal, conversation_id)
            except DomainError:
                return []
            row = render_fragment(
                request,
                "conversations/_row.html",
                {"v": view, "can_edit": principal.role.at_least(Role.OPERATOR)},
            )
            rounds = render_fragment(
                request,
                "conversations/_rounds.html",
                {
                    "view": view,
                    "rounds": await service.rounds(session, principal, conversation_id, 10),
                },
            )
    return [
        (f"conversation-{conversation_id}", bytes(row.body).decode()),
        (f"rounds-{conversation_id}", bytes(rounds.body).decode()),
    ]
