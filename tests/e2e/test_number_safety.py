"""In real Chromium: a number's safety page shows its risk score, band, chart and timeline;
an admin quarantines it (a blank reason is refused next to the field) and releases it."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.safety import service as safety
from tests.conftest import LiveServer, make_tenant, sql
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_kill_switch_banner import _sign_in

pytestmark = pytest.mark.e2e


async def test_safety_page_quarantine_and_release(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    t = await make_tenant(name="Frota Segura")
    iid = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc, state, owner_jid, needs_pairing) "
        "values (%s, %s, 'Vendas 1', %s, 'x', 'x', 'open', '5511900000001@s.whatsapp.net', false)",
        iid,
        t.tenant_id,
        f"e2e-{iid.hex}",
    )
    # A time lock half an hour ago and a send failure just now: 25·2^(−¼) + 4 ≈ 25 (yellow).
    for kind, code, ago in (("time_lock", 463, "30 minutes"), ("send_failed", None, "1 second")):
        await sql(
            bootstrap_conninfo,
            "insert into number_signals (id, tenant_id, instance_id, kind, code, detail, at) "
            f"values (gen_random_uuid(), %s, %s, %s, %s, 'simulado', now() - interval '{ago}')",
            t.tenant_id,
            iid,
            kind,
            code,
        )
    await _sign_in(page, live_server, t)
    await page.goto(live_server.url + "/instances")
    row = page.locator(f"#instance-{iid}")
    await expect(row.locator(".badge-band-yellow")).to_have_text("amarela")
    await row.get_by_title("Pontuação de risco e linha do tempo").click()
    await expect(page.get_by_role("heading", name="Segurança de Vendas 1")).to_be_visible()
    await expect(page.locator("#risk-score")).to_have_text("25")
    await expect(page.locator("#timeline tbody tr")).to_have_count(2)
    await expect(page.locator("#timeline")).to_contain_text("Bloqueio temporário de novos contatos")
    # The chart is drawn (Chart.js sized its canvas).
    await expect(page.locator("#chart-risk")).to_have_attribute("height", re.compile(r"\d+"))

    # A blank reason is refused, next to the field (spaces pass the browser's own check).
    await page.get_by_label("Motivo").fill("   ")
    await page.get_by_role("button", name="Quarentena", exact=True).click()
    await expect(page.locator("#f-reason-error")).to_be_visible()
    await page.get_by_label("Motivo").fill("respostas estranhas")
    await page.get_by_role("button", name="Quarentena", exact=True).click()
    await expect(page.get_by_text("Em quarentena: não envia nada")).to_be_visible()
    await page.get_by_label("Motivo").fill("chip trocado e conferido")
    await page.get_by_role("button", name="Liberar", exact=True).click()
    await expect(page.get_by_text("Pausado.")).to_be_visible()
    await expect(page.locator("#timeline tbody tr").first).to_contain_text("Liberado da quarentena")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "number-safety.png"), full_page=True)
    audit = await sql(
        bootstrap_conninfo,
        "select action, details->>'reason' from audit_events where target_id = %s "
        "order by created_at",
        str(iid),
    )
    assert audit == [
        ("instance.quarantine", "respostas estranhas"),
        ("instance.release", "chip trocado e conferido"),
    ]


async def test_engagement_signals_read_in_portuguese_and_the_alert_email_language(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    """The outreach engagement entries are worded on the timeline (label and figures, never
    the stored code), and the alert settings keep the e-mails' language chosen."""
    t = await make_tenant(name="Frota Engajada")
    iid = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc, state, owner_jid, needs_pairing) "
        "values (%s, %s, 'Vendas 2', %s, 'x', 'x', 'open', '5511900000002@s.whatsapp.net', false)",
        iid,
        t.tenant_id,
        f"e2e-{iid.hex}",
    )
    for kind, detail in (
        ("unanswered", "@unanswered_run?count=20"),
        ("low_replies", "@low_replies?replied=1&sent=30"),
        ("blocked", "@reported_blocked"),
    ):
        await sql(
            bootstrap_conninfo,
            "insert into number_signals (id, tenant_id, instance_id, kind, detail, at) "
            "values (gen_random_uuid(), %s, %s, %s, %s, now())",
            t.tenant_id,
            iid,
            kind,
            detail,
        )
    await _sign_in(page, live_server, t)
    await page.goto(live_server.url + f"/instances/{iid}/safety")
    timeline = page.locator("#timeline")
    await expect(timeline.locator("tbody tr")).to_have_count(3)
    await expect(timeline).to_contain_text("Mensagens de campanha sem resposta")
    await expect(timeline).to_contain_text("20 mensagens de campanha seguidas sem nenhuma resposta")
    await expect(timeline).to_contain_text(
        "1 das 30 mensagens de campanha da semana foram respondidas"
    )
    await expect(timeline).to_contain_text("o bloqueou")
    await expect(timeline).not_to_contain_text("@")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "number-safety-engagement.png"), full_page=True)

    await page.goto(live_server.url + "/alerts")
    await page.get_by_label("Idioma dos e-mails").select_option("en")
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.get_by_label("Idioma dos e-mails")).to_have_value("en")
    await page.reload()
    await expect(page.get_by_label("Idioma dos e-mails")).to_have_value("en")
    await page.screenshot(path=str(ARTIFACTS / "alerts-email-language.png"), full_page=True)


