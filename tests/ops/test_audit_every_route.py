"""Every state-changing API route leaves an audit event — proved by calling each one.

The mutating routes are discovered from the routers the app mounts (``API_ROUTERS``). Each
must have a *recipe* below (how to call it successfully on one shared tenant) or be in
``EXEMPT`` with the reason it changes nothing worth auditing. Each recipe's call carries its
own ``X-Request-ID``, and an audit event with that correlation id must exist afterwards. So a
new mutating route fails this test until it records (and gets a recipe) or is exempted here.

The dashboard's forms call the same service functions as these routes (where the audit calls
live): a third test checks, from their source, that each form reaches a service function an
API route above proved to record — or is in ``PAGE_ONLY`` with how it is recorded.
"""

from __future__ import annotations

import importlib
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.routing import APIRoute

from mirage.app import API_ROUTERS, PAGE_ROUTERS
from mirage.contacts import service as contacts
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from tests.conftest import GatewayWorld, sql
from tests.conversations.conftest import FAST_SETTINGS, PERSONA
from tests.outreach.conftest import campaign_world

API = "/api/v1"

# Routes that change nothing an audit log is for, and why.
EXEMPT: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/instances/{instance_id}/connect"): (
        "shows the pairing QR code; the modal polls it every few seconds (the pairing that "
        "follows is recorded by the gateway's connection events)"
    ),
    ("POST", "/api/v1/campaigns/preview"): "read-only: renders an unsaved message",
    ("POST", "/api/v1/contact-imports"): (
        "stages an uploaded file for its preview; nothing changes until it is started "
        "(contact_import.start)"
    ),
}


def mutating_routes() -> set[tuple[str, str]]:
    return {
        (method, API + route.path)
        for router in API_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
        if method in {"POST", "PUT", "PATCH", "DELETE"}
    }


Call = tuple[str, dict[str, Any]]  # the concrete path and the request's keyword arguments


@dataclass
class Walk:
    client: httpx.AsyncClient
    auth: dict[str, str]
    ids: dict[str, Any]

    async def post(self, path: str, **kw: Any) -> dict[str, Any]:
        """A set-up call (not the one under test)."""
        r = await self.client.post(API + path, headers=self.auth, **kw)
        assert r.is_success, (path, r.status_code, r.text)
        return r.json()  # type: ignore[no-any-return]


Recipe = Callable[[Walk], Awaitable[Call]]
RECIPES: list[tuple[str, str, Recipe]] = []


def recipe(method: str, template: str) -> Callable[[Recipe], Recipe]:
    def add(fn: Recipe) -> Recipe:
        RECIPES.append((method, API + template, fn))
        return fn

    return add


def phone(w: Walk, n: int) -> str:
    return f"+55219{int(w.ids['tenant'].hex[:6], 16) % 10_000:04d}{n:03d}"


# --- account: tokens, settings, team ----------------------------------------------------------


@recipe("POST", "/tokens")
async def _token_create(w: Walk) -> Call:
    return "/tokens", {"json": {"name": "walk", "scopes": ["read"]}}


@recipe("DELETE", "/tokens/{token_id}")
async def _token_revoke(w: Walk) -> Call:
    t = await w.post("/tokens", json={"name": "to revoke", "scopes": ["read"]})
    return f"/tokens/{t['id']}", {}


@recipe("PUT", "/settings")
async def _settings(w: Walk) -> Call:
    return "/settings", {"json": {**FAST_SETTINGS, "daily_cap_per_number": 499}}


@recipe("PUT", "/settings/security")
async def _security(w: Walk) -> Call:
    return "/settings/security", {"json": {"mfa_required": True, "step_up_minutes": 12}}


@recipe("POST", "/invitations")
async def _invite(w: Walk) -> Call:
    return "/invitations", {"json": {"email": "walk-a@example.com", "role": "viewer"}}


@recipe("DELETE", "/invitations/{invitation_id:uuid}")
async def _invite_revoke(w: Walk) -> Call:
    inv = await w.post("/invitations", json={"email": "walk-b@example.com", "role": "viewer"})
    return f"/invitations/{inv['id']}", {}


