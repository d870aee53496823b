"""The audit log is complete and trustworthy: changes are stored as before → after (only what
changed, never a secret), with the request's IP, user agent and correlation id; the runtime
role can only append; owners and admins read it through the API (filters, cursor, CSV) and
the Auditoria page."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors

from mirage.db.urls import RoleUrls
from mirage.ops import audit
from tests.clirun import mirage_batch, mirage_env
from tests.conftest import TenantFixture, make_tenant, make_token, sign_in, sql
from tests.conversations.conftest import PERSONA

UA = "Mozilla/5.0 (audit-test) Chromium"


def test_changes_keep_only_what_changed_and_never_a_secret() -> None:
    before = {"name": "Ana", "emoji_rate": 0.1, "ai_api_key": "gAAAA-old", "mfa_secret": None}
    after = {"name": "Ana", "emoji_rate": 0.3, "ai_api_key": "gAAAA-new", "mfa_secret": "JBSW"}
    assert audit.changes(before, after) == {
        "emoji_rate": {"from": 0.1, "to": 0.3},
        "ai_api_key": {"from": "[redacted]", "to": "[redacted]"},
        "mfa_secret": {"from": None, "to": "[redacted]"},
    }
    # Details passed along are redacted at any depth; ids and counts are not secrets.
    assert audit.redact(
        {"token": "mrg_x", "token_id": uuid.UUID(int=1), "x": {"password": "p"}}
    ) == {
        "token": "[redacted]",
        "token_id": "00000000-0000-0000-0000-000000000001",
        "x": {"password": "[redacted]"},
    }


async def _events(conninfo: str, t: TenantFixture, action: str) -> list[tuple[Any, ...]]:
    return await sql(
        conninfo,
        "select details, ip, user_agent, correlation_id, actor_user_id, actor_token_id "
        "from audit_events where tenant_id = %s and action = %s order by created_at",
        t.tenant_id,
        action,
    )


async def test_settings_and_persona_changes_record_before_and_after(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}", "User-Agent": UA}
    current = (await client.get("/api/v1/settings", headers=auth)).json()
    body = {
        k: v
        for k, v in current.items()
        if k not in ("updated_at", "ai_key_set", "mfa_required", "step_up_minutes")
    }
    body |= {"daily_cap_per_number": current["daily_cap_per_number"] + 7, "ai_api_key": "sk-secret"}
    r = await client.put(
        "/api/v1/settings", headers={**auth, "X-Request-ID": "req-settings-1"}, json=body
    )
    assert r.status_code == 200, r.text
    [(details, ip, ua, cid, user_id, token_id)] = await _events(
        bootstrap_conninfo, tenant_a, "settings.update"
    )
    assert details["changes"] == {
        "daily_cap_per_number": {
            "from": current["daily_cap_per_number"],
            "to": current["daily_cap_per_number"] + 7,
        },
        "ai_api_key": {"from": None, "to": "[redacted]"},
    }
    assert "sk-secret" not in str(details)
    assert (ua, cid, user_id) == (UA, "req-settings-1", tenant_a.user_id)
    assert ip and token_id is not None

    r = await client.post("/api/v1/personas", headers=auth, json={"name": "Ana", **PERSONA})
    pid = r.json()["id"]
    changed = {**PERSONA, "name": "Ana", "emoji_rate": 0.33}
    assert (
        await client.put(f"/api/v1/personas/{pid}", headers=auth, json=changed)
    ).status_code == 200
    [(details, *_)] = await _events(bootstrap_conninfo, tenant_a, "persona.update")
    assert details["changes"] == {"emoji_rate": {"from": PERSONA["emoji_rate"], "to": 0.33}}


async def test_the_app_role_can_only_append_and_tenant_deletion_still_cascades(
    tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    async with (
        await psycopg.AsyncConnection.connect(bootstrap_conninfo) as conn,
        conn.transaction(force_rollback=True),
    ):
        await conn.execute("set local role mirage_app")
        await conn.execute(
            "select set_config('app.tenant_id', %s, true)", (str(tenant_a.tenant_id),)
        )
        await conn.execute(
            "insert into audit_events (id, tenant_id, action, details) "
            "values (gen_random_uuid(), %s, 'auth.sign_in', '{}')",
            (tenant_a.tenant_id,),
        )
        n = await conn.execute("select count(*) from audit_events")
        assert (await n.fetchone())[0] >= 1  # type: ignore[index]
        for stmt in (
            "update audit_events set action = 'forged'",
            "delete from audit_events",
            "truncate audit_events",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                async with conn.transaction():
                    await conn.execute(stmt)
        # The maintenance role deletes a tenant; its history goes with it (the foreign key's
        # cascade runs as the table's owner).
        await conn.execute("reset role")
        await conn.execute("set local role mirage_admin")
        await conn.execute("delete from tenants where id = %s", (tenant_a.tenant_id,))
        await conn.execute("reset role")
        left = await conn.execute(
            "select count(*) from audit_events where tenant_id = %s", (tenant_a.tenant_id,)
        )
        assert (await left.fetchone())[0] == 0  # type: ignore[index]


async def test_api_filters_pages_and_exports(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    for name in ("P1", "P2", "P3"):
        r = await client.post("/api/v1/personas", headers=auth, json={"name": name, **PERSONA})
        assert r.status_code == 201
    base = "/api/v1/audit-events"
    r = await client.get(base, headers=auth, params={"action": "persona", "limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [e["details"]["name"] for e in page["items"]] == ["P3", "P2"]
    assert page["items"][0]["label"] == "Persona created"
    r = await client.get(
        base, headers=auth, params={"action": "persona", "limit": 2, "cursor": page["next_cursor"]}
    )
    assert [e["details"]["name"] for e in r.json()["items"]] == ["P1"]
    assert r.json()["next_cursor"] is None
    r = await client.get(base, headers=auth, params={"target_type": "api_token"})
    assert {e["action"] for e in r.json()["items"]} == {"api_token.create"}
    r = await client.get(base, headers=auth, params={"actor": str(uuid.uuid4())})
    assert r.json()["items"] == []
    r = await client.get(base, headers=auth, params={"since": "2999-01-01T00:00:00Z"})
    assert r.json()["items"] == []

    for params, field in (
        ({"action": "persona.nope"}, "action"),
        ({"actor": "someone"}, "actor"),
        ({"target_type": "planet"}, "target_type"),
        ({"since": "2026-01-02T00:00:00"}, "since"),
        ({"until": "0.5"}, "until"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"cursor": "garbage!"}, "cursor"),
    ):
        r = await client.get(base, headers=auth, params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in r.text, (params, r.text)

    r = await client.get(base + ".csv", headers=auth, params={"action": "persona.create"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert sorted(row["details"] for row in rows) == sorted(
        f'{{"name": "{n}"}}' for n in ("P1", "P2", "P3")
    )
    assert {row["action_label"] for row in rows} == {"Persona created"}

    # Operators and viewers do not read the log.
    operator = await make_tenant("operator")
    op_auth = {"Authorization": f"Bearer {await make_token(operator, ('read', 'write'))}"}
    for path in (base, base + ".csv"):
        assert (await client.get(path, headers=op_auth)).status_code == 403


async def test_audit_page_for_owners_with_filters_and_errors(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await sign_in(client, tenant_a)
    page = await client.get("/audit", params={"action": "auth.sign_in"})
    assert page.status_code == 200
    assert 'href="/audit"' in page.text  # in the navigation
    assert 'data-action="auth.sign_in"' in page.text
    assert 'data-action="mfa.step_up"' not in page.text
    bad = await client.get("/audit", params={"from": "yesterday", "target_type": "planet"})
    assert bad.status_code == 422
    assert "AAAA-MM-DD" in bad.text and 'id="f-from-error"' in bad.text
    assert 'id="f-target_type-error"' in bad.text
    export = await client.get("/audit.csv", params={"action": "auth"})
    assert export.status_code == 200
    assert "Entrou" in export.text or "Signed in" in export.text

    async with httpx.AsyncClient(
        transport=client._transport,
        base_url="http://testserver",
    ) as other:
        viewer = await make_tenant("viewer")
        await sign_in(other, viewer)
        home = await other.get("/")
        assert 'href="/audit"' not in home.text
        assert (await other.get("/audit")).status_code == 403


async def test_cli_exports_the_log(
    client: httpx.AsyncClient, tenant_a: TenantFixture, role_urls: RoleUrls
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    r = await client.post("/api/v1/personas", headers=auth, json={"name": "Cli", **PERSONA})
    assert r.status_code == 201
    env = mirage_env(role_urls.bootstrap.render_as_string(hide_password=False))
    slug = tenant_a.slug
    as_csv, as_json, later, bad = await mirage_batch(
        env,
        ["audit", "export", "--tenant", slug, "--action", "persona"],
        ["audit", "export", "--tenant", slug, "--json", "--since", "2020-01-01"],
        ["audit", "export", "--tenant", slug, "--json", "--since", "2999-01-01T00:00:00Z"],
        ["audit", "export", "--tenant", slug, "--since", "yesterday"],
    )
    assert as_csv.code == 0, as_csv.err
    rows = list(csv.DictReader(io.StringIO(as_csv.out.lstrip("\ufeff"))))
    assert [(row["action"], row["details"]) for row in rows] == [
        ("persona.create", '{"name": "Cli"}')
    ]
    assert as_json.code == 0, as_json.err
    events = [json.loads(line) for line in as_json.out.splitlines()]
    assert {"persona.create", "api_token.create"} <= {e["action"] for e in events}
    assert (later.code, later.out) == (0, "")
    assert bad.code == 2 and "--since" in bad.err
