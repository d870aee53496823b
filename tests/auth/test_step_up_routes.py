"""Every sensitive route, API and dashboard, is guarded by the one step-up rule.

Routes are discovered from the routers the app mounts (``API_ROUTERS``, ``PAGE_ROUTERS``):

- a route is *marked* sensitive when its principal comes from the step-up guard
  (``auth.deps.STEP_UP_GUARDS``, found in the route's dependency tree);
- a route whose code calls one of the sensitive operations (``auth.stepup.SENSITIVE_CALLS``)
  must be marked — so a new route doing one cannot forget the guard;
- every marked route is then called for real and must refuse: an owner without MFA in a
  tenant that makes it mandatory (enroll first), an enrolled owner whose session has not
  confirmed a code (step up first), API tokens without the admin scope or not created under a
  step-up; and must let through a principal that has just stepped up.
"""

from __future__ import annotations

import inspect
import re
import uuid
from typing import Any

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mirage.app import API_ROUTERS, PAGE_ROUTERS
from mirage.auth import service as auth_service
from mirage.auth import stepup
from mirage.auth.deps import STEP_UP_GUARDS
from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.models.tenancy import Role
from tests.conftest import TenantFixture, make_tenant, make_token, sign_in

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
REFUSALS = {"step-up-required", "mfa-enrollment-required"}


def _guarded(dependant: Dependant) -> bool:
    return any(d.call in STEP_UP_GUARDS or _guarded(d) for d in dependant.dependencies)


def _routes() -> list[tuple[str, APIRoute]]:
    return [
        (prefix, route)
        for prefix, routers in (("/api/v1", API_ROUTERS), ("", PAGE_ROUTERS))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]


def _calls(route: APIRoute) -> set[str]:
    source = inspect.getsource(route.endpoint)
    return {name for name in stepup.SENSITIVE_CALLS if re.search(rf"\b{name}\(", source)}


def _marked() -> list[tuple[str, str, str]]:
    """(method, full path with random ids, "api" | "page") of every guarded route."""
    out = []
    for prefix, route in _routes():
        if _guarded(route.dependant):
            path = PARAM.sub(lambda _: str(uuid.uuid4()), prefix + route.path)
            out += [(m, path, "api" if prefix else "page") for m in sorted(route.methods or ())]
    return out


def test_every_route_doing_a_sensitive_operation_is_guarded() -> None:
    unguarded = [
        (sorted(route.methods or ()), prefix + route.path, sorted(_calls(route)))
        for prefix, route in _routes()
        if _calls(route) and not _guarded(route.dependant)
    ]
    assert not unguarded, f"sensitive operations without the step-up guard: {unguarded}"
    # Each declared operation is reached by a guarded route (the list is not stale), in the API
    # and in the dashboard alike.
    for kind in ("api", "page"):
        reached = {
            name
            for prefix, route in _routes()
            if ("api" if prefix else "page") == kind and _guarded(route.dependant)
            for name in _calls(route)
        }
        assert reached == set(stepup.SENSITIVE_CALLS), (kind, set(stepup.SENSITIVE_CALLS) - reached)
    # Only state-changing routes are marked (a GET never changes state, so needs no step-up).
    assert all(m in {"POST", "PUT", "PATCH", "DELETE"} for m, _, _ in _marked())


async def _token(t: TenantFixture, scopes: list[str], *, stepped_up: bool) -> str:
    if stepped_up:
        return await make_token(t, tuple(scopes))
    # Created by the service for an owner whose session never confirmed a code: the token
    # records that it was not created under a step-up.
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
        principal = Principal(
            kind="user",
            tenant_id=t.tenant_id,
            role=Role.OWNER,
            user_id=t.user_id,
            scopes=ROLE_SCOPES[Role.OWNER],
            mfa_enrolled=t.mfa_secret is not None,
        )
        _, plaintext = await auth_service.create_token(
            session, principal, name="no step-up", scopes=scopes, expires_at=None
        )
    return plaintext


async def _call(
    client: httpx.AsyncClient, method: str, path: str, *, token: str | None, csrf: str | None
) -> httpx.Response:
    if token is not None:
        return await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    return await client.request(method, path, data={"csrf_token": csrf or ""})


def _refusal(r: httpx.Response, kind: str) -> str | None:
    """The step-up refusal a response carries (its problem type or the page's link), or None."""
    if r.status_code != 403:
        return None
    if kind == "api":
        assert r.headers["content-type"] == "application/problem+json", r.text
        slug = str(r.json()["type"]).rsplit("/", 1)[-1]
        return slug if slug in REFUSALS else None
    if 'href="/account/security/verify?next=' in r.text:
        return "step-up-required"
    if 'href="/account/security?next=' in r.text:
        return "mfa-enrollment-required"
    return None


async def test_marked_routes_refuse_without_a_step_up_and_allow_after_one(
    client: httpx.AsyncClient, app: Any
) -> None:
    marked = _marked()
    assert {k for _, _, k in marked} == {"api", "page"}

    enrolled = await make_tenant("owner")
    not_enrolled = await make_tenant("owner", mfa=False)
    tokens = {
        "no admin scope": await _token(enrolled, ["read", "write"], stepped_up=True),
        "no step-up": await _token(enrolled, ["read", "write", "admin"], stepped_up=False),
        "not enrolled": await _token(not_enrolled, ["read", "write", "admin"], stepped_up=False),
    }
    good_token = await make_token(enrolled)

    def browser() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=(f"10.9.{uuid.uuid4().int % 250}.7", 1)
        )
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async with browser() as waiting, browser() as unenrolled, browser() as stepped:
        csrf_waiting = await sign_in(waiting, enrolled, step_up=False)
        csrf_unenrolled = await sign_in(unenrolled, not_enrolled)
        csrf_stepped = await sign_in(stepped, enrolled)
        for method, path, kind in marked:
            where = f"{method} {path}"
            if kind == "api":
                for why, token in tokens.items():
                    r = await _call(client, method, path, token=token, csrf=None)
                    expected = "step-up-required"
                    assert _refusal(r, kind) == expected, (where, why, r.status_code, r.text)
                    assert "step-up" in r.json()["detail"], (where, why)
                r = await _call(client, method, path, token=good_token, csrf=None)
            else:
                r = await _call(waiting, method, path, token=None, csrf=csrf_waiting)
                assert _refusal(r, kind) == "step-up-required", (where, r.status_code, r.text)
                r = await _call(unenrolled, method, path, token=None, csrf=csrf_unenrolled)
                assert _refusal(r, kind) == "mfa-enrollment-required", (where, r.status_code)
                r = await _call(stepped, method, path, token=None, csrf=csrf_stepped)
            # Stepped up: the guard lets it through (the route then answers for itself: a
            # missing body, an unknown id...).
            assert _refusal(r, kind) is None, (where, r.status_code, r.text)
            assert r.status_code != 500, (where, r.text)