@recipe("POST", "/invitations/accept")
async def _invite_accept(w: Walk) -> Call:
    inv = await w.post("/invitations", json={"email": "walk-c@example.com", "role": "viewer"})
    body = {"token": inv["token"], "password": "a long walk password", "display_name": "Walker"}
    return "/invitations/accept", {"json": body, "headers": {}}


async def _member(w: Walk) -> str:
    r = await w.client.get(API + "/members", headers=w.auth)
    return next(m["id"] for m in r.json() if m["email"] == "walk-c@example.com")


@recipe("PATCH", "/members/{member_id}")
async def _role(w: Walk) -> Call:
    return f"/members/{await _member(w)}", {"json": {"role": "operator"}}


@recipe("DELETE", "/members/{member_id}")
async def _remove(w: Walk) -> Call:
    return f"/members/{await _member(w)}", {}


# --- numbers ----------------------------------------------------------------------------------


@recipe("POST", "/instances")
async def _instance(w: Walk) -> Call:
    return "/instances", {"json": {"display_name": "Walk number"}}


async def _walk_number(w: Walk) -> str:
    r = await w.client.get(API + "/instances", headers=w.auth)
    body = r.json()
    items = body["items"] if isinstance(body, dict) else body
    return next(i["id"] for i in items if i["display_name"] == "Walk number")  # type: ignore[no-any-return]


@recipe("POST", "/instances/{instance_id}/pairing-code")
async def _pairing(w: Walk) -> Call:
    return f"/instances/{await _walk_number(w)}/pairing-code", {"json": {"phone": "5511987650000"}}


@recipe("POST", "/instances/{instance_id}/restart")
async def _restart(w: Walk) -> Call:
    return f"/instances/{w.ids['n0']}/restart", {}


@recipe("POST", "/instances/{instance_id}/pause")
async def _pause(w: Walk) -> Call:
    return f"/instances/{await _walk_number(w)}/pause", {"json": {}}


@recipe("POST", "/instances/{instance_id}/resume")
async def _resume(w: Walk) -> Call:
    return f"/instances/{await _walk_number(w)}/resume", {}


@recipe("POST", "/instances/{instance_id}/logout")
async def _logout(w: Walk) -> Call:
    return f"/instances/{w.ids['n1']}/logout", {}


@recipe("POST", "/instances/{instance_id}/quarantine")
async def _quarantine(w: Walk) -> Call:
    return f"/instances/{await _walk_number(w)}/quarantine", {"json": {"reason": "walk"}}


@recipe("POST", "/instances/{instance_id}/release")
async def _release(w: Walk) -> Call:
    return f"/instances/{await _walk_number(w)}/release", {"json": {"reason": "walk over"}}


@recipe("PUT", "/safety/settings")
async def _safety_settings(w: Walk) -> Call:
    r = await w.client.get(API + "/safety/settings", headers=w.auth)
    return "/safety/settings", {"json": {**r.json(), "auto_pause_min_sends": 7}}


ALERT_TARGETS = {
    "webhook_url": "https://hooks.example.com/walk",
    "webhook_secret": "walk-secret-0123456789",
}


@recipe("PUT", "/alerts/settings")
async def _alert_targets(w: Walk) -> Call:
    return "/alerts/settings", {"json": ALERT_TARGETS}


@recipe("POST", "/alerts/test")
async def _alert_test(w: Walk) -> Call:
    r = await w.client.put(API + "/alerts/settings", headers=w.auth, json=ALERT_TARGETS)
    assert r.status_code == 200, r.text
    return "/alerts/test", {}


@recipe("DELETE", "/instances/{instance_id}")
async def _delete_instance(w: Walk) -> Call:
    return f"/instances/{await _walk_number(w)}", {}


# --- personas and conversations ---------------------------------------------------------------


@recipe("POST", "/personas")
async def _persona(w: Walk) -> Call:
    return "/personas", {"json": {**PERSONA, "name": "Walk persona"}}


@recipe("PUT", "/personas/{persona_id}")
async def _persona_update(w: Walk) -> Call:
    p = await w.post("/personas", json={**PERSONA, "name": "Walk persona 2"})
    w.ids["persona"] = p["id"]
    return f"/personas/{p['id']}", {"json": {**PERSONA, "name": "Walk persona 2", "typo_rate": 0}}


