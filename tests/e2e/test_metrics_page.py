"""In real Chromium: the Métricas page draws its charts (pixels on the canvas) and a campaign's
funnel, a number filter applies, and new facts (a failed message, a recipient sent to) reach
the open page over the live stream (no reload) once the metrics refresh has folded them;
screenshots at desktop and phone width."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page, expect

from mirage.metrics import service
from tests.conftest import LiveServer, TenantFixture, make_tenant, sql
from tests.e2e.conftest import ARTIFACTS
from tests.metrics.test_api_and_page import _campaign

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Non-transparent pixels on a canvas (Chart.js draws axes, bars and the legend on it).
INKED = """(id) => {
  const c = document.getElementById(id);
  if (!c || !c.width) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


async def _number(conninfo: str, t: TenantFixture, name: str) -> uuid.UUID:
    i = uuid.uuid4()
    await sql(
        conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, %s, %s, 'x', 'x')",
        i,
        t.tenant_id,
        name,
        f"e2e-{i.hex}",
    )
    return i


async def _messages(
    conninfo: str, t: TenantFixture, instance: uuid.UUID, direction: str, status: str, n: int
) -> None:
    rank = {"ERROR": 0, "DELIVERY_ACK": 3, "READ": 4}[status]
    await sql(
        conninfo,
        "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
        "from_me, remote_jid, message_type, status, status_rank, status_history, created_at) "
        "select gen_random_uuid(), %s, %s, 'e2e-' || gen_random_uuid(), %s, %s, "
        "'5521900000042@s.whatsapp.net', 'conversation', %s, %s, '[]', "
        "now() - g * interval '5 hours' from generate_series(0, %s - 1) g",
        t.tenant_id,
        instance,
        direction,
        direction == "outbound",
        status,
        rank,
        n,
    )


