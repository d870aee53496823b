"""Dashboard: conversations (live list), a conversation's rounds and transcripts."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal
from mirage.auth.principal import Principal
from mirage.conversations import service
from mirage.conversations.schemas import ConversationIn
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.kit.errors import DomainError
from mirage.kit.i18n import N_
from mirage.kit.live import Renderer
from mirage.models import ConversationState, RoundState
from mirage.models.tenancy import Role
from mirage.personas import service as personas
from mirage.web.csrf import csrf_protect
from mirage.web.forms import error_messages, read_form, whole_number
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, render, render_fragment

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
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


async def _list_context(session: DbSession, principal: DashboardPrincipal) -> dict[str, object]:
    return {
        "conversations": await service.list_conversations(session, principal),
        "numbers": await instances.list_instances(session, principal),
        "personas": await personas.list_personas(session, principal),
        "can_edit": principal.role.at_least(Role.OPERATOR),
        "form": {},
        "errors": [],
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
    try:
        # Empty delays mean "the tenant's setting".
        delays = {
            name: whole_number(fields, name, LABELS[name]) if fields.get(name, "").strip() else None
            for name in ("delay_min_s", "delay_max_s")
        }
        data = ConversationIn.model_validate(
            {
                "name": fields.get("name", ""),
                "participants": participants,
                "topics": list(fields.get("topics", "").replace("\n", ",").split(",")),
                **delays,
                "rounds_per_window": whole_number(
                    fields, "rounds_per_window", LABELS["rounds_per_window"], 3
                ),
            }
        )
        c = await service.create_conversation(session, principal, data)
    except (ValidationError, DomainError, ValueError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403):
            raise
        ctx = await _list_context(session, principal)
        ctx["errors"] = error_messages(exc, LABELS)
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