@recipe("DELETE", "/personas/{persona_id}")
async def _persona_delete(w: Walk) -> Call:
    p = await w.post("/personas", json={**PERSONA, "name": "Walk persona 3"})
    return f"/personas/{p['id']}", {}


@recipe("POST", "/conversations")
async def _conversation(w: Walk) -> Call:
    other = await w.post("/personas", json={**PERSONA, "name": "Walk persona 4"})
    body = {
        "name": "Walk conversation",
        "participants": [
            {"instance_id": w.ids["n0"], "persona_id": w.ids["persona"]},
            {"instance_id": w.ids["n1"], "persona_id": other["id"]},
        ],
        "topics": ["futebol"],
        "windows": {str(d): [["08:00", "12:00"]] for d in range(7)},
        "state": "paused",
    }
    return "/conversations", {"json": body}


async def _conversation_id(w: Walk) -> str:
    r = await w.client.get(API + "/conversations", headers=w.auth)
    return next(c["id"] for c in r.json() if c["name"].startswith("Walk conversation"))  # type: ignore[no-any-return]


@recipe("PATCH", "/conversations/{conversation_id}")
async def _conversation_update(w: Walk) -> Call:
    return f"/conversations/{await _conversation_id(w)}", {"json": {"topics": ["praia"]}}


@recipe("PUT", "/conversations/{conversation_id}/schedule")
async def _conversation_schedule(w: Walk) -> Call:
    return f"/conversations/{await _conversation_id(w)}/schedule", {"json": {"source": "default"}}


@recipe("PUT", "/schedule/default")
async def _default_schedule(w: Walk) -> Call:
    body = {
        "windows": {str(d): [["09:00", "11:00"]] for d in range(7)},
        "rounds_per_window": 3,
        "pause_min_s": 77,
        "pause_max_s": 177,
    }
    return "/schedule/default", {"json": body}


@recipe("POST", "/conversations/{conversation_id}/resume")
async def _conversation_resume(w: Walk) -> Call:
    return f"/conversations/{await _conversation_id(w)}/resume", {}


@recipe("POST", "/conversations/{conversation_id}/pause")
async def _conversation_pause(w: Walk) -> Call:
    return f"/conversations/{await _conversation_id(w)}/pause", {}


@recipe("DELETE", "/conversations/{conversation_id}")
async def _conversation_delete(w: Walk) -> Call:
    return f"/conversations/{await _conversation_id(w)}", {}


# --- contacts, tags, suppressions, data requests, imports --------------------------------------


def _contact_body(w: Walk, n: int) -> dict[str, Any]:
    return {"phone": phone(w, n), "legal_basis": "consent", "provenance_source": "walk"}


@recipe("POST", "/contacts")
async def _contact(w: Walk) -> Call:
    return "/contacts", {"json": _contact_body(w, 1)}


async def _new_contact(w: Walk, n: int) -> str:
    return (await w.post("/contacts", json=_contact_body(w, n)))["id"]  # type: ignore[no-any-return]


@recipe("PATCH", "/contacts/{contact_id}")
async def _contact_update(w: Walk) -> Call:
    return f"/contacts/{await _new_contact(w, 2)}", {"json": {"name": "Walker"}}


@recipe("POST", "/contacts/{contact_id}/consent")
async def _consent(w: Walk) -> Call:
    return f"/contacts/{await _new_contact(w, 3)}/consent", {"json": {"action": "revoke"}}


@recipe("DELETE", "/contacts/{contact_id}")
async def _contact_delete(w: Walk) -> Call:
    return f"/contacts/{await _new_contact(w, 4)}", {}


@recipe("POST", "/tags")
async def _tag(w: Walk) -> Call:
    return "/tags", {"json": {"name": "walk-a"}}


async def _new_tag(w: Walk, name: str) -> str:
    return (await w.post("/tags", json={"name": name}))["id"]  # type: ignore[no-any-return]