async def test_metrics_page_charts_filter_and_live_update(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    owner = await make_tenant(name="Agência Métricas")
    alpha = await _number(bootstrap_conninfo, owner, "Alfa")
    beta = await _number(bootstrap_conninfo, owner, "Beta")
    await _messages(bootstrap_conninfo, owner, alpha, "outbound", "READ", 12)
    await _messages(bootstrap_conninfo, owner, alpha, "inbound", "DELIVERY_ACK", 7)
    await _messages(bootstrap_conninfo, owner, beta, "outbound", "DELIVERY_ACK", 5)
    welcome = await _campaign(
        bootstrap_conninfo,
        owner,
        "Boas-vindas",
        [
            ("planned", None),
            ("sent", None),
            ("delivered", None),
            ("read", None),
            ("skipped", "suppressed"),
        ],
    )
    await service.refresh()

    await page.goto(live_server.url + "/signin")
    await page.get_by_label("E-mail").fill(owner.email)
    await page.get_by_label("Senha").fill(owner.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await page.get_by_role("link", name="Métricas", exact=True).click()
    await expect(page.get_by_role("heading", name="Métricas", exact=True)).to_be_visible()

    # The charts are drawn (Chart.js put pixels on the canvas).
    await page.wait_for_function(f"({INKED})('chart-daily') > 500")
    await expect(page.locator("#stat-sent .stat-value")).to_have_text("17")
    table = page.locator("#numbers-table tbody")
    await expect(table.locator("tr")).to_have_count(2)
    funnel = page.locator(f"#funnel-{welcome}")
    await expect(funnel.locator("[data-step=planned]")).to_have_text("5")
    await expect(funnel.locator("[data-step=sent]")).to_have_text("3")
    await expect(funnel.locator("[data-step=read]")).to_have_text("1")
    await expect(funnel).to_contain_text("pulada: na lista de não contatar")

    # Sorting by sent puts the busiest number first.
    await page.locator("#numbers-table .sort[data-key=sent]").click()
    await expect(table.locator("tr").first).to_contain_text("Alfa")

    # The number filter applies.
    await page.get_by_label("Número", exact=True).select_option(label="Beta")
    await page.get_by_role("button", name="Aplicar").click()
    await expect(page).to_have_url(f"{live_server.url}/analytics?days=7&number={beta}&campaign=")
    await expect(table.locator("tr")).to_have_count(1)
    await expect(table).to_contain_text("Beta")
    await expect(page.locator("#stat-sent .stat-value")).to_have_text("5")
    await page.wait_for_function(f"({INKED})('chart-daily') > 500")

    # A new fact, folded by the refresh, arrives over the stream: no reload.
    await page.evaluate("window.__stayed = true")
    await expect(page.locator("#stat-failed .stat-value")).to_have_text("0")
    await _messages(bootstrap_conninfo, owner, beta, "outbound", "ERROR", 2)
    await sql(
        bootstrap_conninfo,
        "update campaign_recipients set status = 'sent' where campaign_id = %s "
        "and status = 'planned'",
        welcome,
    )
    await service.refresh()
    await expect(page.locator("#stat-failed .stat-value")).to_have_text("2", timeout=15_000)
    await expect(funnel.locator("[data-step=sent]")).to_have_text("4")
    await expect(page.locator("#stat-sent .stat-value")).to_have_text("7")
    assert await page.evaluate("window.__stayed === true"), "the page reloaded"
    await page.wait_for_function(f"({INKED})('chart-daily') > 500")
    # Once a live swap has settled, the charts drawn into its new canvases are still there: the
    # swap's settle step used to reset the size Chart.js gave them, clearing them (a chart then
    # stayed blank when its resize check had run before the settle).
    inked_after_settle = await page.evaluate(
        f"""() => fetch(document.getElementById('metrics-live').getAttribute('hx-get'))
          .then((r) => r.text()).then((html) => new Promise((resolve) => {{
            const live = document.getElementById('metrics-live');
            live.addEventListener('htmx:afterSettle',
              () => resolve(({INKED})('chart-daily')), {{once: true}});
            htmx.swap(live, html, {{swapStyle: 'innerHTML', settleDelay: 20}});
          }}))"""
    )
    assert inked_after_settle > 500, inked_after_settle

    ARTIFACTS.mkdir(exist_ok=True)
    await page.get_by_role("link", name="Limpar").click()
    await page.wait_for_function(f"({INKED})('chart-daily') > 500")
    await page.set_viewport_size(DESKTOP)
    await page.screenshot(path=str(ARTIFACTS / "metrics-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(300)  # Chart.js resizes on the next frame
    await page.screenshot(path=str(ARTIFACTS / "metrics-phone.png"), full_page=True)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than a phone"


async def test_metrics_page_filters_by_conversation(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    """A warm-up conversation between the tenant's two numbers: under its filter the page
    shows its messages (Alfa's sends and Beta's copies), its rounds and the numbers' warm-up
    stage; other messages are left out."""
    db = bootstrap_conninfo
    owner = await make_tenant(name="Agência Conversas")
    alpha = await _number(db, owner, "Alfa")
    beta = await _number(db, owner, "Beta")
    await sql(
        db,
        "update instances set owner_jid = '5511900000071@s.whatsapp.net', "
        "first_connected_at = now() - interval '3 days' where id = %s",
        alpha,
    )
    await _messages(db, owner, alpha, "outbound", "READ", 6)  # outside any conversation
    chat = uuid.uuid4()
    await sql(
        db,
        "insert into conversations (id, tenant_id, name, topics, windows) "
        "values (%s, %s, 'Papo de futebol', '{futebol}', '{}')",
        chat,
        owner.tenant_id,
    )
    for k in range(3):
        key = f"e2e-chat-{uuid.uuid4().hex}"
        for instance, direction, remote in (
            (alpha, "outbound", "5511900000072@s.whatsapp.net"),
            (beta, "inbound", "5511900000071@s.whatsapp.net"),
        ):
            await sql(
                db,
                "insert into messages (id, tenant_id, instance_id, provider_message_id, "
                "direction, from_me, remote_jid, message_type, status, status_rank, "
                "status_history, created_at) values (gen_random_uuid(), %s, %s, %s, %s, %s, "
                "%s, 'conversation', 'READ', 4, '[]', now() - make_interval(days => %s))",
                owner.tenant_id,
                instance,
                key,
                direction,
                direction == "outbound",
                remote,
                k,
            )
        await sql(
            db,
            "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
            "planned_at, purpose, status, sent_at, provider_message_id, conversation_id) "
            "values (gen_random_uuid(), %s, %s, '5511900000072', 'oi', %s, now(), 'warmup', "
            "'sent', now() - make_interval(days => %s), %s, %s)",
            owner.tenant_id,
            alpha,
            k,
            k,
            key,
            chat,
        )
    await sql(
        db,
        "insert into rounds (id, tenant_id, conversation_id, topic, exchanges, planned_at, "
        "state, ended_at) values (gen_random_uuid(), %s, %s, 'futebol', 3, now(), "
        "'completed', now())",
        owner.tenant_id,
        chat,
    )
    await service.refresh()

    await page.set_viewport_size(DESKTOP)
    await page.goto(live_server.url + "/signin")
    await page.get_by_label("E-mail").fill(owner.email)
    await page.get_by_label("Senha").fill(owner.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Visão geral")).to_be_visible()
    await page.goto(live_server.url + "/analytics")
    await page.wait_for_function(f"({INKED})('chart-daily') > 500")
    await expect(page.locator("#stat-sent .stat-value")).to_have_text("9")

    await page.get_by_label("Conversa", exact=True).select_option(label="Papo de futebol")
    await page.get_by_role("button", name="Aplicar").click()
    await expect(page).to_have_url(
        f"{live_server.url}/analytics?days=7&number=&conversation={chat}"
    )
    await expect(page.locator("#stat-sent .stat-value")).to_have_text("3")
    await expect(page.locator("#stat-received .stat-value")).to_have_text("3")
    table = page.locator("#numbers-table tbody")
    await expect(table.locator("tr")).to_have_count(2)
    alfa_row = table.locator("tr", has_text="Alfa")
    await expect(alfa_row.locator("td").nth(1)).to_have_text("3")
    # Alfa sent on two complete past days, all green, since it connected: step 3 of 5.
    await expect(alfa_row.locator(".warmup-stage")).to_have_text("Etapa 3 de 5")
    await expect(table.locator("tr", has_text="Beta").locator(".warmup-stage")).to_have_text("—")
    await expect(page.locator("#rounds-list")).to_contain_text("1")
    await page.wait_for_function(f"({INKED})('chart-daily') > 500")
    await page.wait_for_function(f"({INKED})('chart-rounds') > 100")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "metrics-conversation-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(300)  # Chart.js resizes on the next frame
    await page.screenshot(path=str(ARTIFACTS / "metrics-conversation-phone.png"), full_page=True)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than a phone"
