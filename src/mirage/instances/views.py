"""Dashboard: the Numbers page, the pairing modal, actions and the live status stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from mirage.auth import service as auth_service
from mirage.auth.deps import SESSION_COOKIE, DashboardPrincipal, LoginRequired, client_ip
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import service
from mirage.instances.gateway import gateway_is_simulator, simulator_scan
from mirage.instances.repository import InstanceRepository
from mirage.kit.errors import DomainError, ServiceUnavailable, ValidationFailed
from mirage.models.tenancy import Role
from mirage.web.csrf import csrf_protect
from mirage.web.templating import render, render_fragment

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
PING_EVERY_S = 15.0


@router.get("/instances")
async def list_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, connect: str | None = None
) -> Response:
    instances = await service.list_instances(session, principal)
    return render(
        request,
        "instances/list.html",
        {
            "instances": instances,
            "can_admin": principal.role.at_least(Role.ADMIN),
            "can_operate": principal.role.at_least(Role.OPERATOR),
            "open_connect": connect
            if connect and any(str(i.id) == connect for i in instances)
            else None,
        },
    )


@router.post("/instances")
async def create(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    display_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        instance = await service.create_instance(session, principal, display_name=display_name)
    except DomainError as exc:
        instances = await service.list_instances(session, principal)
        return render(
            request,
            "instances/list.html",
            {
                "instances": instances,
                "create_error": exc.detail,
                "display_name": display_name,
                "can_admin": principal.role.at_least(Role.ADMIN),
                "can_operate": principal.role.at_least(Role.OPERATOR),
            },
            status_code=exc.status_code,
        )
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
            "simulator": await gateway_is_simulator(),
        },
    )


@router.get("/instances/{instance_id}/qr")
async def qr(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    instance = await service.get_instance(session, principal, instance_id)
    view = await service.connect(session, principal, instance_id)
    return render_fragment(request, "instances/_qr.html", {"instance": instance, "view": view})


@router.post("/instances/{instance_id}/pairing-code")
async def pairing_code(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    instance_id: uuid.UUID,
    phone: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    await service.get_instance(session, principal, instance_id)  # 404 stays a 404
    try:
        view = await service.pairing_code(session, principal, instance_id, phone)
    except (ValidationFailed, ServiceUnavailable) as exc:
        return render_fragment(
            request,
            "instances/_pairing.html",
            {"error": exc.detail, "phone": phone},
            status_code=200,
        )
    return render_fragment(request, "instances/_pairing.html", {"view": view, "phone": phone})


@router.post("/instances/{instance_id}/sim-scan")
async def sim_scan(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    instance = await service.get_instance(session, principal, instance_id)
    auth_service.require(principal, "write", role=Role.OPERATOR)
    await simulator_scan(instance.gateway_name, profile_name=instance.display_name)
    view = await service.connect(session, principal, instance_id)
    return render_fragment(request, "instances/_qr.html", {"instance": instance, "view": view})


async def _row(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    instance = await service.get_instance(session, principal, instance_id)
    return render_fragment(
        request,
        "instances/_row.html",
        {
            "i": instance,
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


@router.post("/instances/{instance_id}/logout")
async def logout(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    await service.logout(session, principal, instance_id)
    return await _row(request, session, principal, instance_id)


@router.post("/instances/{instance_id}/delete")
async def delete(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    await service.delete(session, principal, instance_id)
    if request.headers.get("hx-request"):
        return Response("", media_type="text/html")
    return RedirectResponse("/instances", status_code=303)


@router.get("/instances/events")
async def events(request: Request) -> Response:
    """Server-sent events: each change of a number re-renders its row (HTMX sse-swap)."""
    async with get_database().sessions() as session, session.begin():
        # A short transaction to authenticate; the stream itself holds no transaction.
        current = await auth_service.resolve_session(session, request.cookies.get(SESSION_COOKIE))
    if current is None or current.tenant is None:
        raise LoginRequired("please sign in")
    principal = current.principal(client_ip(request))
    request.state.current = current  # rows render in the user's language
    from mirage.app import live_hub

    hub = live_hub(request.app)
    queue = hub.subscribe(principal.tenant_id)
    await hub.wait_ready()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), PING_EVERY_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": ping\n\n"
                    continue
                if event.get("kind") != "instance":
                    continue
                html = ""
                if not event.get("deleted"):
                    html = await _render_row(request, principal, uuid.UUID(event["id"]))
                lines = "\n".join(f"data: {line}" for line in (html.splitlines() or [""]))
                yield f"event: instance-{event['id']}\n{lines}\n\n"
        finally:
            hub.unsubscribe(principal.tenant_id, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _render_row(
    request: Request, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> str:
    with tenant_context(principal.tenant_id, principal.user_id):
        async with get_database().sessions() as session, session.begin():
            instance = await InstanceRepository(session).get(instance_id)
            if instance is None:
                return ""
            response = render_fragment(
                request,
                "instances/_row.html",
                {
                    "i": instance,
                    "can_admin": principal.role.at_least(Role.ADMIN),
                    "can_operate": principal.role.at_least(Role.OPERATOR),
                },
            )
            return bytes(response.body).decode()