@recipe("PATCH", "/tags/{tag_id}")
async def _tag_update(w: Walk) -> Call:
    return f"/tags/{await _new_tag(w, 'walk-b')}", {"json": {"name": "walk-b2"}}


@recipe("POST", "/tags/{tag_id}/apply")
async def _tag_apply(w: Walk) -> Call:
    w.ids["tag"] = await _new_tag(w, "walk-c")
    w.ids["tagged"] = await _new_contact(w, 5)
    return f"/tags/{w.ids['tag']}/apply", {"json": {"contact_ids": [w.ids["tagged"]]}}


@recipe("POST", "/tags/{tag_id}/remove")
async def _tag_remove(w: Walk) -> Call:
    return f"/tags/{w.ids['tag']}/remove", {"json": {"contact_ids": [w.ids["tagged"]]}}


@recipe("DELETE", "/tags/{tag_id}")
async def _tag_delete(w: Walk) -> Call:
    return f"/tags/{await _new_tag(w, 'walk-d')}", {}


@recipe("POST", "/suppressions")
async def _suppress(w: Walk) -> Call:
    return "/suppressions", {"json": {"phone": phone(w, 6), "reason": "manual"}}


@recipe("POST", "/suppressions/{suppression_id}/remove")
async def _unsuppress(w: Walk) -> Call:
    s = await w.post("/suppressions", json={"phone": phone(w, 7), "reason": "manual"})
    return f"/suppressions/{s['id']}/remove", {"json": {"reason": "added by mistake"}}


@recipe("POST", "/suppressions/{suppression_id}/confirm")
async def _confirm(w: Walk) -> Call:
    # A probable opt-out comes from an inbound message; recorded here through its service.
    async with session_scope() as s:
        await bind_context(s, tenant_id=w.ids["tenant"], user_id=None)
        await contacts.record_review(
            s, tenant_id=w.ids["tenant"], phone_e164=phone(w, 8), note="pt.deixa_em_paz"
        )
    r = await w.client.get(API + "/suppressions", headers=w.auth)
    sid = next(i["id"] for i in r.json()["items"] if i["reason"] == "review")
    return f"/suppressions/{sid}/confirm", {}


@recipe("POST", "/data-requests/find")
async def _find(w: Walk) -> Call:
    return "/data-requests/find", {"json": {"phone": phone(w, 1)}}


@recipe("POST", "/data-requests/export")
async def _export(w: Walk) -> Call:
    return "/data-requests/export", {"json": {"phone": phone(w, 1)}}


@recipe("POST", "/data-requests/erase")
async def _erase(w: Walk) -> Call:
    return "/data-requests/erase", {"json": {"phone": phone(w, 1), "confirm": True}}


CSV = b"nome;telefone\nAna;+5511987650011\n"


async def _upload(w: Walk) -> str:
    files = {"file": ("walk.csv", CSV, "text/csv")}
    return (await w.post("/contact-imports", files=files))["import"]["id"]  # type: ignore[no-any-return]


@recipe("POST", "/contact-imports/{import_id}/start")
async def _import_start(w: Walk) -> Call:
    body = {"basis": "consent", "source": "walk"}
    return f"/contact-imports/{await _upload(w)}/start", {"json": body}


@recipe("POST", "/contact-imports/{import_id}/cancel")
async def _import_cancel(w: Walk) -> Call:
    return f"/contact-imports/{await _upload(w)}/cancel", {}


# --- outreach ---------------------------------------------------------------------------------


@recipe("POST", "/outreach-policies")
async def _policy(w: Walk) -> Call:
    return "/outreach-policies", {"json": {"name": "Walk policy"}}


@recipe("PUT", "/outreach-policies/{policy_id}")
async def _policy_update(w: Walk) -> Call:
    p = await w.post("/outreach-policies", json={"name": "Walk policy 2"})
    return f"/outreach-policies/{p['id']}", {
        "json": {"name": "Walk policy 2", "min_gap_seconds": 90}
    }


@recipe("DELETE", "/outreach-policies/{policy_id}")
async def _policy_delete(w: Walk) -> Call:
    p = await w.post("/outreach-policies", json={"name": "Walk policy 3"})
    return f"/outreach-policies/{p['id']}", {}


