"""The team: invitations (single-use, expiring, hashed-token links that name their tenant),
roles (nobody grants above their own; the last owner stays), and removal (the removed member's
sessions and API tokens end at once) — through the dashboard, the API and the CLI."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mirage.auth import service as auth_service
from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.db.urls import RoleUrls
from mirage.kit import crypto
from mirage.models.tenancy import Role
from mirage.tenants import service as tenants
from mirage.tenants import team
from tests.clirun import mirage, mirage_batch, mirage_env
from tests.conftest import PASSWORD, TenantFixture, make_tenant, make_token, sign_in, sql
from tests.web.dashboard import client_for

NEW_PASSWORD = "uma senha bem longa"


async def _member(t: TenantFixture, role: str, *, name: str | None = None) -> TenantFixture:
    """A new user who is a member of ``t``'s tenant with ``role``."""
    suffix = uuid.uuid4().hex[:8]
    async with session_scope() as session:
        user = await tenants.create_user(
            session,
            email=f"{name or 'member'}-{suffix}@example.com",
            password=PASSWORD,
            display_name=f"{name or 'Member'} {suffix}",
        )
        await tenants.add_member(session, tenant_id=t.tenant_id, user_id=user.id, role=Role(role))
    return TenantFixture(t.tenant_id, t.slug, user.id, user.email)


async def _token_of(m: TenantFixture, role: str) -> str:
    """An API token created by member ``m`` (acting with ``role``)."""
    async with session_scope() as session:
        await bind_context(session, tenant_id=m.tenant_id, user_id=m.user_id)
        principal = Principal(
            kind="user",
            tenant_id=m.tenant_id,
            role=Role(role),
            user_id=m.user_id,
            scopes=ROLE_SCOPES[Role(role)],
        )
        scopes = sorted(ROLE_SCOPES[Role(role)])
        _, plaintext = await auth_service.create_token(
            session, principal, name="mine", scopes=scopes, expires_at=None
        )
    return plaintext


def _link(page: str) -> str:
    found = re.search(r'id="invite-link">([^<]+)<', page)
    assert found, page[:3000]
    return html.unescape(found.group(1))


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def _invite(client: httpx.AsyncClient, csrf: str, email: str, role: str = "operator") -> str:
    r = await client.post(
        "/team/invitations", data={"email": email, "role": role, "csrf_token": csrf}
    )
    assert r.status_code == 201, r.text[:2000]
    return _link(r.text)


