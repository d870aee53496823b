"""Dashboard: the Numbers page, the pairing modal, actions and the live status stream."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Template
from markupsafe import Markup

from mirage.auth import service as auth_service
from mirage.auth.deps import DashboardPrincipal, StepUpDashboardPrincipal
from mirage.auth.principal import Principal
from mirage.db.deps import DbSession
from mirage.db.engine import get_database, release
from mirage.db.tenancy import tenant_context
from mirage.instances import gateway, health, service
from mirage.instances.repository import InstanceRepository
from mirage.instances.schemas import DASHBOARD_PAGE, decode_cursor, encode_cursor
from mirage.kit.errors import DomainError, ServiceUnavailable, ValidationFailed
from mirage.kit.i18n import N_
from mirage.kit.live import Renderer
from mirage.models import Instance
from mirage.models.tenancy import Role
from mirage.policy import WARMUP_RAMP
from mirage.providers.models import ConnectionState
from mirage.safety import reasons
from mirage.web.csrf import csrf_protect
from mirage.web.forms import NO_ERRORS, clean, form_errors
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, environment, render, render_fragment

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


class NumberRow(NamedTuple):
    """What a row of the Numbers table shows: all the row template sees, so it is the whole
    key of the row's cached HTML (a field it does not hold cannot be shown stale)."""

    id: uuid.UUID
    display_name: str
    profile_name: str | None
    phone: str | None
    state: str
    state_reason: int | None
    needs_pairing: bool
    paired_before: bool
    health: str
    health_reason: str | None
    paused: bool
    risk_score: int
    risk_band: str
    #: Why it was paused (an operator's words or an automatic reason's stored form) and the
    #: automatic reasons' codes (mirage.safety.reasons; None: free text).
    paused_reason: str | None = None
    paused_code: str | None = None
    health_code: str | None = None
    #: The warm-up stage earned by health (None: never connected) and today's and the hour's
    #: sends against the caps the engine applies now (messaging.service.usage).
    stage: int | None = None
    sent_today: int = 0
    daily_cap: int | None = None
    sent_last_hour: int = 0
    hourly_cap: int | None = None
    tightened: bool = False

    @classmethod
    def of(cls, i: Instance, use: service.NumberUsage | None = None) -> NumberRow:
        """``use``: the live (decayed) risk and the sends; without it, the last risk computed
        and no sends."""
        if use is None:
            return cls._row(i, i.risk_score or 0, i.risk_band or "green")
        return cls._row(i, use.risk_score, use.risk_band)._replace(
            stage=use.stage,
            sent_today=use.sent_today,
            daily_cap=use.daily_cap,
            sent_last_hour=use.sent_last_hour,
            hourly_cap=use.hourly_cap,
            tightened=use.tightened,
        )

    @classmethod
    def _row(cls, i: Instance, score: int, band: str) -> NumberRow:
        return cls(
            i.id,
            i.display_name,
            i.profile_name,
            i.phone,
            i.state,
            i.state_reason,
            i.needs_pairing,
            i.first_connected_at is not None,
            i.health,
            i.health_reason,
            i.paused_at is not None,
            score,
            band,
            i.paused_reason,
            reasons.code_of(i.paused_reason),
            reasons.code_of(i.health_reason),
        )


@lru_cache(maxsize=4096)
def _row_html(template: Template, row: NumberRow, can_operate: bool, can_admin: bool) -> Markup:
    # The template object is part of the key: one per language, and a new one when the file
    # changes in development (auto_reload), so an edited template is never served stale.
    macro = getattr(template.module, "row")  # noqa: B009 (a macro of the template)
    return Markup(macro(row, can_operate, can_admin))  # noqa: S704 (the macro's escaped HTML)


def number_row(row: NumberRow, can_operate: bool, can_admin: bool, locale: str) -> Markup:
    """A row's HTML (instances/_rows.html). A page of 50 numbers mostly re-renders rows that
    have not changed since the last view: those come from a bounded cache, not from Jinja."""
    template = environment(locale).get_template("instances/_rows.html")
    return _row_html(template, row, can_operate, can_admin)


add_global("reason_words", health.reason_words)  # used by instances/_rows.html
add_global("operator_logout_code", health.OPERATOR_LOGOUT)
add_global("number_row", number_row)
add_global("warmup_stages", len(WARMUP_RAMP))
add_global("reason_shown", reasons.shown)


# The tabs above the table: every connection state, in this order (one with no number is
# left out unless it is the one selected).
STATES = tuple(s.value for s in ConnectionState)


def _url(**query: str | None) -> str:
    kept = {k: v for k, v in query.items() if v}
    return "/instances" + ("?" + urlencode(kept) if kept else "")