def _campaign_body(w: Walk, name: str) -> dict[str, Any]:
    return {"name": name, "policy_id": w.ids["policy"], "variants": ["Oi {nome:você}"]}


async def _draft(w: Walk, name: str) -> str:
    return (await w.post("/campaigns", json=_campaign_body(w, name)))["id"]  # type: ignore[no-any-return]


@recipe("POST", "/campaigns")
async def _campaign(w: Walk) -> Call:
    return "/campaigns", {"json": _campaign_body(w, "Walk 1")}


@recipe("PUT", "/campaigns/{campaign_id:uuid}")
async def _campaign_update(w: Walk) -> Call:
    cid = await _draft(w, "Walk 2")
    return f"/campaigns/{cid}", {"json": {**_campaign_body(w, "Walk 2"), "variants": ["Olá"]}}


@recipe("DELETE", "/campaigns/{campaign_id:uuid}")
async def _campaign_delete(w: Walk) -> Call:
    return f"/campaigns/{await _draft(w, 'Walk 3')}", {}


@recipe("POST", "/campaigns/{campaign_id:uuid}/test-send")
async def _test_send(w: Walk) -> Call:
    body = {"sender_id": w.ids["n0"], "to_instance_id": w.ids["n1"]}
    return f"/campaigns/{await _draft(w, 'Walk 4')}/test-send", {"json": body}


@recipe("POST", "/campaigns/{campaign_id:uuid}/start")
async def _start(w: Walk) -> Call:
    await _new_contact(w, 9)
    w.ids["running"] = await _draft(w, "Walk 5")
    return f"/campaigns/{w.ids['running']}/start", {"json": {"sender_ids": [w.ids["n0"]]}}


@recipe("POST", "/campaigns/{campaign_id:uuid}/pause")
async def _campaign_pause(w: Walk) -> Call:
    return f"/campaigns/{w.ids['running']}/pause", {}


@recipe("POST", "/campaigns/{campaign_id:uuid}/resume")
async def _campaign_resume(w: Walk) -> Call:
    return f"/campaigns/{w.ids['running']}/resume", {}


@recipe("POST", "/campaigns/{campaign_id:uuid}/cancel")
async def _campaign_cancel(w: Walk) -> Call:
    return f"/campaigns/{w.ids['running']}/cancel", {}


# The numbers' logout runs last: the campaign and conversation recipes need both connected.
RECIPES.sort(key=lambda r: r[1].endswith("/logout"))


def test_every_mutating_route_has_a_recipe_or_an_exemption() -> None:
    routes = mutating_routes()
    covered = {(m, p) for m, p, _ in RECIPES}
    missing = sorted(routes - covered - set(EXEMPT))
    assert not missing, (
        f"mutating API routes with no audit proof: {missing}. Record an audit event in the "
        "service it calls and add a recipe in tests/ops/test_audit_every_route.py (or, if it "
        "changes nothing worth auditing, add it to EXEMPT with the reason)"
    )
    stale = sorted((covered | set(EXEMPT)) - routes)
    assert not stale, f"recipes or exemptions for routes that no longer exist: {stale}"
    assert not covered & set(EXEMPT)


