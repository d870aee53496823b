"""The campaign creation wizard (pt-BR, no browser): its live preview counts the audience and
renders the message for real contacts (a typo in a variant is shown, not sent); a refused
form comes back with each message next to its field (422, never a 500); a valid one saves
the draft and leads to its page, where the numbers and the schedule are chosen."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import make_tenant, make_token, sign_in

pytestmark = pytest.mark.usefixtures("database")


async def test_wizard_previews_refuses_with_field_messages_and_saves_a_draft(
    client: httpx.AsyncClient,
) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    r = await client.post("/api/v1/outreach-policies", headers=auth, json={"name": "Padrão"})
    assert r.status_code == 201, r.text
    policy_id = r.json()["id"]
    for i, tags in enumerate((["vip"], ["vip"], ["frio"])):
        body = {
            "phone": f"+55219{uuid.uuid4().int % 10**8:08d}",
            "name": f"Maria {i}",
            "legal_basis": "consent",
            "provenance_source": "evento",
            "tags": tags,
        }
        assert (await client.post("/api/v1/contacts", headers=auth, json=body)).status_code == 201
    tags = {x["name"]: x["id"] for x in (await client.get("/api/v1/tags", headers=auth)).json()}
    csrf = await sign_in(client, t)

    page = (await client.get("/campaigns")).text
    assert 'href="/campaigns/new"' in page
    page = (await client.get("/campaigns/new")).text
    assert "1. Mensagem" in page and "2. Público" in page and "Padrão" in page

    form = {
        "csrf_token": csrf,
        "name": "Black Friday",
        "variant_1": "{Oi|Olá} {primeiro_nome}, chegou a promoção!",
        "include_tag_ids": tags["vip"],
        "policy_id": policy_id,
    }
    r = await client.post("/campaigns/new/preview", data=form)
    assert r.status_code == 200
    assert 'data-count="2"' in r.text  # the two "vip" contacts
    assert "Maria" in r.text and "chegou a promoção!" in r.text and "{" not in r.text
    # A typo in a variant: shown in the preview, with where it is.
    r = await client.post("/campaigns/new/preview", data={**form, "variant_2": "Oi {nome"})
    assert r.status_code == 200 and 'id="preview-problem"' in r.text and "2" in r.text

    # Refused: no policy and a broken second variant — each message under its field.
    r = await client.post("/campaigns/new", data={**form, "policy_id": "", "variant_2": "Oi {nome"})
    assert r.status_code == 422
    assert 'id="f-policy_id-error"' in r.text and "Escolha uma política de envio" in r.text
    assert "Black Friday" in r.text  # what was typed comes back
    r = await client.post("/campaigns/new", data={**form, "include_tag_ids": "not-a-tag"})
    assert r.status_code == 422 and 'id="f-include_tag_ids-error"' in r.text
    r = await client.post("/campaigns/new", data={**form, "variant_1": "Oi {nome"})
    assert r.status_code == 422 and 'id="f-variant_1-error"' in r.text

    r = await client.post("/campaigns/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    campaign_id = r.headers["location"].split("/")[2].split("#")[0]
    saved = (await client.get(f"/api/v1/campaigns/{campaign_id}", headers=auth)).json()
    assert saved["state"] == "draft" and saved["include_tag_ids"] == [tags["vip"]]
    assert saved["variants"] == [form["variant_1"]]
    # The same name again: a conflict under the name field, not a 500.
    r = await client.post("/campaigns/new", data=form)
    assert r.status_code == 409 and 'id="f-name-error"' in r.text
