"""Dashboard: conversations (live list), a conversation's rounds and transcripts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mirage.auth.deps import DashboardPrincipal
from mirage.auth.principal import Principal
from mirage.conversations import forms, outcomes, schedule, service
from mirage.conversations.schemas import (
    DELAYS_BOTH,
    DELAYS_ORDER,
    NUMBER_TWICE,
    TOPIC_LONG,
    TOPICS_NONE,
    ConversationIn,
    ConversationPatch,
    ConversationScheduleIn,
    ScheduleIn,
)
from mirage.conversations.windows import DAY_NAMES
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.kit.errors import DomainError
from mirage.kit.i18n import N_, Message
from mirage.kit.live import Renderer
from mirage.messaging import service as messaging
from mirage.models import ConversationState, Instance, RoundState
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.personas import service as personas
from mirage.web.csrf import csrf_protect
from mirage.web.forms import (
    NO_ERRORS,
    FieldErrors,
    error_list_messages,
    form_errors,
    read_form,
    whole_number,
)
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
    "missed": N_("missed (its numbers could not send)"),
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


def paused_note(c: Any) -> tuple[str, str] | None:
    return service.paused_because(c)


add_global("paused_because", paused_note)
add_global("day_names", DAY_NAMES)
add_global("schedule_sources", forms.SOURCES)
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
    "pause_min_s": N_("Shortest pause between rounds (min)"),
    "pause_max_s": N_("Longest pause between rounds (min)"),
}
audit.label_fields(LABELS)  # the audit page names fields as the form


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
    try:
        data = ConversationIn.model_validate(
            {
                "name": fields.get("name", ""),
                "participants": participants,
                "topics": list(fields.get("topics", "").replace("\n", ",").split(",")),
                **delays,
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


# --- the week calendar and the schedule editor ---------------------------------------------

PALETTE = 8  # conversation colours in the grid (mirage-calendar.css: .c0 … .c7)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def calendar_url(week: date | None = None, conversation: Any = None, number: Any = None) -> str:
    query = {
        k: str(v)
        for k, v in (("week", week), ("conversation", conversation), ("number", number))
        if v
    }
    return "/conversations/calendar" + (f"?{urlencode(query)}" if query else "")


async def _calendar_context(
    session: DbSession,
    principal: DashboardPrincipal,
    week: date | None,
    conversation_id: uuid.UUID | None,
    number_id: uuid.UUID | None,
) -> dict[str, Any]:
    cal = await service.calendar(session, principal, week)
    default = await service.get_default_schedule(session, principal)
    colour = {x.conversation.id: i % PALETTE for i, x in enumerate(cal.conversations)}
    numbers = {i.id: i for x in cal.conversations for i in x.instances}
    shown = [
        x
        for x in cal.conversations
        if number_id is None or any(i.id == number_id for i in x.instances)
    ]
    lanes = {x.conversation.id: i for i, x in enumerate(shown)}
    selected = next((x for x in cal.conversations if x.conversation.id == conversation_id), None)
    names = {x.conversation.id: x.conversation.name for x in cal.conversations}
    # A week holds thousands of slots but few distinct pairs of numbers: name each pair once.
    pair_names: dict[tuple[uuid.UUID, ...], str] = {}

    def pair_name(ids: Sequence[uuid.UUID]) -> str:
        key = tuple(ids)
        if key not in pair_names:
            pair_names[key] = ", ".join(numbers[n].display_name for n in key if n in numbers)
        return pair_names[key]

    slots = [
        (
            x.slot.starts_at,
            x.slot.ends_at,
            names.get(x.slot.conversation_id, "?"),
            str(x.slot.conversation_id),
            x.state,
            lanes[x.slot.conversation_id],
            colour.get(x.slot.conversation_id, 0),
            pair_name(x.slot.instance_ids),
        )
        for x in cal.slots
        if x.slot.conversation_id in lanes
    ]
    shown_schedule = selected.schedule if selected else default.schedule
    # One conversation: its windows across the day; all: each conversation's in its lane.
    if selected is not None or not shown:
        bands = [(-1, shown_schedule.windows)]
    else:
        bands = [(lanes[x.conversation.id], x.schedule.windows) for x in shown]
    days = forms.day_blocks(cal.days, cal.today, cal.zone, bands, cal.quiet, slots)
    monday = cal.days[0]
    return {
        "cal": cal,
        "days": days,
        "lanes": max(1, len(shown)),
        "shown": shown,
        "colour": colour,
        "selected": selected,
        "number_id": number_id,
        "numbers": sorted(numbers.values(), key=lambda i: i.display_name.lower()),
        "default": default,
        "shown_schedule": shown_schedule,
        "form": forms.form_values(shown_schedule),
        "cols": forms.columns(shown_schedule.windows),
        "column_names": forms.COLUMNS,
        "errors": {},
        "week": monday,
        "week_iso": monday.isoformat(),
        "prev_url": calendar_url(monday - timedelta(days=7), conversation_id, number_id),
        "next_url": calendar_url(monday + timedelta(days=7), conversation_id, number_id),
        "this_url": calendar_url(None, conversation_id, number_id),
        "can_edit": principal.role.at_least(Role.OPERATOR),
        "can_admin": principal.role.at_least(Role.ADMIN),
    }


@router.get("/conversations/calendar")
async def calendar_page(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    week: str = "",
    conversation: str = "",
    number: str = "",
) -> Response:
    ctx = await _calendar_context(
        session, principal, _day(week), _uuid(conversation), _uuid(number)
    )
    return render(request, "conversations/calendar.html", ctx)


def _schedule_from_form(fields: dict[str, str]) -> ConversationScheduleIn:
    if fields.get("source") == schedule.DEFAULT:
        return ConversationScheduleIn(source="default")
    windows, rounds, pause_min, pause_max = forms.parse_form(fields, cols=_cols(fields))
    return ConversationScheduleIn(
        source="own",
        windows=windows,
        rounds_per_window=rounds,
        pause_min_s=pause_min,
        pause_max_s=pause_max,
    )


def _cols(fields: dict[str, str]) -> int:
    raw = fields.get("cols", "3")
    ok = raw.isascii() and raw.isdigit() and len(raw) <= 2
    return min(12, max(3, int(raw))) if ok else 3


@router.post("/conversations/calendar/default")
async def save_default(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    fields = await read_form(request)
    week = _day(fields.get("week", ""))
    try:
        windows, rounds, pause_min, pause_max = forms.parse_form(fields, cols=_cols(fields))
        await service.set_default_schedule(
            session,
            principal,
            ScheduleIn(
                windows=windows,
                rounds_per_window=rounds,
                pause_min_s=pause_min,
                pause_max_s=pause_max,
            ),
        )
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        ctx = await _calendar_context(session, principal, week, None, None)
        ctx.update(form=fields, cols=_cols(fields), errors=forms.problems_by_field(exc))
        return render(request, "conversations/calendar.html", ctx, status_code=422)
    return RedirectResponse(calendar_url(week), status_code=303)


@router.post("/conversations/{conversation_id}/schedule")
async def save_schedule(
    request: Request, session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    await service.get_view(session, principal, conversation_id)  # another's: 404 first
    fields = await read_form(request)
    week = _day(fields.get("week", ""))
    try:
        await service.set_schedule(session, principal, conversation_id, _schedule_from_form(fields))
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        ctx = await _calendar_context(session, principal, week, conversation_id, None)
        ctx.update(form=fields, cols=_cols(fields), errors=forms.problems_by_field(exc))
        return render(request, "conversations/calendar.html", ctx, status_code=422)
    return RedirectResponse(calendar_url(week, conversation_id), status_code=303)


# --- editing a conversation ------------------------------------------------------------------


async def _edit_context(
    session: DbSession, principal: DashboardPrincipal, view: service.ConversationView
) -> dict[str, Any]:
    numbers = await instances.list_instances(session, principal)
    c = view.conversation
    values = {
        "name": c.name,
        "topics": ", ".join(c.topics),
        "delay_min_s": str(c.delay_min_s or ""),
        "delay_max_s": str(c.delay_max_s or ""),
    }
    for i, (_p, inst, persona) in enumerate(view.participants):
        values[f"instance_{i}"] = str(inst.id)
        values[f"persona_{i}"] = str(persona.id)
    return {
        "view": view,
        "ready_numbers": [n for n in numbers if messaging.can_send(n)],
        "other_numbers": [n for n in numbers if not messaging.can_send(n)],
        "personas": await personas.list_personas(session, principal),
        "form": values,
        "errors": {},
    }


@router.get("/conversations/{conversation_id}/edit")
async def edit_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    view = await service.get_view(session, principal, conversation_id)
    return render(request, "conversations/edit.html", await _edit_context(session, principal, view))


class FormErrors(Exception):
    """Every problem of a submitted edit form, by field ("" for the form as a whole)."""

    def __init__(self, errors: dict[str, list[Message]]) -> None:
        super().__init__("invalid form")
        self.errors = errors


# Rules across fields (model validators carry no field): where their message goes.
_RULE_FIELDS = {
    DELAYS_BOTH: "delay_max_s",
    DELAYS_ORDER: "delay_max_s",
    NUMBER_TWICE: "participants",
    TOPICS_NONE: "topics",
    TOPIC_LONG: "topics",
}


def _patch_from_form(fields: dict[str, str]) -> ConversationPatch:
    """The edit form as a patch; every problem of every field at once (FormErrors)."""
    errors: dict[str, list[Message]] = {}
    participants = []
    for i in range(4):
        inst, pers = fields.get(f"instance_{i}", ""), fields.get(f"persona_{i}", "")
        if inst and pers:
            participants.append({"instance_id": inst, "persona_id": pers})
    delays: dict[str, int | None] = {}
    for name in ("delay_min_s", "delay_max_s"):
        try:
            value = fields.get(name, "").strip()
            delays[name] = whole_number(fields, name, LABELS[name]) if value else None
        except DomainError as exc:
            errors.setdefault(name, []).append(exc.message)
    body: dict[str, Any] = {
        "name": fields.get("name", ""),
        "participants": participants,
        "topics": list(fields.get("topics", "").replace("\n", ",").split(",")),
        **delays,
    }
    try:
        patch = ConversationPatch.model_validate(body)
    except ValidationError as exc:
        for name, messages in _errors_by_field(exc).items():
            if name in ("delay_min_s", "delay_max_s") and name in errors:
                continue  # already said: not a whole number
            errors.setdefault(name, []).extend(messages)
        raise FormErrors(errors) from None
    if errors:
        raise FormErrors(errors)
    return patch


def _errors_by_field(exc: ValidationError) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = {}
    raw = exc.errors(include_input=False, include_url=False)
    for err, msg in zip(raw, error_list_messages(raw, LABELS), strict=True):
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        name = loc[0] if loc else _RULE_FIELDS.get(msg.msgid, "")
        out.setdefault(name, []).append(msg)
    return out


@router.post("/conversations/{conversation_id}/edit")
async def edit(
    request: Request, session: DbSession, principal: DashboardPrincipal, conversation_id: uuid.UUID
) -> Response:
    await service.get_view(session, principal, conversation_id)  # another's: 404 first
    fields = await read_form(request)
    try:
        await service.update_conversation(
            session, principal, conversation_id, _patch_from_form(fields)
        )
    except (FormErrors, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (401, 403, 404):
            raise
        view = await service.get_view(session, principal, conversation_id)
        ctx = await _edit_context(session, principal, view)
        errors = exc.errors if isinstance(exc, FormErrors) else forms.problems_by_field(exc)
        ctx.update(form=fields, errors=errors)
        return render(request, "conversations/edit.html", ctx, status_code=422)
    return RedirectResponse(f"/conversations/{conversation_id}", status_code=303)


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
