"""LGPD art. 18: find, export (JSON and CSV) and erase a person; every request logged; the
erasure leaves nothing of the person but the suppression hash."""

from __future__ import annotations

import csv
import io
import json
import uuid

import httpx
import psycopg
import pytest
from psycopg import sql

from mirage.contacts.service import phone_hash
from tests import factories
from tests.conftest import TenantFixture, make_token

pytestmark = pytest.mark.usefixtures("database")

PHONE = "+5521971234567"
NAME = "Quitéria Zanoni"
EMAIL = "quiteria.zanoni@example.net"
# What must not survive anywhere: the number (new and pre-ninth-digit JID forms), the name
# and the e-mail.
NEEDLES = ("971234567", "2171234567", "Quitéria", "Zanoni", "quiteria.zanoni")


def _seed_messages(conninfo: str, t: TenantFixture) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        instance = factories.instances(conn, t.tenant_id)
        for jid, text, from_me in [
            ("5521971234567@s.whatsapp.net", "Oi, aqui é a Quitéria Zanoni", False),
            ("552171234567@s.whatsapp.net", "mensagem antiga", False),
            ("5521971234567@s.whatsapp.net", "Olá Quitéria!", True),
        ]:
            rid = uuid.uuid4()
            conn.execute(
                "insert into messages (id, tenant_id, instance_id, provider_message_id, "
                "direction, from_me, remote_jid, push_name, message_type, text, status, "
                "status_rank, status_history) values (%s, %s, %s, %s, %s, %s, %s, %s, "
                "'conversation', %s, 'DELIVERY_ACK', 3, '[]')",
                (
                    rid, t.tenant_id, instance, rid.hex, "outbound" if from_me else "inbound",
                    from_me, jid, None if from_me else NAME, text,
                ),
            )  # fmt: skip
        conn.execute(
            "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
            "planned_at) values (%s, %s, %s, '5521971234567', 'Olá Quitéria!', 0, now())",
            (uuid.uuid4(), t.tenant_id, instance),
        )
        conn.execute(
            "insert into webhook_events (tenant_id, instance_id, event, payload) "
            "values (%s, %s, 'messages.upsert', %s)",
            (
                t.tenant_id,
                instance,
                json.dumps({"key": {"remoteJid": "5521971234567@s.whatsapp.net"},
                            "pushName": NAME}),
            ),
        )  # fmt: skip
        # Another person's message stays untouched.
        conn.execute(
            "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
            "from_me, remote_jid, message_type, text, status, status_rank, status_history) "
            "values (%s, %s, %s, 'other', 'inbound', false, '5521900001111@s.whatsapp.net', "
            "'conversation', 'outra pessoa', 'DELIVERY_ACK', 3, '[]')",
            (uuid.uuid4(), t.tenant_id, instance),
        )


