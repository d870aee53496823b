"""In real Chromium: the new-conversation form tells numbers that can send from those that
cannot (disconnected, still connecting), and a conversation on a number that never connected
says it is waiting for its numbers — not "ativa"."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from mirage.kit.http import limits as pool_limits
from tests.conftest import LiveServer, TenantFixture, make_token, sql
from tests.e2e.conftest import step_up

pytestmark = pytest.mark.e2e

PERSONA = {
    "style": "casual",
    "vocabulary": ["top"],
    "emoji_rate": 0.1,
    "typo_rate": 0.0,
    "min_length": 10,
    "max_length": 120,
    "greetings": {"morning": ["Bom dia!"], "afternoon": ["Boa tarde!"], "night": ["Boa noite!"]},
}


async def _seed(conninfo: str, t: TenantFixture) -> None:
    rows = (
        ("Vendas A", "open", "5511900000101"),
        ("Vendas B", "open", "5511900000102"),
        ("Suporte Novo", "close", None),
        ("Suporte Lento", "connecting", None),
    )
    for name, state, phone in rows:
        rid = uuid.uuid4()
        await sql(
            conninfo,
            "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
            "webhook_secret_enc, state, phone, owner_jid, first_connected_at) "
            "values (%s, %s, %s, %s, 'x', 'x', %s, %s, %s, %s)",
            rid,
            t.tenant_id,
            name,
            f"e2e-{rid.hex}",
            state,
            phone,
            f"{phone}@s.whatsapp.net" if phone else None,
            "2026-01-01T00:00:00Z" if phone else None,
        )


async def _sign_in(page: Page, server: LiveServer, t: TenantFixture) -> None:
    await page.goto(server.url + "/signin")
    await page.get_by_label("E-mail").fill(t.email)
    await page.get_by_label("Senha").fill(t.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await step_up(page, server, t)


async def test_the_form_marks_numbers_and_a_waiting_conversation_says_so(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    await _seed(bootstrap_conninfo, tenant_a)
    token = await make_token(tenant_a)
    async with httpx.AsyncClient(limits=pool_limits(), base_url=live_server.url) as api:
        for name in ("Carla", "Duda"):
            r = await api.post(
                "/api/v1/personas",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": name, **PERSONA},
            )
            assert r.status_code == 201, r.text

    await _sign_in(page, live_server, tenant_a)
    await page.goto(live_server.url + "/conversations")
    first = page.get_by_label("Número 1")
    ready = first.locator("optgroup", has_text="Vendas A")
    assert await ready.get_attribute("label") == "Podem enviar"
    assert await ready.locator("option").all_inner_texts() == ["Vendas A", "Vendas B"]
    others = first.locator("optgroup[label^='Não podem enviar agora']")
    assert await others.locator("option").all_inner_texts() == [
        "Suporte Lento (conectando)",
        "Suporte Novo (desconectado)",
    ]
    # By default the numbers that can send are chosen.
    assert await first.evaluate("s => s.selectedOptions[0].text") == "Vendas A"
    second = page.get_by_label("Número 2")
    assert await second.evaluate("s => s.selectedOptions[0].text") == "Vendas B"
    await expect(page.locator("#numbers-hint")).to_contain_text("não faz rodadas")

    # A conversation with a number that never connected.
    await page.get_by_label("Nome", exact=True).fill("Com número novo")
    await second.select_option(label="Suporte Novo (desconectado)")
    await page.get_by_role("button", name="Criar conversa").click()
    await expect(page.get_by_role("heading", name="Com número novo")).to_be_visible()
    alert = page.locator("#waiting-reason")
    await expect(alert).to_contain_text("Aguardando seus números")
    await expect(alert).to_contain_text("Suporte Novo: desconectado")

    await page.goto(live_server.url + "/conversations")
    row = page.locator("#conversations-table tr", has_text="Com número novo")
    await expect(row.locator(".conv-state")).to_contain_text("aguardando seus números")
    await expect(row.locator(".conv-state")).not_to_contain_text("ativa")
    await expect(row.locator(".conv-state")).to_contain_text("Suporte Novo: desconectado")
    # On a phone each conversation is a card: the state is readable, nothing scrolls sideways.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    await expect(row.locator(".conv-state")).to_contain_text("aguardando seus números")
    overflow = await page.evaluate(
        """() => [...document.querySelectorAll('html, .table-wrap')]
                 .map(e => e.scrollWidth - e.clientWidth)"""
    )
    assert max(overflow) <= 0, overflow
    # Paused: nothing of it keeps the shared test worker busy.
    async with httpx.AsyncClient(limits=pool_limits(), base_url=live_server.url) as api:
        convs = (
            await api.get("/api/v1/conversations", headers={"Authorization": f"Bearer {token}"})
        ).json()
        for c in convs:
            await api.post(
                f"/api/v1/conversations/{c['id']}/pause",
                headers={"Authorization": f"Bearer {token}"},
            )