def _tabs(counts: dict[str, int], state: str | None) -> dict[str, Any]:
    """What instances/_tabs.html shows: the page's and, live, the stream's."""
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "tabs": [st for st in STATES if counts.get(st) or st == state],
        "state": state,
        "state_url": {st: _url(state=st) for st in STATES},
    }


def _key(cursor: str | None) -> tuple[str, uuid.UUID] | None:
    """A page link's cursor; one that is not ours (edited, truncated) means the first page."""
    try:
        return decode_cursor(cursor)
    except ValidationFailed:
        return None


async def _page(
    session: DbSession,
    principal: Principal,
    *,
    after: str | None = None,
    before: str | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """A page of the Numbers table (by name, keyset) and the counts by state: two statements,
    whatever the number of numbers."""
    auth_service.require(principal, "read")
    state = state if state in STATES else None
    after_key, before_key = _key(after), _key(before)
    if after_key is not None:
        before_key = None
    repo = InstanceRepository(session)
    counts = await repo.count_by_state()
    rows = await repo.page(
        limit=DASHBOARD_PAGE + 1, after=after_key, before=before_key, state=state
    )
    if before_key is not None:
        has_prev, has_next = len(rows) > DASHBOARD_PAGE, True
        rows = rows[-DASHBOARD_PAGE:]
    else:
        has_prev, has_next = after_key is not None, len(rows) > DASHBOARD_PAGE
        rows = rows[:DASHBOARD_PAGE]
    prev_url = next_url = None
    if has_prev:
        prev_url = (
            _url(state=state, before=encode_cursor(rows[0].display_name, rows[0].id))
            if rows
            else _url(state=state)
        )
    if has_next and rows:
        next_url = _url(state=state, after=encode_cursor(rows[-1].display_name, rows[-1].id))
    tabs = _tabs(counts, state)
    found = await service.usage(session, rows)
    return {
        **tabs,
        "instances": [NumberRow.of(i, found.get(i.id)) for i in rows],
        "shown_total": counts.get(state, 0) if state else tabs["total"],
        "prev_url": prev_url,
        "next_url": next_url,
        # The stream knows the page's filter: the tabs it re-renders keep the one selected.
        "events_url": "/instances/events" + (f"?{urlencode({'state': state})}" if state else ""),
        "can_admin": principal.role.at_least(Role.ADMIN),
        "can_operate": principal.role.at_least(Role.OPERATOR),
        "errors": NO_ERRORS,
    }


@router.get("/instances")
async def list_page(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    connect: str | None = None,
    after: str | None = None,
    before: str | None = None,
    state: str | None = None,
) -> Response:
    # Links, not forms: a parameter that is not ours (edited, truncated) shows the first page
    # of every number rather than an error.
    ctx = await _page(session, principal, after=after, before=before, state=state)
    if connect:
        # The number just added: open its pairing modal, wherever it falls in the pages.
        on_page = any(str(i.id) == connect for i in ctx["instances"])
        try:
            exists = on_page or bool(await InstanceRepository(session).get(uuid.UUID(connect)))
        except ValueError:  # not an id
            exists = False
        ctx["open_connect"] = connect if exists else None
    return render(request, "instances/list.html", ctx)


@router.post("/instances")
async def create(
    request: Request,
    session: DbSession,
    principal: StepUpDashboardPrincipal,
    display_name: Annotated[str, Form()] = "",
) -> Response:
    # No length limit in the declaration: the service's is shown next to the field, with
    # what was typed (FastAPI's would be an error page).
    try:
        instance = await service.create_instance(
            session, principal, display_name=clean(display_name)
        )
    except DomainError as exc:
        if exc.status_code in (401, 403):
            raise
        ctx = await _page(session, principal)
        ctx.update(
            errors=form_errors(exc, {"display_name": N_("New number")}),
            display_name=clean(display_name)[:300],
        )
        return render(request, "instances/list.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/instances?connect={instance.id}", status_code=303)


@router.get("/instances/{instance_id}/connect")
async def connect_modal(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    instance = await service.get_instance(session, principal, instance_id)
    return render_fragment(
        request,
        "instances/_connect_modal.html",
        {
            "instance": instance,
            "simulator": await gateway.gateway_is_simulator(),
        },
    )


@router.post("/instances/{instance_id}/connect")
async def connect(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    instance_id: uuid.UUID,
    scanned: bool = False,
) -> Response:
    """Ask the gateway to pair (and for its current QR). A POST: asking for a QR is what starts
    the connection on the gateway and may change the number's state, so no GET may do it.
    ``scanned``: the modal's scan already happened (the gateway is linking, it shows no QR)."""
    instance = await service.get_instance(session, principal, instance_id)
    view = await service.connect(session, principal, instance_id)
    return render_fragment(
        request,
        "instances/_qr.html",
        {"instance": instance, "view": view, "scanned": scanned and not view.qr_png_data_url},
    )


@router.post("/instances/{instance_id}/pairing-code")
async def pairing_code(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    instance_id: uuid.UUID,
    phone: Annotated[str, Form()] = "",
) -> Response:
    await service.get_instance(session, principal, instance_id)  # 404 stays a 404
    phone = clean(phone)[:40]  # the service refuses anything longer than a phone number
    try:
        view = await service.pairing_code(session, principal, instance_id, phone)
    except (ValidationFailed, ServiceUnavailable) as exc:
        return render_fragment(
            request,
            "instances/_pairing.html",
            {"error": exc.message, "phone": phone},
            status_code=200,
        )
    return render_fragment(request, "instances/_pairing.html", {"view": view, "phone": phone})


@router.post("/instances/{instance_id}/sim-scan")
async def sim_scan(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    instance = await service.get_instance(session, principal, instance_id)
    auth_service.require(principal, "write", role=Role.OPERATOR)
    # A scan needs a QR on screen: start pairing first (a no-op when it already is).
    view = await service.connect(session, principal, instance_id)
    if view.state != "open":
        # Nothing held across the scan: connect() leaves the number's row locked, and the
        # webhooks the scan causes would wait on that lock (and time out) until we are done.
        await release(session)
        await gateway.simulator_scan(instance.gateway_name, profile_name=instance.display_name)
        view = await service.connect(session, principal, instance_id)
    # Linking takes the gateway a moment: the modal says the code was read (not "waiting for a
    # QR code") and turns "Connected!" as soon as the number is open (live stream, 1 s poll).
    return render_fragment(
        request,
        "instances/_qr.html",
        {"instance": instance, "view": view, "scanned": not view.qr_png_data_url},
    )


async def _row(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    instance = await service.get_instance(session, principal, instance_id)
    use = (await service.usage(session, [instance])).get(instance.id)
    return render_fragment(
        request,
        "instances/_row.html",
        {
            "i": NumberRow.of(instance, use),
            "can_admin": principal.role.at_least(Role.ADMIN),
            "can_operate": principal.role.at_least(Role.OPERATOR),
        },
    )


@router.post("/instances/{instance_id}/restart")
async def restart(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    await service.restart(session, principal, instance_id)
    return await _row(request, session, principal, instance_id)


@router.post("/instances/{instance_id}/pause")
async def pause(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    await service.pause(session, principal, instance_id, None)
    return await _row(request, session, principal, instance_id)


@router.post("/instances/{instance_id}/resume")
async def resume(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    await service.resume(session, principal, instance_id)
    return await _row(request, session, principal, instance_id)


@router.post("/instances/{instance_id}/logout")
async def logout(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    await service.logout(session, principal, instance_id)
    return await _row(request, session, principal, instance_id)


@router.post("/instances/{instance_id}/delete")
async def delete(
    request: Request,
    session: DbSession,
    principal: StepUpDashboardPrincipal,
    instance_id: uuid.UUID,
) -> Response:
    await service.delete_instance(session, principal, instance_id)
    if request.headers.get("hx-request"):
        return Response("", media_type="text/html")
    return RedirectResponse("/instances", status_code=303)


@router.get("/instances/events")
async def events(request: Request, state: str | None = None) -> Response:
    """Server-sent events: each change of a number re-renders its row and the tabs' counts
    (HTMX sse-swap). ``state``: the page's tab, kept selected in the tabs sent."""
    state = state if state in STATES else None

    def renderer(principal: Principal) -> Renderer:
        async def render(event: dict[str, Any]) -> list[tuple[str, str]]:
            instance_id = None if event.get("deleted") else uuid.UUID(event["id"])
            row, tabs = await _render_changes(request, principal, instance_id, state)
            return [(f"instance-{event['id']}", row), ("instance-counts", tabs)]

        return render

    return await open_stream(request, "instance", renderer)


async def _render_changes(
    request: Request,
    principal: DashboardPrincipal,
    instance_id: uuid.UUID | None,
    state: str | None,
) -> tuple[str, str]:
    """A changed number's row ("" when it is gone) with its risk, and the tabs with fresh
    counts: one short transaction."""
    with tenant_context(principal.tenant_id, principal.user_id):
        async with get_database().sessions() as session, session.begin():
            repo = InstanceRepository(session)
            instance = None if instance_id is None else await repo.get(instance_id)
            number = None
            if instance is not None:
                use = (await service.usage(session, [instance])).get(instance.id)
                number = NumberRow.of(instance, use)
            counts = await repo.count_by_state()
    row = ""
    if number is not None:
        response = render_fragment(
            request,
            "instances/_row.html",
            {
                "i": number,
                "can_admin": principal.role.at_least(Role.ADMIN),
                "can_operate": principal.role.at_least(Role.OPERATOR),
            },
        )
        row = bytes(response.body).decode()
    tabs = render_fragment(request, "instances/_tabs.html", _tabs(counts, state))
    return row, bytes(tabs.body).decode()
