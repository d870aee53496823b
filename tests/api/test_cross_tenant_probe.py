"""A user of tenant A gets 404 for every id of tenant B, on every API and dashboard route.

Routes are discovered from the app, so a new route with an id parameter is probed
automatically; a parameter name with no known owner object fails the test until mapped here.
"""

from __future__ import annotations

import re
import uuid

import httpx
import psycopg
from fastapi import FastAPI
from fastapi.routing import APIRoute

from mirage.app import API_ROUTERS, PAGE_ROUTERS
from tests import factories
from tests.conftest import TenantFixture, make_token, sign_in

ID_PARAM = re.compile(r"\{(\w+_id)(?::\w+)?\}")
# Valid bodies for routes that take one, so the probe reaches the lookup (not validation).
PERSONA = {
    "name": "Probe",
    "style": "casual",
    "vocabulary": [],
    "emoji_rate": 0.1,
    "typo_rate": 0.0,
    "min_length": 5,
    "max_length": 50,
    "greetings": {"morning": ["Oi"], "afternoon": ["Oi"], "night": ["Oi"]},
}
BODIES: dict[str, dict[str, object]] = {
    "/api/v1/personas/{persona_id}": PERSONA,
    "/api/v1/instances/{instance_id}/pairing-code": {"phone": "5511999998888"},
    "/instances/{instance_id}/pairing-code": {"phone": "5511999998888"},
    "/api/v1/contacts/{contact_id}": {"name": "Probe"},
    "/api/v1/contacts/{contact_id}/consent": {"action": "revoke"},
    "/api/v1/tags/{tag_id}": {"color": "#000000"},
    "/api/v1/tags/{tag_id}/apply": {"contact_ids": []},
    "/api/v1/tags/{tag_id}/remove": {"contact_ids": []},
    "/api/v1/suppressions/{suppression_id}/remove": {"reason": "probe"},
    "/api/v1/contact-imports/{import_id}/start": {},
    "/api/v1/conversations/{conversation_id}": {"topics": ["probe"]},
    "/api/v1/conversations/{conversation_id}/schedule": {"source": "default"},
    "/api/v1/outreach-policies/{policy_id}": {"name": "Probe"},
    "/outreach-policies/{policy_id}": {"name": "Probe"},
    # A body that passes validation (the campaign is looked up before its policy).
    "/api/v1/campaigns/{campaign_id:uuid}": {
        "name": "Probe",
        "policy_id": str(uuid.UUID(int=1)),
        "variants": ["Oi"],
    },
    "/api/v1/campaigns/{campaign_id:uuid}/start": {"sender_ids": [str(uuid.UUID(int=2))]},
    "/api/v1/campaigns/{campaign_id:uuid}/test-send": {
        "sender_id": str(uuid.UUID(int=2)),
        "to_instance_id": str(uuid.UUID(int=3)),
    },
    "/api/v1/instances/{instance_id}/quarantine": {"reason": "probe"},
    "/api/v1/instances/{instance_id}/release": {"reason": "probe"},
    "/instances/{instance_id}/quarantine": {"reason": "probe"},
    "/instances/{instance_id}/release": {"reason": "probe"},
    "/api/v1/members/{member_id}": {"role": "viewer"},
    "/team/members/{member_id}/role": {"role": "viewer"},
}


def _routes() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for prefix, routers in (("/api/v1", API_ROUTERS), ("", PAGE_ROUTERS)):
        for router in routers:
            for route in router.routes:
                if isinstance(route, APIRoute) and ID_PARAM.search(route.path):
                    found += [(method, prefix + route.path) for method in route.methods]
    return found


async def _ids_of(t: TenantFixture, client: httpx.AsyncClient, conninfo: str) -> dict[str, str]:
    """One real object of each kind owned by tenant ``t``, keyed by the path parameter name."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        instance_id = factories.instances(conn, t.tenant_id)
        persona_id = factories.personas(conn, t.tenant_id)
        round_id = factories.rounds(conn, t.tenant_id)
        conversation_id = conn.execute(
            "select conversation_id from rounds where id = %s", (round_id,)
        ).fetchone()[0]  # type: ignore[index]
        contact_id = factories.contacts(conn, t.tenant_id)
        tag_id = factories.tags(conn, t.tenant_id)
        suppression_id = factories.suppressions(conn, t.tenant_id)
        import_id = factories.contact_imports(conn, t.tenant_id)
        policy_id = factories.outreach_policies(conn, t.tenant_id)
        campaign_id = factories.campaigns(conn, t.tenant_id)
        invitation_id = factories.invitations(conn, t.tenant_id)
        alert_id = factories.safety_alerts(conn, t.tenant_id)
        member_id = conn.execute(
            "select id from memberships where tenant_id = %s and user_id = %s",
            (t.tenant_id, t.user_id),
        ).fetchone()[0]  # type: ignore[index]
    token = await make_token(t)
    tokens = (
        await client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
    ).json()
    return {
        "token_id": tokens[0]["id"],
        "tenant_id": str(t.tenant_id),
        "instance_id": str(instance_id),
        "persona_id": str(persona_id),
        "conversation_id": str(conversation_id),
        "round_id": str(round_id),
        "contact_id": str(contact_id),
        "tag_id": str(tag_id),
        "suppression_id": str(suppression_id),
        "import_id": str(import_id),
        "policy_id": str(policy_id),
        "campaign_id": str(campaign_id),
        "invitation_id": str(invitation_id),
        "member_id": str(member_id),
        "alert_id": str(alert_id),
    }


async def test_every_id_route_hides_other_tenants(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    ids_b = await _ids_of(tenant_b, client, bootstrap_conninfo)
    token_a = await make_token(tenant_a)
    routes = _routes()
    assert ("DELETE", "/api/v1/tokens/{token_id}") in routes
    assert ("POST", "/settings/tokens/{token_id}/revoke") in routes

    browser = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    csrf = await sign_in(browser, tenant_a)
    checked = 0
    for method, path in routes:
        names = ID_PARAM.findall(path)
        unknown = [n for n in names if n not in ids_b]
        assert not unknown, f"map {unknown} to an object of tenant B in _ids_of ({path})"
        url = ID_PARAM.sub(lambda m: ids_b[m.group(1)], path)
        body = BODIES.get(path)
        if path.startswith("/api/"):
            r = await client.request(
                method,
                url,
                headers={"Authorization": f"Bearer {token_a}"},
                json=body if method != "GET" else None,
            )
        else:
            data = {"csrf_token": csrf, **(body or {})} if method != "GET" else None
            r = await browser.request(method, url, data=data)
        assert r.status_code == 404, f"{method} {path} as tenant A → {r.status_code}"
        checked += 1
    assert checked >= 3

    # And B's objects are intact afterwards.
    token_b = await make_token(tenant_b)
    r = await client.get(
        f"/api/v1/tokens/{ids_b['token_id']}", headers={"Authorization": f"Bearer {token_b}"}
    )
    assert r.status_code == 200 and r.json()["revoked_at"] is None


async def test_random_ids_are_404_too(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    token = await make_token(tenant_a)
    r = await client.get(
        f"/api/v1/tokens/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