async def test_delivery_read_and_new_contact_signals_read_in_portuguese(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    """The look at the sends (safety.service.assess_sends, as its periodic job runs it) puts
    its three kinds on the timeline, worded with their figures."""
    t = await make_tenant(name="Frota Medida")
    iid = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc, state, owner_jid, needs_pairing, first_connected_at) "
        "values (%s, %s, 'Vendas 3', %s, 'x', 'x', 'open', '5511900000003@s.whatsapp.net', "
        "false, now())",
        iid,
        t.tenant_id,
        f"e2e-{iid.hex}",
    )
    # Two hours ago: 30 sends, 20 delivered (67%), none read. Today: 6 campaign sends from a
    # number connected today (5 new contacts allowed).
    for i in range(30):
        status, rank = ("DELIVERY_ACK", 3) if i < 20 else ("SERVER_ACK", 2)
        await sql(
            bootstrap_conninfo,
            "insert into messages (id, tenant_id, instance_id, provider_message_id, "
            "direction, from_me, remote_jid, message_type, status, status_rank, "
            "status_history, created_at) values (gen_random_uuid(), %s, %s, %s, 'outbound', "
            "true, '5521900000009@s.whatsapp.net', 'conversation', %s, %s, '[]', "
            "now() - interval '2 hours')",
            t.tenant_id,
            iid,
            uuid.uuid4().hex,
            status,
            rank,
        )
    for _ in range(6):
        await sql(
            bootstrap_conninfo,
            "insert into outgoing_messages (id, tenant_id, purpose, instance_id, to_number, "
            "text, turn, planned_at, status, sent_at) values (gen_random_uuid(), %s, "
            "'campaign', %s, %s, 'oi', 0, now(), 'sent', now())",
            t.tenant_id,
            iid,
            f"55119{uuid.uuid4().int % 10**8:08d}",
        )
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            await safety.assess_sends(session)  # (or the periodic job, if it came first)

    await _sign_in(page, live_server, t)
    await page.goto(live_server.url + f"/instances/{iid}/safety")
    timeline = page.locator("#timeline")
    for text in (
        "Taxa de entrega baixa",
        "20 de 30 mensagens recentes chegaram ao celular do destinatário",
        "Taxa de leitura baixa",
        "0 de 20 mensagens entregues recentes foram lidas",
        "Muitos contatos novos hoje",
        "6 mensagens de campanha a contatos novos hoje (mais que as 5 que o aquecimento permite)",
    ):
        await expect(timeline).to_contain_text(text)
    await expect(timeline).not_to_contain_text("@")
    await expect(page.locator("#risk-score")).to_have_text("35")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "number-safety-ratios.png"), full_page=True)
