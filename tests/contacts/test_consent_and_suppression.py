"""The consent ledger is append-only; a suppressed number stays suppressed through edits, the
API, deletion and re-creation, and bulk upserts; only the contact's keyword opts back in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors

from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.contacts import service
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.models import LegalBasis
from mirage.models.tenancy import Role
from tests.conftest import TenantFixture, make_tenant, make_token

pytestmark = pytest.mark.usefixtures("database")


def body(phone: str, **extra: Any) -> dict[str, Any]:
    return {"phone": phone, "legal_basis": "consent", "provenance_source": "evento", **extra}


def _principal(t: TenantFixture) -> Principal:
    return Principal(
        kind="user",
        tenant_id=t.tenant_id,
        role=Role.OWNER,
        user_id=t.user_id,
        scopes=ROLE_SCOPES[Role.OWNER],
    )


async def _upsert(t: TenantFixture, phones: list[str], **kw: Any) -> service.UpsertSummary:
    drafts = [
        service.ContactDraft(
            phone_e164=p,
            legal_basis=LegalBasis.CONSENT,
            provenance_source="planilha",
            provenance_at=datetime(2026, 1, 1, tzinfo=UTC),
            name="Importado",
            tags=("importados",),
        )
        for p in phones
    ]
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
        return await service.upsert_contacts(session, _principal(t), drafts, **kw)


async def _keyword(t: TenantFixture, phone: str, text: str) -> service.KeywordOutcome:
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        return await service.record_inbound_keyword(
            session, tenant_id=t.tenant_id, phone_e164=phone, message_text=text,
            message_id=uuid.uuid4(),
        )  # fmt: skip


async def test_ledger_is_append_only_for_the_app_role(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    cid = (await client.post("/api/v1/contacts", headers=auth, json=body("41987650001"))).json()[
        "id"
    ]
    async with (
        await psycopg.AsyncConnection.connect(bootstrap_conninfo) as conn,
        conn.transaction(force_rollback=True),
    ):
        await conn.execute("set local role mirage_app")
        await conn.execute(
            "select set_config('app.tenant_id', %s, true)", (str(tenant_a.tenant_id),)
        )
        n = await conn.execute("select count(*) from consent_events where contact_id = %s", (cid,))
        assert (await n.fetchone())[0] == 2  # type: ignore[index]
        for stmt in (
            "update consent_events set detail = 'forged' where contact_id = %s",
            "delete from consent_events where contact_id = %s",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                async with conn.transaction():
                    await conn.execute(stmt, (cid,))
        with pytest.raises(errors.InsufficientPrivilege):
            async with conn.transaction():
                await conn.execute("truncate consent_events")
        # Appending is what the role may do.
        await conn.execute(
            "insert into consent_events (id, tenant_id, contact_id, kind, source) "
            "values (gen_random_uuid(), %s, %s, 'consent_revoked', 'test')",
            (tenant_a.tenant_id, cid),
        )
    # Deleting the contact (LGPD erasure) takes its ledger with it, as the runtime role.
    assert (await client.delete(f"/api/v1/contacts/{cid}", headers=auth)).status_code == 204
    with psycopg.connect(bootstrap_conninfo) as conn:
        left = conn.execute("select count(*) from consent_events where contact_id = %s", (cid,))
        assert left.fetchone()[0] == 0  # type: ignore[index]


async def test_opt_out_sticks_through_edit_api_delete_and_import(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    c = (await client.post("/api/v1/contacts", headers=auth, json=body("(41) 98765-0002"))).json()
    r = await client.post(
        f"/api/v1/contacts/{c['id']}/consent",
        headers=auth,
        json={"action": "opt_out", "detail": "pediu por e-mail"},
    )
    assert r.status_code == 200 and r.json()["opted_out_at"] and r.json()["suppressed"]

    # Edits cannot re-activate: no field for it, basis frozen, operator grant refused.
    r = await client.patch(f"/api/v1/contacts/{c['id']}", headers=auth, json={"opted_out_at": None})
    assert r.status_code == 422
    r = await client.patch(
        f"/api/v1/contacts/{c['id']}",
        headers=auth,
        json={"legal_basis": "legitimate_interest", "li_assessment_ref": "LIA-9"},
    )
    assert r.status_code == 409
    r = await client.post(
        f"/api/v1/contacts/{c['id']}/consent", headers=auth, json={"action": "grant"}
    )
    assert r.status_code == 409
    r = await client.patch(f"/api/v1/contacts/{c['id']}", headers=auth, json={"name": "Novo"})
    assert r.status_code == 200 and r.json()["opted_out_at"] and r.json()["suppressed"]

    # The suppression of an opt-out cannot be removed, even by an owner.
    sup = (
        await client.get("/api/v1/suppressions", headers=auth, params={"phone": "41987650002"})
    ).json()["items"]
    assert len(sup) == 1 and sup[0]["reason"] == "opt_out" and "41987650002" not in str(sup)
    r = await client.post(
        f"/api/v1/suppressions/{sup[0]['id']}/remove", headers=auth, json={"reason": "engano"}
    )
    assert r.status_code == 409

    # Bulk upsert (the importer's path) leaves it opted out.
    summary = await _upsert(tenant_a, ["+5541987650002"])
    assert (summary.updated, summary.suppressed) == (1, 1)
    got = (await client.get(f"/api/v1/contacts/{c['id']}", headers=auth)).json()
    assert got["opted_out_at"] and got["consent_state"] == "granted" and got["suppressed"]

    # Deleted, then re-created through the API in another written form: still opted out.
    assert (await client.delete(f"/api/v1/contacts/{c['id']}", headers=auth)).status_code == 204
    again = await client.post("/api/v1/contacts", headers=auth, json=body("+55 41 8765-0002"))
    assert again.status_code == 201
    assert again.json()["opted_out_at"] and again.json()["suppressed"]
    events = await client.get(f"/api/v1/contacts/{again.json()['id']}/consent-events", headers=auth)
    assert [e["kind"] for e in events.json()][-1] == "opt_out"

    # Deleted, then re-imported: still opted out.
    assert (
        await client.delete(f"/api/v1/contacts/{again.json()['id']}", headers=auth)
    ).status_code == 204
    summary = await _upsert(tenant_a, ["+5541987650002", "+5541987650003"])
    assert (summary.inserted, summary.suppressed) == (2, 1)
    page = (await client.get("/api/v1/contacts", headers=auth, params={"q": "41 98765-000"})).json()
    state = {c["phone_e164"]: bool(c["opted_out_at"]) for c in page["items"]}
    assert state == {"+5541987650002": True, "+5541987650003": False}

    # Only the contact's own keyword brings it back.
    assert await _keyword(tenant_a, "+5541987650002", "vou parar no mercado") == "none"
    assert await _keyword(tenant_a, "+5541987650002", " Voltar! ") == "opted_in"
    page = (
        await client.get("/api/v1/contacts", headers=auth, params={"q": "41 98765-0002"})
    ).json()
    assert page["items"][0]["opted_out_at"] is None and not page["items"][0]["suppressed"]
    assert await _keyword(tenant_a, "+5541987650002", "PARE") == "opted_out"
    page = (
        await client.get("/api/v1/contacts", headers=auth, params={"q": "41 98765-0002"})
    ).json()
    assert page["items"][0]["opted_out_at"] and page["items"][0]["suppressed"]


async def test_manual_block_and_admin_only_removal(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    owner = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(owner)}"}
    c = (await client.post("/api/v1/contacts", headers=auth, json=body("51987650004"))).json()
    r = await client.post(
        "/api/v1/suppressions",
        headers=auth,
        json={"phone": "(51) 98765-0004", "reason": "blocked", "note": "reclamou"},
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    again = await client.post(
        "/api/v1/suppressions", headers=auth, json={"phone": "51987650004", "reason": "manual"}
    )
    assert again.status_code == 409
    got = (await client.get(f"/api/v1/contacts/{c['id']}", headers=auth)).json()
    assert got["suppressed"] and got["opted_out_at"] is None  # blocked, not an opt-out
    bad = await client.post("/api/v1/suppressions", headers=auth, json={"phone": "nope"})
    assert bad.status_code == 422 and bad.json()["reason"] == "invalid_characters"

    # An operator may add but not remove; an admin removes with a reason (audited).
    op2 = await make_tenant("operator")
    op2_auth = {"Authorization": f"Bearer {await make_token(op2)}"}
    r = await client.post(
        "/api/v1/suppressions", headers=op2_auth, json={"phone": "51987650005", "reason": "manual"}
    )
    assert r.status_code == 201
    r = await client.post(
        f"/api/v1/suppressions/{r.json()['id']}/remove", headers=op2_auth, json={"reason": "x"}
    )
    assert r.status_code == 403

    r = await client.post(f"/api/v1/suppressions/{sid}/remove", headers=auth, json={"reason": " "})
    assert r.status_code == 422
    r = await client.post(
        f"/api/v1/suppressions/{sid}/remove", headers=auth, json={"reason": "bloqueio por engano"}
    )
    assert r.status_code == 204
    got = (await client.get(f"/api/v1/contacts/{c['id']}", headers=auth)).json()
    assert not got["suppressed"]
    with psycopg.connect(bootstrap_conninfo) as conn:
        row = conn.execute(
            "select details from audit_events where tenant_id = %s "
            "and action = 'suppression.removed'",
            (owner.tenant_id,),
        ).fetchone()
    assert row is not None and row[0]["reason"] == "bloqueio por engano"


async def test_skip_mode_leaves_existing_contacts_alone(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    await client.post("/api/v1/contacts", headers=auth, json=body("61987650006", name="Orig"))
    s = await _upsert(tenant_a, ["+5561987650006", "+5561987650007", "+5561987650007"],
                      on_duplicate="skip")  # fmt: skip
    assert (s.inserted, s.updated, s.skipped, s.duplicates_in_batch) == (1, 0, 1, 1)
    page = (await client.get("/api/v1/contacts", headers=auth, params={"q": "61 98765-00"})).json()
    names = {c["phone_e164"]: (c["name"], [t["name"] for t in c["tags"]]) for c in page["items"]}
    assert names["+5561987650006"] == ("Orig", [])
    assert names["+5561987650007"] == ("Importado", ["importados"])


def test_every_path_hashes_a_number_the_same_way() -> None:
    """The importer checks the suppression list with its own SQL: its hash must be ours."""
    imports = pytest.importorskip("mirage.contacts.imports_service")
    for number in ("+5511987654321", "+12125550100"):
        assert imports.suppression_hash(number) == service.phone_hash(number)
    assert service.phone_hash("+5511987654321") != service.phone_hash("+5511987654322")