async def test_every_mutating_route_leaves_an_audit_event(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    world = await campaign_world(gw, client, numbers=2)
    ids = {
        "tenant": world.tenant.tenant_id,
        "n0": world.numbers[0]["id"],
        "n1": world.numbers[1]["id"],
        "policy": world.policy["id"],
    }
    walk = Walk(client, world.auth, ids)
    walk.ids["persona"] = (await walk.post("/personas", json={**PERSONA, "name": "Walk base"}))[
        "id"
    ]
    # No job runs during the walk: a campaign started here stays running for pause/resume.
    await gw.stop_worker()
    called: dict[str, tuple[str, str]] = {}
    try:
        for method, template, make in RECIPES:
            path, kw = await make(walk)
            cid = f"walk-{uuid.uuid4().hex[:12]}"
            headers = {**kw.pop("headers", walk.auth), "X-Request-ID": cid}
            r = await client.request(method, API + path, headers=headers, **kw)
            assert r.is_success, (method, template, r.status_code, r.text)
            called[cid] = (method, template)
    finally:
        gw.start_worker()
    rows = await sql(
        bootstrap_conninfo,
        "select correlation_id from audit_events where correlation_id = any(%s)",
        list(called),
    )
    audited = {r[0] for r in rows}
    silent = sorted(called[c] for c in called.keys() - audited)
    assert not silent, f"routes that changed something without an audit event: {silent}"


# --- the dashboard's forms ----------------------------------------------------------------------

REF = re.compile(r"\b([A-Za-z_]\w*)\.([a-z_]\w*)\b")
HELPER = re.compile(r"\b(_[a-z]\w*)\(")

# Dashboard routes that reach no API route's service call, and why they are covered.
PAGE_ONLY: dict[str, str] = {
    "/signin": "auth.sign_in, recorded by auth.service when the password is accepted",
    "/signout": "auth.sign_out, recorded by auth.service.sign_out",
    "/tenant": "auth.switch_tenant, recorded by auth.service.switch_tenant",
    "/language": "the reader's own language: a preference, not a change of the tenant",
    "/account/security/enroll": "starts an enrollment (a pending secret); mfa.enroll on confirm",
    "/account/security/confirm": "mfa.enroll, recorded by auth.mfa (tests/auth/test_mfa.py)",
    "/account/security/recovery-codes": "mfa.recovery_codes_regenerated, by auth.mfa",
    "/account/security/disable": "mfa.disable, by auth.mfa",
    "/account/security/verify": "mfa.step_up / mfa.step_up_failed, by auth.mfa",
    "/instances/{instance_id}/connect": EXEMPT[("POST", "/api/v1/instances/{instance_id}/connect")],
    "/instances/{instance_id}/sim-scan": "the built-in simulator plays the phone reading the QR "
    "code (sandbox only); the connection that follows is the gateway's event",
    "/contacts/imports/upload": EXEMPT[("POST", "/api/v1/contact-imports")],
    "/campaigns/new/preview": EXEMPT[("POST", "/api/v1/campaigns/preview")],
}


def _service_refs(endpoint: Callable[..., Any]) -> set[tuple[str, str]]:
    """(module, attribute) of every Mirage domain module the endpoint — and the private helpers
    of its own module it calls — refers to (``service.update_contact``, ``execution.pause``)."""
    module = inspect.getmodule(endpoint)
    seen: set[str] = set()
    sources = [inspect.getsource(endpoint)]
    refs: set[tuple[str, str]] = set()
    while sources:
        source = sources.pop()
        for name in HELPER.findall(source):
            helper = getattr(module, name, None)
            if name not in seen and inspect.isfunction(helper):
                seen.add(name)
                sources.append(inspect.getsource(helper))
        for receiver, attr in REF.findall(source):
            target = endpoint.__globals__.get(receiver)
            if (
                inspect.ismodule(target)
                and target.__name__.startswith("mirage.")
                and not target.__name__.startswith(("mirage.web", "mirage.kit", "mirage.db"))
            ):
                refs.add((target.__name__, attr))
    return refs


def test_every_dashboard_change_goes_through_an_audited_service() -> None:
    """A dashboard form must change things through a service function that an API route
    proved above to record its event — or be listed in PAGE_ONLY with how it is recorded."""
    proven = {
        ref
        for router in API_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
        and not any((m, API + route.path) in EXEMPT for m in route.methods or ())
        for ref in _service_refs(route.endpoint)
        if callable(getattr(importlib.import_module(ref[0]), ref[1], None))
    }
    forms = [
        route
        for router in PAGE_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert set(PAGE_ONLY) <= {r.path for r in forms}, "PAGE_ONLY names a route that is gone"
    uncovered = sorted(
        route.path
        for route in forms
        if route.path not in PAGE_ONLY and not _service_refs(route.endpoint) & proven
    )
    assert not uncovered, (
        f"dashboard forms whose change reaches no audited service function: {uncovered}. "
        "Call the service the API route uses (it records the event), or record one and list "
        "the route in PAGE_ONLY with how it is recorded"
    )