def _scan(conninfo: str, tenant_id: uuid.UUID) -> dict[str, list[str]]:
    """Every tenant table's rows (as text) of this tenant that mention the person."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(conninfo) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.columns where table_schema = "
                "'public' and column_name = 'tenant_id' and table_name in (select table_name "
                "from information_schema.tables where table_type = 'BASE TABLE')"
            )
        ]
        for table in tables:
            for needle in NEEDLES:
                rows = conn.execute(
                    sql.SQL("select t::text from {} t where tenant_id = %s and t::text ilike %s")
                    .format(sql.Identifier(table)),
                    (tenant_id, f"%{needle}%"),
                ).fetchall()  # fmt: skip
                if rows:
                    found.setdefault(table, []).extend(r[0] for r in rows)
    return found


async def test_find_export_erase(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    r = await client.post(
        "/api/v1/contacts",
        headers=auth,
        json={
            "phone": "(21) 97123-4567",
            "name": NAME,
            "email": EMAIL,
            "legal_basis": "consent",
            "provenance_source": "feira",
            "notes": "Quitéria prefere à tarde",
            "custom_fields": {"apelido": "Quitéria"},
            "tags": ["feira-2026"],
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    _seed_messages(bootstrap_conninfo, tenant_a)
    assert _scan(bootstrap_conninfo, tenant_a.tenant_id)  # the scan does see the person

    found = await client.post(
        "/api/v1/data-requests/find", headers=auth, json={"email": EMAIL.upper()}
    )
    assert found.status_code == 200, found.text
    assert [c["id"] for c in found.json()["contacts"]] == [cid]

    export = await client.post("/api/v1/data-requests/export", headers=auth, json={"phone": PHONE})
    assert export.status_code == 200, export.text
    data = export.json()
    assert [c["id"] for c in data["contacts"]] == [cid]
    contact = data["contacts"][0]
    assert contact["name"] == NAME and contact["email"] == EMAIL
    assert contact["tags"][0]["name"] == "feira-2026"
    assert [e["kind"] for e in contact["consent_events"]] == ["basis_recorded", "consent_granted"]
    assert sorted(m["text"] for m in data["messages"]) == sorted(
        ["Oi, aqui é a Quitéria Zanoni", "mensagem antiga", "Olá Quitéria!"]
    )
    assert [m["to_number"] for m in data["outgoing_messages"]] == ["5521971234567"]
    assert "outra pessoa" not in export.text

    as_csv = await client.post(
        "/api/v1/data-requests/export", headers=auth, json={"phone": PHONE, "format": "csv"}
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["section", "record", "field", "value"]
    assert ["contacts", cid, "email", EMAIL] in rows
    assert any(r[0] == "messages" and r[3] == "mensagem antiga" for r in rows)
    assert any(r[0] == "consent_events" and r[3] == "consent_granted" for r in rows)

    no_confirm = await client.post(
        "/api/v1/data-requests/erase", headers=auth, json={"phone": PHONE}
    )
    assert no_confirm.status_code == 422
    erased = await client.post(
        "/api/v1/data-requests/erase", headers=auth, json={"phone": PHONE, "confirm": True}
    )
    assert erased.status_code == 200, erased.text
    assert erased.json() | {"request_id": None} == {
        "request_id": None,
        "contacts_deleted": 1,
        "messages_redacted": 3,
        "outgoing_redacted": 1,
        "webhook_events_deleted": 1,
        "suppression_kept": True,
    }

    # Nothing of the person remains in any tenant table...
    assert _scan(bootstrap_conninfo, tenant_a.tenant_id) == {}
    # ...but the suppression hash, and the log of the requests (hashes only).
    with psycopg.connect(bootstrap_conninfo) as conn:
        sup = conn.execute(
            "select reason from suppressions where tenant_id = %s and phone_hash = %s",
            (tenant_a.tenant_id, phone_hash(PHONE)),
        ).fetchall()
        kinds = conn.execute(
            "select kind from data_requests where tenant_id = %s order by created_at",
            (tenant_a.tenant_id,),
        ).fetchall()
        audited = conn.execute(
            "select action from audit_events where tenant_id = %s and action like 'data_request%%' "
            "order by created_at",
            (tenant_a.tenant_id,),
        ).fetchall()
        other = conn.execute(
            "select text from messages where tenant_id = %s and remote_jid like '552190000%%'",
            (tenant_a.tenant_id,),
        ).fetchall()
    assert sup == [("data_request",)]
    assert [k[0] for k in kinds] == ["find", "export", "export", "erase"]
    assert [a[0] for a in audited] == [
        "data_request.find",
        "data_request.export",
        "data_request.export",
        "data_request.erase",
    ]
    assert other == [("outra pessoa",)]
    log = await client.get("/api/v1/data-requests", headers=auth)
    assert log.status_code == 200 and len(log.json()) == 4

    # Re-created later (say, by an import): it comes back opted out.
    again = await client.post(
        "/api/v1/contacts",
        headers=auth,
        json={"phone": PHONE, "legal_basis": "consent", "provenance_source": "x"},
    )
    assert again.status_code == 201 and again.json()["opted_out_at"] and again.json()["suppressed"]


async def test_subject_validation(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    for bad in (
        {},
        {"phone": "1", "email": "a@b.co"},
        {"email": "nope"},
        {"phone": "abc"},
        {"phone": "x" * 101},
        {"phone": PHONE, "format": "xml"},
    ):
        r = await client.post("/api/v1/data-requests/export", headers=auth, json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    empty = await client.post(
        "/api/v1/data-requests/find", headers=auth, json={"email": "ninguem@example.com"}
    )
    assert empty.status_code == 200 and empty.json()["contacts"] == []
