"""Dashboard pages for contacts: list (search, filters, keyset pages, counts, bulk tags),
detail (edit, consent ledger, delete), tags, suppression list and data-subject requests.

Through the real app (ASGI, CSRF, sessions, RLS); the import wizard has its own file."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape
from typing import Any

import httpx
import pytest

from mirage.contacts import service
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.models.tenancy import Role
from mirage.tenants import service as tenants
from tests.conftest import TenantFixture, make_tenant, make_token, sign_in

pytestmark = pytest.mark.usefixtures("database")


def contact_body(phone: str, **extra: Any) -> dict[str, Any]:
    return {"phone": phone, "legal_basis": "consent", "provenance_source": "site", **extra}


class Dash:
    """A signed-in browser on the dashboard plus an API token of the same tenant."""

    def __init__(self, client: httpx.AsyncClient, t: TenantFixture, csrf: str, api: str) -> None:
        self.client, self.t, self.csrf = client, t, csrf
        self.api = {"Authorization": f"Bearer {api}"}

    async def post(self, path: str, data: dict[str, Any], **kw: Any) -> httpx.Response:
        return await self.client.post(path, data={**data, "csrf_token": self.csrf}, **kw)

    async def contact(self, phone: str, **extra: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/api/v1/contacts", headers=self.api, json=contact_body(phone, **extra)
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def get_contact(self, cid: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/contacts/{cid}", headers=self.api)
        assert r.status_code == 200, r.text
        return dict(r.json())


async def dash(client: httpx.AsyncClient, role: str = "owner", lang: str = "pt_BR") -> Dash:
    owner = await make_tenant("owner")
    t = owner
    if role != "owner":
        t = await make_tenant(role)
        async with session_scope() as s:
            await tenants.add_member(
                s, tenant_id=owner.tenant_id, user_id=t.user_id, role=Role(role)
            )
    csrf = await sign_in(client, t)
    if t is not owner:
        r = await client.post(
            "/tenant", data={"tenant_id": str(owner.tenant_id), "csrf_token": csrf}
        )
        assert r.status_code == 303, r.text
    await client.post("/language", data={"lang": lang, "csrf_token": csrf})
    return Dash(client, owner, csrf, await make_token(owner))


def text_of(html: str) -> str:
    """The page's visible text, tags dropped and spaces collapsed (for phrase checks)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def row_links(html: str) -> list[str]:
    """Contact ids linked from the list's table, in page order."""
    table = html.split('id="contacts-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'href="/contacts/([0-9a-f-]{36})"', table)


# --- list ---------------------------------------------------------------------------------------


async def test_list_searches_filters_counts_and_pages_by_keyset(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    made = []
    for i in range(55):
        made.append(await d.contact(f"+55 11 9{i:04d}-{1000 + i}", name=f"Cliente {i:02d}"))
    vip = await d.contact("+55 21 99999-0001", name="Joana Vip", tags=["vip"])
    r = await d.client.get("/contacts")
    assert r.status_code == 200
    text = text_of(r.text)
    assert "56 contatos" in text
    first = row_links(r.text)
    assert len(first) == 50 and first[0] == vip["id"]  # newest first
    nxt = re.search(r'href="(/contacts\?cursor=[^"]+)" rel="next"', r.text)
    assert nxt is not None
    r2 = await d.client.get(unescape(nxt.group(1)))
    second = row_links(r2.text)
    assert len(second) == 6 and not set(first) & set(second)
    assert set(first) | set(second) == {c["id"] for c in [*made, vip]}
    assert 'rel="next"' not in r2.text and "Primeira página" in r2.text

    # Text search (accent-folded word prefix), tag filter, counts per filter.
    r = await d.client.get("/contacts", params={"q": "joana"})
    assert row_links(r.text) == [vip["id"]]
    assert "1 contato neste filtro" in text_of(r.text)
    r = await d.client.get("/contacts", params={"tag_id": vip["tags"][0]["id"]})
    assert row_links(r.text) == [vip["id"]]
    r = await d.client.get("/contacts", params={"q": "11 90003"})
    assert row_links(r.text) == [made[3]["id"]]

    # Opt one out: the opted-out filter finds exactly it, the "not opted out" one the rest.
    r = await d.post(f"/contacts/{made[0]['id']}/consent", {"action": "opt_out"})
    assert r.status_code == 303
    r = await d.client.get("/contacts", params={"opted_out": "yes"})
    assert row_links(r.text) == [made[0]["id"]]
    assert "descadastrado" in text_of(r.text)
    r = await d.client.get("/contacts", params={"opted_out": "no", "q": "cliente"})
    assert "54 contatos neste filtro" in text_of(r.text)
    r = await d.client.get("/contacts", params={"consent": "granted", "basis": "consent"})
    assert "56 contatos neste filtro" in text_of(r.text)


async def test_list_shows_bad_filters_as_messages_not_errors(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    await d.contact("11987654321", name="Ana")
    for params, expected in (
        ({"tag_id": "not-a-uuid"}, "Tag: escolha uma opção da lista"),
        ({"basis": "maybe"}, "Base legal: escolha uma opção da lista"),
        ({"opted_out": "talvez"}, "Descadastro: escolha uma opção da lista"),
        ({"cursor": "garbage!!"}, "O link desta página não vale mais"),
        ({"q": "x" * 150}, "Busca: informe no máximo 100 caracteres"),
    ):
        r = await d.client.get("/contacts", params=params)
        assert r.status_code == 200, (params, r.status_code)
        assert expected in text_of(r.text), (params, text_of(r.text)[:600])
        assert len(row_links(r.text)) == 1  # the filter that could not be used is dropped


async def test_bulk_tag_applies_to_the_whole_filter(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    silvas = [await d.contact(f"1198765{i:04d}", name=f"Maria Silva {i}") for i in range(3)]
    other = await d.contact("21987650000", name="Pedro Souza")
    r = await d.client.post("/api/v1/tags", headers=d.api, json={"name": "família"})
    tag = r.json()
    r = await d.post(
        "/contacts/bulk-tag", {"q": "silva", "bulk_action": "add", "bulk_tag": tag["id"]}
    )
    assert r.status_code == 303
    page = await d.client.get(r.headers["location"])
    assert "Tag família adicionada a 3 contatos." in text_of(page.text)
    assert "q=silva" in r.headers["location"]  # back to the same filter
    for c in silvas:
        assert [t["name"] for t in (await d.get_contact(c["id"]))["tags"]] == ["família"]
    assert (await d.get_contact(other["id"]))["tags"] == []

    r = await d.post(
        "/contacts/bulk-tag",
        {"q": "maria", "tag_id": tag["id"], "bulk_action": "remove", "bulk_tag": tag["id"]},
    )
    assert r.status_code == 303
    assert "Tag família removida de 3 contatos." in text_of(
        (await d.client.get(r.headers["location"])).text
    )
    for c in silvas:
        assert (await d.get_contact(c["id"]))["tags"] == []

    # A tag of nobody / a made-up action: a message on the page, nothing changed.
    r = await d.post("/contacts/bulk-tag", {"bulk_action": "add", "bulk_tag": str(uuid.uuid4())})
    assert r.status_code == 404
    r = await d.post("/contacts/bulk-tag", {"bulk_action": "explode", "bulk_tag": tag["id"]})
    assert r.status_code == 422 and "Ação: escolha uma opção da lista" in text_of(r.text)


async def test_create_contact_from_the_list(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    form = {
        "name": "Ana Souza",
        "phone": "(11) 8765-4321",
        "email": "ana@exemplo.com",
        "tags": "vip, sp",
        "legal_basis": "consent",
        "provenance_source": "feira 2026",
    }
    r = await d.post("/contacts", form)
    assert r.status_code == 303
    cid = r.headers["location"].rsplit("/", 1)[1]
    c = await d.get_contact(cid)
    assert c["phone_e164"] == "+5511987654321" and {t["name"] for t in c["tags"]} == {"vip", "sp"}
    assert c["provenance_source"] == "feira 2026" and c["recorded_by"] == str(d.t.user_id)

    for data, expected in (
        ({**form, "phone": "12"}, "Telefone: o número é curto demais"),
        ({**form, "phone": "abc"}, "Telefone: use só dígitos, espaços e + - ( ) . /"),
        (form, "já existe um contato com este telefone"),
        ({**form, "phone": "11912345678", "email": "nope@"}, "e-mail inválido"),
        (
            {**form, "phone": "11912345678", "provenance_source": " "},
            "informe de onde veio o contato",
        ),
        (
            {**form, "phone": "11912345678", "legal_basis": "legitimate_interest"},
            "legítimo interesse exige a referência do teste de balanceamento",
        ),
    ):
        r = await d.post("/contacts", data)
        assert r.status_code in (409, 422), (data, r.status_code)
        text = text_of(r.text)
        assert expected in text, (data, text[-800:])
        assert 'id="new-contact" open' in r.text  # the form stays open with what was typed
    r = await d.client.get("/api/v1/contacts", headers=d.api)
    assert len(r.json()["items"]) == 1


# --- detail -------------------------------------------------------------------------------------


async def test_detail_shows_fields_provenance_and_the_ledger(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    c = await d.contact(
        "+55 11 98765-4321",
        name="Ana Souza",
        email="ana@exemplo.com",
        tags=["vip"],
        custom_fields={"plano": "ouro", "pontos": 12},
        provenance_note="lista do evento",
    )
    r = await d.client.get(f"/contacts/{c['id']}")
    assert r.status_code == 200
    text = text_of(r.text)
    for phrase in (
        "Ana Souza",
        "+55 11 98765-4321",
        "ana@exemplo.com",
        "vip",
        "plano ouro",
        "pontos 12",
        "Base legal Consentimento",
        "Consentimento consentimento dado",
        "Origem site",
        "lista do evento",
        "Registrado por você",  # the token acts for the signed-in owner
        "ID no WhatsApp descoberto no primeiro envio",
    ):
        assert phrase in text, phrase
    # The ledger: basis recorded, consent given (by the API token).
    ledger = text.split("Histórico de consentimento", 1)[1]
    assert "Base legal registrada" in ledger and "Consentimento dado" in ledger
    assert "por você" in ledger


async def test_edit_changes_fields_and_never_opts_back_in(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    c = await d.contact("11987654321", name="Ana", custom_fields={"plano": "ouro"})
    page = await d.client.get(f"/contacts/{c['id']}")
    assert (
        'name="legal_basis"' in page.text
        and "disabled" not in page.text.split('name="legal_basis"')[1][:40]
    )

    edit = {
        "name": "Ana Souza",
        "phone": "+5511987654321",
        "email": "",
        "language": "pt-BR",
        "notes": "prefere manhã",
        "tags": "clientes",
        "custom_fields": "plano=prata\r\ncidade=Santos",
        "legal_basis": "consent",
        "li_assessment_ref": "",
    }
    r = await d.post(f"/contacts/{c['id']}", edit)
    assert r.status_code == 303 and r.headers["location"].endswith("?saved=1")
    got = await d.get_contact(c["id"])
    assert (got["name"], got["language"], got["notes"]) == ("Ana Souza", "pt-BR", "prefere manhã")
    assert got["custom_fields"] == {"plano": "prata", "cidade": "Santos"}
    assert [t["name"] for t in got["tags"]] == ["clientes"]

    # The contact opts out (recorded by an operator on the contact's request).
    r = await d.post(f"/contacts/{c['id']}/consent", {"action": "opt_out", "detail": "pediu"})
    assert r.status_code == 303
    page = await d.client.get(f"/contacts/{c['id']}")
    assert "a base legal está congelada" in text_of(page.text)
    assert "disabled" in page.text.split('name="legal_basis"')[1][:40]
    assert 'value="grant"' not in page.text  # no way to record consent again

    # Edits still work, but nothing an operator sends brings the contact back.
    r = await d.post(f"/contacts/{c['id']}", {**edit, "name": "Ana S.", "opted_out_at": ""})
    assert r.status_code == 303
    r = await d.post(
        f"/contacts/{c['id']}",
        {**edit, "legal_basis": "legitimate_interest", "li_assessment_ref": "LIA-1"},
    )
    assert r.status_code == 409
    assert "a base legal não pode ser alterada" in text_of(r.text)
    r = await d.post(f"/contacts/{c['id']}/consent", {"action": "grant"})
    assert r.status_code == 409 and "só o próprio contato pode voltar" in text_of(r.text)
    got = await d.get_contact(c["id"])
    assert got["name"] == "Ana S." and got["opted_out_at"] is not None and got["suppressed"]
    assert got["legal_basis"] == "consent"
    ledger = text_of((await d.client.get(f"/contacts/{c['id']}")).text).split("Histórico", 1)[1]
    assert "Descadastrado" in ledger and "pediu" in ledger and "por você" in ledger


async def test_edit_errors_are_readable(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    c = await d.contact("11987654321", name="Ana")
    await d.contact("11912345678", name="Bia")
    base = (await d.client.get(f"/contacts/{c['id']}")).text
    assert "Ana" in base
    for data, status, expected in (
        ({"phone": "11912345678"}, 409, "já existe um contato com este telefone"),
        ({"phone": "123"}, 422, "Telefone: o número é curto demais"),
        ({"custom_fields": "sem sinal de igual"}, 422, "escreva um por linha, como nome=valor"),
        ({"custom_fields": "1x=a"}, 422, "nomes de campos personalizados"),
        ({"email": "x@"}, 422, "e-mail inválido"),
        ({"language": "português"}, 422, "idioma no formato pt-BR ou en"),
        ({"legal_basis": "legitimate_interest"}, 422, "legítimo interesse exige a referência"),
    ):
        r = await d.post(f"/contacts/{c['id']}", {"phone": "+5511987654321", **data})
        assert r.status_code == status, (data, r.status_code, text_of(r.text)[-500:])
        assert expected in text_of(r.text), (data, text_of(r.text)[-800:])
    assert (await d.get_contact(c["id"]))["phone_e164"] == "+5511987654321"


async def test_consent_actions_and_delete(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    c = await d.contact("11987654321", name="Ana")
    r = await d.post(f"/contacts/{c['id']}/consent", {"action": "revoke", "detail": "por e-mail"})
    assert r.status_code == 303
    got = await d.get_contact(c["id"])
    assert got["consent_state"] == "revoked" and got["opted_out_at"] is None
    r = await d.post(f"/contacts/{c['id']}/consent", {"action": "wish"})
    assert r.status_code == 422 and "Ação: escolha uma opção da lista" in text_of(r.text)

    r = await d.post(f"/contacts/{c['id']}/delete", {})
    assert r.status_code == 303 and r.headers["location"] == "/contacts?deleted=1"
    assert (await d.client.get(f"/contacts/{c['id']}")).status_code == 404
    page = await d.client.get(r.headers["location"])
    assert "Contato excluído" in text_of(page.text)


async def test_viewer_reads_but_cannot_change(client: httpx.AsyncClient) -> None:
    d = await dash(client, role="viewer")
    c = await d.contact("11987654321", name="Ana")
    for path in (
        "/contacts",
        f"/contacts/{c['id']}",
        "/contacts/tags",
        "/contacts/imports",
        "/contacts/suppressions",
        "/contacts/requests",
    ):
        r = await d.client.get(path)
        assert r.status_code == 200, path
        assert 'method="post" action="/contacts' not in r.text, path
    assert "Só administradores e proprietários" in text_of(
        (await d.client.get("/contacts/requests")).text
    )
    for path, data in (
        ("/contacts", contact_body("11912345678")),
        (f"/contacts/{c['id']}", {"name": "X"}),
        (f"/contacts/{c['id']}/consent", {"action": "revoke"}),
        (f"/contacts/{c['id']}/delete", {}),
        ("/contacts/tags", {"name": "x"}),
        ("/contacts/suppressions", {"phone": "11912345678"}),
        ("/contacts/requests/find", {"subject": "11987654321"}),
    ):
        r = await d.post(path, data)
        assert r.status_code == 403, (path, r.status_code)
    assert (await d.get_contact(c["id"]))["name"] == "Ana"


async def test_english_pages(client: httpx.AsyncClient) -> None:
    d = await dash(client, lang="en")
    c = await d.contact("11987654321", name="Ana")
    r = await d.client.get("/contacts")
    assert "1 contact" in text_of(r.text) and "Legal basis" in r.text
    r = await d.client.get(f"/contacts/{c['id']}")
    assert "Consent history" in r.text and "Legal basis recorded" in text_of(r.text)
    r = await d.post("/contacts", {**contact_body("12"), "provenance_source": "x"})
    assert "Phone: the number is too short" in text_of(r.text)


# --- tags -------------------------------------------------------------------------------------


async def test_tags_page_crud_with_colours_and_counts(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    await d.contact("11987654321", tags=["vip"])
    await d.contact("11912345678", tags=["vip"])
    r = await d.post("/contacts/tags", {"name": "Clientes", "color": "#1E88E5"})
    assert r.status_code == 303
    tags = {t["name"]: t for t in (await d.client.get("/api/v1/tags", headers=d.api)).json()}
    assert tags["Clientes"]["color"] == "#1e88e5" and tags["vip"]["contacts"] == 2
    page = await d.client.get("/contacts/tags")
    row = page.text.split(f'id="tag-{tags["vip"]["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="/contacts?tag_id={tags["vip"]["id"]}">2<' in row

    for data, expected in (
        ({"name": "VIP", "color": "#000000"}, "já existe uma tag com este nome"),
        ({"name": "ok", "color": "red"}, "uma cor como #1e88e5"),
        ({"name": "   ", "color": "#000000"}, "o nome da tag não pode ficar em branco"),
    ):
        r = await d.post("/contacts/tags", data)
        assert r.status_code in (409, 422) and expected in text_of(r.text), data

    vip = tags["vip"]["id"]
    r = await d.post(f"/contacts/tags/{vip}", {"name": "VIPs", "color": "#ff0000"})
    assert r.status_code == 303
    r = await d.post(f"/contacts/tags/{vip}", {"name": "Clientes", "color": "#ff0000"})
    assert r.status_code == 409 and "já existe uma tag com este nome" in text_of(r.text)
    got = (await d.client.get(f"/api/v1/tags/{vip}", headers=d.api)).json()
    assert (got["name"], got["color"], got["contacts"]) == ("VIPs", "#ff0000", 2)
    r = await d.post(f"/contacts/tags/{vip}/delete", {})
    assert r.status_code == 303
    assert (await d.client.get(f"/api/v1/tags/{vip}", headers=d.api)).status_code == 404
    assert len((await d.client.get("/api/v1/contacts", headers=d.api)).json()["items"]) == 2


# --- suppression list ---------------------------------------------------------------------------


async def test_suppression_page_add_check_and_admin_only_removal(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    r = await d.post(
        "/contacts/suppressions", {"phone": "(11) 98765-4321", "reason": "blocked", "note": "spam"}
    )
    assert r.status_code == 303
    page = await d.client.get("/contacts/suppressions?added=1")
    text = text_of(page.text)
    assert (
        "Número adicionado à lista de supressão." in text and "bloqueio" in text and "spam" in text
    )
    table = page.text.split('id="suppressions-table"', 1)[1]
    assert "98765" not in table  # the number itself is never stored nor shown
    r = await d.client.get("/contacts/suppressions", params={"phone": "11987654321"})
    assert "Na lista" in text_of(r.text)
    r = await d.client.get("/contacts/suppressions", params={"phone": "11912345678"})
    assert "Fora da lista" in text_of(r.text)
    r = await d.client.get("/contacts/suppressions", params={"phone": "abc"})
    assert r.status_code == 200 and "Telefone: use só dígitos" in text_of(r.text)

    r = await d.post("/contacts/suppressions", {"phone": "11987654321", "reason": "manual"})
    assert r.status_code == 409 and "já está na lista de supressão" in text_of(r.text)
    r = await d.post("/contacts/suppressions", {"phone": "11912345678", "reason": "whatever"})
    assert r.status_code == 422 and "Motivo: escolha uma opção da lista" in text_of(r.text)

    items = (await d.client.get("/api/v1/suppressions", headers=d.api)).json()["items"]
    sid = items[0]["id"]
    r = await d.post(f"/contacts/suppressions/{sid}/remove", {"reason": "  "})
    assert r.status_code == 422
    assert "informe por que o número pode voltar a ser contatado" in text_of(r.text)
    r = await d.post(f"/contacts/suppressions/{sid}/remove", {"reason": "cliente pediu retorno"})
    assert r.status_code == 303
    assert (await d.client.get("/api/v1/suppressions", headers=d.api)).json()["items"] == []


async def test_operator_cannot_remove_and_opt_outs_stay(client: httpx.AsyncClient) -> None:
    admin = await dash(client)
    c = await admin.contact("11987654321")
    await admin.post(f"/contacts/{c['id']}/consent", {"action": "opt_out"})
    await admin.post("/contacts/suppressions", {"phone": "11912345678", "reason": "manual"})
    items = (await admin.client.get("/api/v1/suppressions", headers=admin.api)).json()["items"]
    by_reason = {i["reason"]: i["id"] for i in items}
    page = await admin.client.get("/contacts/suppressions")
    assert f"/contacts/suppressions/{by_reason['opt_out']}/remove" not in page.text
    assert f"/contacts/suppressions/{by_reason['manual']}/remove" in page.text
    r = await admin.post(f"/contacts/suppressions/{by_reason['opt_out']}/remove", {"reason": "x"})
    assert r.status_code == 409 and "só o próprio contato pode voltar" in text_of(r.text)

    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as c2:
        op = await make_tenant("operator")
        async with session_scope() as s:
            await tenants.add_member(
                s, tenant_id=admin.t.tenant_id, user_id=op.user_id, role=Role.OPERATOR
            )
        csrf = await sign_in(c2, op)
        await c2.post("/tenant", data={"tenant_id": str(admin.t.tenant_id), "csrf_token": csrf})
        page = await c2.get("/contacts/suppressions")
        assert "/remove" not in page.text and "Só um administrador pode tirar" in text_of(page.text)
        r = await c2.post(
            f"/contacts/suppressions/{by_reason['manual']}/remove",
            data={"reason": "quero", "csrf_token": csrf},
        )
        assert r.status_code == 403
    assert (
        len((await admin.client.get("/api/v1/suppressions", headers=admin.api)).json()["items"])
        == 2
    )


async def test_a_probable_opt_out_is_shown_for_review_and_confirmed_from_the_page(
    client: httpx.AsyncClient,
) -> None:
    d = await dash(client)
    async with session_scope() as s:
        await bind_context(s, tenant_id=d.t.tenant_id, user_id=None)
        await service.record_review(
            s, tenant_id=d.t.tenant_id, phone_e164="+5511987654399", note="pt.deixa_em_paz"
        )
    sid = (await d.client.get("/api/v1/suppressions", headers=d.api)).json()["items"][0]["id"]
    page = await d.client.get("/contacts/suppressions")
    row = text_of(page.text.split(f'id="suppression-{sid}"', 1)[1].split("</tr>", 1)[0])
    assert "a revisar (provável descadastro)" in row and "pt.deixa_em_paz" in row
    assert f"/contacts/suppressions/{sid}/confirm" in page.text
    assert f"/contacts/suppressions/{sid}/remove" in page.text  # an admin may lift it
    r = await d.post(f"/contacts/suppressions/{sid}/confirm", {})
    assert r.status_code == 303
    items = (await d.client.get("/api/v1/suppressions", headers=d.api)).json()["items"]
    assert [(i["id"], i["reason"], i["source"]) for i in items] == [(sid, "opt_out", "review")]
    page = await d.client.get("/contacts/suppressions")
    assert f"/contacts/suppressions/{sid}/confirm" not in page.text
    assert f"/contacts/suppressions/{sid}/remove" not in page.text
    r = await d.post(f"/contacts/suppressions/{sid}/confirm", {})
    assert r.status_code == 409 and "só uma supressão a revisar" in text_of(r.text).lower()


# --- data-subject requests ------------------------------------------------------------------------


async def test_data_requests_find_export_and_erase(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    c = await d.contact("11987654321", name="Ana Souza", email="ana@exemplo.com", tags=["vip"])
    keep = await d.contact("11912345678", name="Bia")

    r = await d.post(
        "/contacts/requests/find", {"subject": "(11) 98765-4321", "note": "chamado 42"}
    )
    assert r.status_code == 200
    found = r.text.split('id="subject-result"', 1)[1]
    assert f"/contacts/{c['id']}" in found and keep["id"] not in found
    r = await d.post("/contacts/requests/find", {"subject": "ANA@exemplo.com"})
    assert f"/contacts/{c['id']}" in r.text.split('id="subject-result"', 1)[1]

    r = await d.post("/contacts/requests/export", {"subject": "11987654321", "format": "json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"].startswith("attachment;")
    export = json.loads(r.text)
    assert [x["id"] for x in export["contacts"]] == [c["id"]]
    assert (
        export["contacts"][0]["consent_events"]
        and export["contacts"][0]["tags"][0]["name"] == "vip"
    )
    r = await d.post("/contacts/requests/export", {"subject": "11987654321", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "contacts," + c["id"] + ",name,Ana Souza" in r.text

    for data, expected in (
        ({"subject": ""}, "informe o telefone ou o e-mail do titular"),
        ({"subject": "abc"}, "Telefone: use só dígitos"),
        ({"subject": "a@b"}, "e-mail inválido"),
        ({"subject": "11987654321", "format": "xml"}, "Formato: escolha uma opção da lista"),
    ):
        path = "/contacts/requests/export" if "format" in data else "/contacts/requests/find"
        r = await d.post(path, data)
        assert r.status_code == 422 and expected in text_of(r.text), (data, text_of(r.text)[-600:])

    r = await d.post("/contacts/requests/erase", {"subject": "11987654321"})
    assert r.status_code == 422 and "Marque a caixa para confirmar" in text_of(r.text)
    assert (await d.client.get(f"/contacts/{c['id']}")).status_code == 200
    r = await d.post("/contacts/requests/erase", {"subject": "11987654321", "confirm": "yes"})
    assert r.status_code == 200
    assert "1 contatos excluídos" in text_of(r.text) and "Eliminação concluída." in text_of(r.text)
    assert (await d.client.get(f"/contacts/{c['id']}")).status_code == 404
    assert (await d.client.get(f"/contacts/{keep['id']}")).status_code == 200
    sup = (await d.client.get("/api/v1/suppressions", headers=d.api)).json()["items"]
    assert [s["reason"] for s in sup] == ["data_request"]
    # Every request is in the log (find ×2, export ×2, erase), by fingerprint only.
    log = (await d.client.get("/contacts/requests")).text
    table = log.split('id="requests-table"', 1)[1]
    assert table.count("<tr>") == 1 + 5 and "98765" not in table
