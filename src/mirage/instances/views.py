"""Dashboard: the Numbers page, the pairing modal, actions and the live status stream."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mirage.auth import service as auth_service
from mirage.auth.deps import DashboardPrincipal
from mirage.auth.principal import Principal
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import health, service
from mirage.instances.gateway import gateway_is_simulator, simulator_scan
from mirage.instances.repository import InstanceRepository
from mirage.kit.errors import DomainError, ServiceUnavailable, ValidationFailed
from mirage.kit.live import Renderer
from mirage.models.tenancy import Role
from mirage.web.csrf import csrf_protect
from mirage.web.forms import clean
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, render, render_fragment

add_global("reason_words", health.reason_words)  # used by instances/_row.html
router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


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
        instance = await service.create_instance(
            session, principal, display_name=clean(display_name)
        )
    except DomainError as exc:
        instances = await service.list_instances(session, principal)
        return render(
            request,
            "instances/list.html",
            {
                "instances": instances,
                "create_error": exc.message,
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


@router.post("/instances/{instance_id}/connect")
async def connect(
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    """Ask the gateway to pair (and for its current QR). A POST: asking for a QR is what starts
    the connection on the gateway and may change the number's state, so no GET may do it."""
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
        view = await service.pairing_code(session, principal, instance_id, clean(phone))
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
    request: Request, session: DbSession, principal: DashboardPrincipal, instance_id: uuid.UUID
) -> Response:
    await service.delete(session, principal, instance_id)
    if request.headers.get("hx-request"):
        return Response("", media_type="text/html")
    return RedirectResponse("/instances", status_code=303)


@router.get("/instances/events")
async def events(request: Request) -> Response:
    """Server-sent events: each change of a number re-renders its row (HTMX sse-swap)."""

    def renderer(principal: Principal) -> Renderer:
        async def render(event: dict[str, Any]) -> list[tuple[str, str]]:
            html = (
                ""
                if event.get("deleted")
                else await _render_row(request, principal, uuid.UUID(event["id"]))
            )
            return [(f"instance-{event['id']}", html)]

        return render

    return await open_stream(request, "instance", renderer)


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