async def _accept_as_new(app: Any, link: str, name: str = "Ana Nova") -> httpx.AsyncClient:
    """Open the link in a fresh browser (no cookies), create the account: signed in."""
    fresh = client_for(app)
    path = urlsplit(link).path + "?" + urlsplit(link).query
    page = await fresh.get(path)
    assert page.status_code == 200, page.text[:2000]
    assert 'id="accept-form"' in page.text
    r = await fresh.post(
        "/invite",
        data={
            "csrf_token": fresh.cookies["mirage_csrf"],
            "token": _token(link),
            "name": name,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/", r.text[:2000]
    return fresh


async def _audit(conninfo: str, tenant_id: uuid.UUID) -> list[str]:
    rows = await sql(
        conninfo,
        "select action from audit_events where tenant_id = %s order by created_at",
        tenant_id,
    )
    return [r[0] for r in rows]


async def test_an_invitation_link_makes_a_new_member_signed_in_once(
    app: Any, client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    csrf = await sign_in(client, tenant_a)
    page = await client.get("/team")
    assert page.status_code == 200 and "Convidar alguém" in page.text
    assert "não envia e-mail" in page.text  # said plainly: the inviter passes the link on
    email = f"nova-{uuid.uuid4().hex[:6]}@example.com"
    link = await _invite(client, csrf, email)
    assert link.startswith("http") and "/invite?token=mrgi_" in link
    token = _token(link)
    # Only the token's hash is stored.
    stored = await sql(
        bootstrap_conninfo,
        "select token_hash, role, accepted_at from invitations where email = %s",
        email,
    )
    assert stored == [(crypto.sha256_hex(token), "operator", None)]
    listed = await client.get("/team")
    assert email in listed.text and token not in listed.text  # shown once, never again

    fresh = await _accept_as_new(app, link)
    home = await fresh.get("/")
    assert home.status_code == 200 and "Visão geral" in home.text
    me = await sql(
        bootstrap_conninfo,
        "select m.role, u.display_name from memberships m join users u on u.id = m.user_id "
        "where m.tenant_id = %s and lower(u.email) = %s",
        tenant_a.tenant_id,
        email,
    )
    assert me == [("operator", "Ana Nova")]
    # Single use: the same link again is refused, saying why.
    again = await client_for(app).get(f"/invite?token={token}")
    assert again.status_code == 410 and "já foi usado" in again.text
    assert 'id="accept-form"' not in again.text
    actions = await _audit(bootstrap_conninfo, tenant_a.tenant_id)
    assert "invitation.create" in actions and "invitation.accept" in actions
    # The activity log shows them with their labels.
    settings = await client.get("/settings")
    assert "Convite criado" in settings.text and "Convite aceito" in settings.text


async def test_expired_revoked_and_forged_links_are_refused(
    app: Any,
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    csrf = await sign_in(client, tenant_a)
    visitor = client_for(app)
    # Expired.
    expired = _token(await _invite(client, csrf, f"late-{uuid.uuid4().hex[:6]}@example.com"))
    await sql(
        bootstrap_conninfo,
        "update invitations set expires_at = now() - interval '1 minute' where token_hash = %s",
        crypto.sha256_hex(expired),
    )
    r = await visitor.get(f"/invite?token={expired}")
    assert r.status_code == 410 and "expirou" in r.text
    r = await visitor.post(
        "/invite",
        data={
            "csrf_token": visitor.cookies["mirage_csrf"],
            "token": expired,
            "name": "Late",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert r.status_code == 410
    # Revoked from the Team page.
    email = f"gone-{uuid.uuid4().hex[:6]}@example.com"
    revoked = _token(await _invite(client, csrf, email))
    (inv_id,) = (
        await sql(bootstrap_conninfo, "select id from invitations where email = %s", email)
    )[0]
    r = await client.post(f"/team/invitations/{inv_id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 303
    r = await visitor.get(f"/invite?token={revoked}")
    assert r.status_code == 410 and "revogado" in r.text
    # Forged: a random secret, and a real secret claimed for another tenant.
    forged = crypto.tenant_token(team.INVITE_PREFIX, tenant_a.tenant_id)
    assert (await visitor.get(f"/invite?token={forged}")).status_code == 404
    live = _token(await _invite(client, csrf, f"real-{uuid.uuid4().hex[:6]}@example.com"))
    other = crypto.tenant_token(team.INVITE_PREFIX, tenant_b.tenant_id)
    moved = other[: len(team.INVITE_PREFIX) + 23] + live[len(team.INVITE_PREFIX) + 23 :]
    r = await visitor.get(f"/invite?token={moved}")
    assert r.status_code == 404 and "não é válido" in r.text
    assert (await visitor.get("/invite?token=nonsense")).status_code == 404
    assert (await visitor.get("/invite")).status_code == 303


async def test_nobody_grants_above_their_own_role_and_the_last_owner_stays(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    admin = await _member(tenant_a, "admin", name="admin")
    operator = await _member(tenant_a, "operator", name="op")
    as_admin = {"Authorization": f"Bearer {await _token_of(admin, 'admin')}"}
    # An admin invites up to admin, never an owner.
    r = await client.post(
        "/api/v1/invitations", headers=as_admin, json={"email": "x@example.com", "role": "owner"}
    )
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    r = await client.post(
        "/api/v1/invitations", headers=as_admin, json={"email": "y@example.com", "role": "admin"}
    )
    assert r.status_code == 201, r.text
    # An admin cannot touch an owner.
    members = (await client.get("/api/v1/members", headers=as_admin)).json()
    by_email = {m["email"]: m for m in members}
    owner_id = by_email[tenant_a.email]["id"]
    r = await client.patch(f"/api/v1/members/{owner_id}", headers=as_admin, json={"role": "viewer"})
    assert r.status_code == 403
    assert (await client.delete(f"/api/v1/members/{owner_id}", headers=as_admin)).status_code == 403
    # An operator manages nothing (the dashboard says so too).
    csrf = await sign_in(client, operator)
    page = await client.get("/team")
    assert page.status_code == 200 and 'action="/team/invitations"' not in page.text
    r = await client.post(
        "/team/invitations", data={"email": "z@example.com", "role": "viewer", "csrf_token": csrf}
    )
    assert r.status_code == 403
    # The only owner can be neither demoted nor removed, even by themselves.
    owner = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    csrf = await sign_in(owner, tenant_a)
    page = await owner.get("/team")
    assert "o único dono" in page.text
    r = await owner.post(
        f"/team/members/{owner_id}/role", data={"role": "admin", "csrf_token": csrf}
    )
    assert r.status_code == 409 and "último dono" in r.text
    r = await owner.post(f"/team/members/{owner_id}/remove", data={"csrf_token": csrf})
    assert r.status_code == 409
    # With a second owner, one may step down.
    admin_id = by_email[admin.email]["id"]
    r = await owner.post(
        f"/team/members/{admin_id}/role", data={"role": "owner", "csrf_token": csrf}
    )
    assert r.status_code == 303
    r = await owner.post(
        f"/team/members/{owner_id}/role", data={"role": "admin", "csrf_token": csrf}
    )
    assert r.status_code == 303
    roles = {
        m["email"]: m["role"]
        for m in (
            await client.get(
                "/api/v1/members", headers={"Authorization": f"Bearer {await make_token(tenant_a)}"}
            )
        ).json()
    }
    assert roles[tenant_a.email] == "admin" and roles[admin.email] == "owner"


async def test_a_removed_member_is_out_at_once_sessions_and_tokens(
    app: Any, client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    member = await _member(tenant_a, "admin", name="leaving")
    elsewhere = await make_tenant(name="Outra Agência")
    async with session_scope() as session:
        await tenants.add_member(
            session, tenant_id=elsewhere.tenant_id, user_id=member.user_id, role=Role.VIEWER
        )
    token = await _token_of(member, "admin")
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    # The member has a browser looking at this tenant, and one looking at the other.
    here, there = client_for(app), client_for(app)
    for browser, tenant in ((here, tenant_a), (there, elsewhere)):
        csrf_b = await sign_in(browser, member)
        r = await browser.post(
            "/tenant", data={"tenant_id": str(tenant.tenant_id), "csrf_token": csrf_b}
        )
        assert r.status_code == 303
    assert (await here.get("/")).status_code == 200

    csrf = await sign_in(client, tenant_a)
    members = (
        await client.get(
            "/api/v1/members", headers={"Authorization": f"Bearer {await make_token(tenant_a)}"}
        )
    ).json()
    member_id = next(m["id"] for m in members if m["email"] == member.email)
    r = await client.post(f"/team/members/{member_id}/remove", data={"csrf_token": csrf})
    assert r.status_code == 303 and "removed=1" in r.headers["location"]

    # The very next request of the removed member: signed out, token refused.
    r = await here.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    r = await client.get("/api/v1/me", headers=auth)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    # Their session in their other tenant goes on there.
    r = await there.get("/")
    assert r.status_code == 200 and "Outra Agência" in r.text
    rows = await sql(
        bootstrap_conninfo,
        "select details from audit_events where tenant_id = %s and action = 'member.remove'",
        tenant_a.tenant_id,
    )
    assert rows and rows[0][0]["sessions_ended"] == 1 and rows[0][0]["tokens_revoked"] == 1
    assert (
        await sql(
            bootstrap_conninfo,
            "select revoked_at is not null from api_tokens where "
            "created_by = %s and tenant_id = %s",
            member.user_id,
            tenant_a.tenant_id,
        )
    ) == [(True,)]


async def test_an_inviter_who_lost_the_right_voids_the_invitation(
    app: Any, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    admin = await _member(tenant_a, "admin", name="inviter")
    as_admin = {"Authorization": f"Bearer {await _token_of(admin, 'admin')}"}
    r = await client.post(
        "/api/v1/invitations",
        headers=as_admin,
        json={"email": f"v-{uuid.uuid4().hex[:6]}@example.com", "role": "operator"},
    )
    assert r.status_code == 201, r.text
    link = r.json()["accept_url"]
    owner = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    members = (await client.get("/api/v1/members", headers=owner)).json()
    admin_id = next(m["id"] for m in members if m["email"] == admin.email)
    r = await client.patch(f"/api/v1/members/{admin_id}", headers=owner, json={"role": "viewer"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    page = await client_for(app).get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert page.status_code == 410 and "não vale mais" in page.text


async def test_an_existing_user_signs_in_and_joins(
    app: Any, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    other = await make_tenant(name="Casa Própria")
    csrf = await sign_in(client, tenant_a)
    link = await _invite(client, csrf, other.email.upper(), role="viewer")
    path = urlsplit(link).path + "?" + urlsplit(link).query
    browser = client_for(app)
    page = await browser.get(path)
    assert page.status_code == 200 and "Entrar para aceitar" in page.text
    assert 'id="accept-form"' not in page.text  # no new account for an address that has one
    # Signed in as someone else: told so, nothing joined.
    stranger = client_for(app)
    await sign_in(stranger, await make_tenant())
    page = await stranger.get(path)
    assert "mas este convite é para" in page.text
    r = await stranger.post(
        "/invite", data={"token": _token(link), "csrf_token": stranger.cookies["mirage_csrf"]}
    )
    assert r.status_code == 403
    # Signed in as the invited address: one button.
    csrf_b = await sign_in(browser, other)
    page = await browser.get(path)
    assert "Entrar em" in page.text and "Você entrou como" in page.text
    r = await browser.post("/invite", data={"token": _token(link), "csrf_token": csrf_b})
    assert r.status_code == 303
    home = await browser.get("/")
    assert home.status_code == 200
    assert f'<option value="{tenant_a.tenant_id}" selected>' in home.text


async def test_the_api_invites_lists_revokes_and_accepts(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    email = f"api-{uuid.uuid4().hex[:6]}@example.com"
    r = await client.post(
        "/api/v1/invitations",
        headers=auth,
        json={"email": email, "role": "viewer", "expires_in_days": 2},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "pending" and created["token"].startswith("mrgi_")
    assert created["accept_url"].endswith(created["token"])
    listed = (await client.get("/api/v1/invitations", headers=auth)).json()
    assert [i["email"] for i in listed] == [email]
    # Inviting the same address again replaces the open invitation.
    r = await client.post("/api/v1/invitations", headers=auth, json={"email": email})
    assert r.status_code == 201
    second = r.json()
    listed = (await client.get("/api/v1/invitations", headers=auth)).json()
    assert [i["id"] for i in listed] == [second["id"]]
    everything = (await client.get("/api/v1/invitations?status=all", headers=auth)).json()
    assert {i["status"] for i in everything} == {"pending", "revoked"}
    # Accepting needs no API token; the first link was replaced.
    r = await client.post(
        "/api/v1/invitations/accept",
        json={"token": created["token"], "password": NEW_PASSWORD, "display_name": "Via API"},
    )
    assert r.status_code == 410 and r.headers["content-type"] == "application/problem+json"
    r = await client.post(
        "/api/v1/invitations/accept",
        json={"token": second["token"], "password": "short", "display_name": "Via API"},
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/invitations/accept",
        json={"token": second["token"], "password": NEW_PASSWORD, "display_name": "Via API"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "operator" and r.json()["created_account"] is True
    members = (await client.get("/api/v1/members", headers=auth)).json()
    new = next(m for m in members if m["email"] == email)
    assert new["display_name"] == "Via API"
    # A change and a removal; revoking an accepted invitation is refused.
    r = await client.patch(f"/api/v1/members/{new['id']}", headers=auth, json={"role": "viewer"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    r = await client.delete(f"/api/v1/invitations/{second['id']}", headers=auth)
    assert r.status_code == 409
    assert (await client.delete(f"/api/v1/members/{new['id']}", headers=auth)).status_code == 204
    assert (await client.get(f"/api/v1/members/{new['id']}", headers=auth)).status_code == 404
    # An existing account accepts with its own password.
    third = (await client.post("/api/v1/invitations", headers=auth, json={"email": email})).json()
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": third["token"], "password": "wrong one!!"}
    )
    assert r.status_code == 401
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": third["token"], "password": NEW_PASSWORD}
    )
    assert r.status_code == 201 and r.json()["created_account"] is False
    r = await client.delete(f"/api/v1/invitations/{uuid.uuid4()}", headers=auth)
    assert r.status_code == 404
    # Bad input is a problem document, never a 500.
    r = await client.post("/api/v1/invitations", headers=auth, json={"email": "not an address"})
    assert r.status_code == 422 and r.json()["type"].endswith("/validation-failed")


@pytest.fixture
def cli_env(role_urls: RoleUrls) -> dict[str, str]:
    env = mirage_env(role_urls.bootstrap.render_as_string(hide_password=False))
    env["MIRAGE_PUBLIC_URL"] = "https://mirage.example.com"
    return env


async def test_the_cli_scripts_the_team(
    cli_env: dict[str, str], tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    import json

    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    first = await mirage(
        cli_env,
        "team",
        "invite",
        "--tenant",
        tenant_a.slug,
        "--email",
        email,
        "--role",
        "admin",
        "--json",
    )
    assert first.code == 0, first.err
    created = json.loads(first.out)
    assert created["role"] == "admin"
    assert created["accept_url"].startswith("https://mirage.example.com/invite?token=mrgi_")
    member = await _member(tenant_a, "operator", name="cli")
    listed, role, removed, revoked, missing, bad = await mirage_batch(
        cli_env,
        ["team", "list", "--tenant", tenant_a.slug, "--json"],
        ["team", "role", "--tenant", tenant_a.slug, "--email", member.email, "--role", "viewer"],
        ["team", "remove", "--tenant", tenant_a.slug, "--email", member.email, "--json"],
        ["team", "revoke", "--tenant", tenant_a.slug, "--email", email],
        ["team", "list", "--tenant", "no-such-tenant"],
        ["team", "role", "--tenant", tenant_a.slug, "--email", tenant_a.email, "--role", "admin"],
    )
    assert listed.code == 0, listed.err
    out = json.loads(listed.out)
    assert {m["email"] for m in out["members"]} == {tenant_a.email, member.email}
    assert [i["email"] for i in out["invitations"]] == [email]
    assert role.code == 0 and "viewer" in role.out, role.err
    assert removed.code == 0 and json.loads(removed.out)["email"] == member.email
    assert revoked.code == 0, revoked.err
    assert missing.code == 2 and "no tenant" in missing.err
    assert bad.code == 2 and "last owner" in bad.err  # the only owner stays an owner
    actions = await _audit(bootstrap_conninfo, tenant_a.tenant_id)
    for action in ("invitation.create", "member.role_change", "member.remove", "invitation.revoke"):
        assert action in actions
