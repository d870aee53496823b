"""The conversations pages show a conversation whose numbers cannot send as waiting for its
numbers (not "ativa"), before any round was blocked, and the form marks each number."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import TenantFixture, make_token, sign_in, sql
from tests.conversations.conftest import PERSONA


async def _number(conninfo: str, t: TenantFixture, name: str, state: str, phone: str | None) -> str:
    rid = uuid.uuid4()
    await sql(
        conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc, state, phone, owner_jid) "
        "values (%s, %s, %s, %s, 'x', 'x', %s, %s, %s)",
        rid,
        t.tenant_id,
        name,
        f"t-{rid.hex}",
        state,
        phone,
        f"{phone}@s.whatsapp.net" if phone else None,
    )
    return str(rid)


async def test_a_conversation_on_a_never_connected_number_is_waiting(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    ready = await _number(bootstrap_conninfo, tenant_a, "Pronto", "open", "5511900000201")
    never = await _number(bootstrap_conninfo, tenant_a, "Nunca", "close", None)
    personas = []
    for name in ("Eva", "Fabi"):
        r = await client.post("/api/v1/personas", headers=auth, json={"name": name, **PERSONA})
        assert r.status_code == 201, r.text
        personas.append(r.json()["id"])
    r = await client.post(
        "/api/v1/conversations",
        headers=auth,
        json={
            "name": "Espera",
            "participants": [
                {"instance_id": ready, "persona_id": personas[0]},
                {"instance_id": never, "persona_id": personas[1]},
            ],
            "topics": ["futebol"],
            "state": "paused",  # no round runs: what the page says comes from its numbers
        },
    )
    assert r.status_code == 201, r.text
    conv = r.json()["id"]
    await sql(bootstrap_conninfo, "update conversations set state = 'active' where id = %s", conv)

    await sign_in(client, tenant_a)
    page = (await client.get("/conversations")).text
    row = page[page.index(f'id="conversation-{conv}"') :]
    row = row[: row.index("</tr>")]
    assert "aguardando seus números" in row and ">ativa<" not in row
    assert "Nunca: desconectado" in row
    # The form: the number that can send, and the one that cannot, marked.
    assert '<optgroup label="Podem enviar">' in page
    assert "Nunca (desconectado)" in page

    detail = (await client.get(f"/conversations/{conv}")).text
    assert 'id="waiting-reason"' in detail and "Nunca: desconectado" in detail
    assert ">ativa<" not in detail  # nor its "next activity" line
