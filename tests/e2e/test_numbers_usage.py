"""In real Chromium: the Numbers table shows each number's warm-up stage and today's and the
hour's sends against the caps its band tightens — on a desktop and on a phone (390 px), and
live as a send goes out; automatic pause reasons in the reader's language (a stored code, and
an old row's English text); and the number-safety settings form saves, and refuses a bad
value with a readable message next to its field."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.models import OutgoingMessage
from tests.conftest import LiveServer, TenantFixture, make_tenant, sql
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_kill_switch_banner import _sign_in

pytestmark = pytest.mark.e2e


async def _number(conninfo: str, t: TenantFixture, name: str, **extra: object) -> uuid.UUID:
    iid = uuid.uuid4()
    cols = ", ".join(extra)
    marks = ", ".join("%s" for _ in extra)
    await sql(
        conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        f"webhook_secret_enc, state, owner_jid, needs_pairing{', ' + cols if cols else ''}) "
        "values (%s, %s, %s, %s, 'x', 'x', 'open', '5511900000001@s.whatsapp.net', false"
        f"{', ' + marks if marks else ''})",
        iid,
        t.tenant_id,
        name,
        f"e2e-{iid.hex}",
        *extra.values(),
    )
    return iid


async def _sent(conninfo: str, t: TenantFixture, iid: uuid.UUID, *ago: str) -> None:
    for i, interval in enumerate(ago):
        await sql(
            conninfo,
            "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
            "planned_at, status, sent_at) values (gen_random_uuid(), %s, %s, %s, 'oi', 0, now(), "
            f"'sent', now() - interval '{interval}')",
            t.tenant_id,
            iid,
            f"55119{i:08d}",
        )


async def _seed(conninfo: str) -> tuple[TenantFixture, dict[str, uuid.UUID]]:
    t = await make_tenant(name="Frota Aquecida")
    await sql(
        conninfo,
        "insert into tenant_settings (id, tenant_id, hourly_cap_per_number, "
        "daily_cap_per_number) values (gen_random_uuid(), %s, 30, 60) on conflict (tenant_id) "
        "do update set hourly_cap_per_number = 30, daily_cap_per_number = 60",
        t.tenant_id,
    )
    ten_days = utcnow() - timedelta(days=10)
    ids = {
        # Sent on the last two complete days, green: stage 3 of 5; a time lock 30 minutes ago
        # (yellow: caps halved) paused it — its reason stored as a code.
        "lock": await _number(
            conninfo,
            t,
            "Vendas 1",
            first_connected_at=ten_days,
            paused_at=utcnow(),
            paused_reason="@time_lock",
        ),
        # Paused before reasons were codes: its English text, shown in Portuguese.
        "old": await _number(
            conninfo,
            t,
            "Vendas 2",
            first_connected_at=ten_days,
            paused_at=utcnow(),
            paused_reason="automatic: risk score jumped from 0 to 60",
        ),
        "new": await _number(conninfo, t, "Vendas 3"),
    }
    await _sent(conninfo, t, ids["lock"], "2 days", "1 day", "1 minute", "2 minutes", "3 minutes")
    await sql(
        conninfo,
        "insert into number_signals (id, tenant_id, instance_id, kind, code, detail, at) "
        "values (gen_random_uuid(), %s, %s, 'time_lock', 463, '463', now() - interval '1 minute')",
        t.tenant_id,
        ids["lock"],
    )
    return t, ids


async def _no_sideways_scroll(page: Page) -> None:
    overflow = await page.evaluate(
        """() => {
          const d = document.documentElement, w = document.querySelector('.table-wrap');
          return [d.scrollWidth - d.clientWidth, w.scrollWidth - w.clientWidth];
        }"""
    )
    assert overflow[0] <= 0 and overflow[1] <= 0, overflow


@pytest.mark.parametrize("width", [1280, 390])
async def test_the_numbers_table_shows_stage_and_sends_against_the_caps_live(
    browser: Browser, live_server: LiveServer, bootstrap_conninfo: str, width: int
) -> None:
    t, ids = await _seed(bootstrap_conninfo)
    context = await browser.new_context(
        viewport={"width": width, "height": 900}, locale="pt-BR", is_mobile=width < 600
    )
    try:
        page = await context.new_page()
        await _sign_in(page, live_server, t)
        await page.goto(live_server.url + "/instances")
        lock = page.locator(f"#instance-{ids['lock']}")
        await expect(lock.locator(".stage")).to_have_text("aquecimento: etapa 3 de 5")
        # 3 sends today at least (all in the last hour); yellow halves 60 → 30 and 30 → 15.
        await expect(lock.locator(".sends-today")).to_have_text("3 / 30 hoje ½")  # ½: halved
        await expect(lock).to_contain_text("3 / 15 nesta hora")
        await expect(lock.locator(".badge-band-yellow")).to_be_visible()
        await expect(lock).to_contain_text("pausado pelo Mirage")
        await expect(lock.locator('[data-reason="time_lock"]')).to_have_text(
            "automático: bloqueio temporário de novos contatos do WhatsApp (463)"
        )
        old = page.locator(f"#instance-{ids['old']}")
        await expect(old.locator('[data-reason="score_jump"]')).to_contain_text("60")
        await expect(old.locator('[data-reason="score_jump"]')).not_to_contain_text("jumped")
        await expect(old.locator(".sends-today")).to_have_text("0 / 20 hoje")  # stage 1: 20
        new = page.locator(f"#instance-{ids['new']}")
        await expect(new).to_contain_text("aquecimento: ainda não conectado")
        await _no_sideways_scroll(page)
        for box in [
            await b.bounding_box() for b in await page.locator("#instances-table button").all()
        ]:
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"numbers-usage-{width}.png"), full_page=True)

        # A send goes out (the pipeline's own step): its row follows, live, without a reload.
        mid = uuid.uuid4()
        await sql(
            bootstrap_conninfo,
            "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
            "planned_at, status, purpose, claimed_at) values (%s, %s, %s, '5511999990000', "
            "'oi', 0, now(), 'sending', 'warmup', now())",
            mid,
            t.tenant_id,
            ids["old"],
        )
        async with session_scope() as session:
            await bind_context(session, tenant_id=t.tenant_id, user_id=None)
            msg = await session.get(OutgoingMessage, mid, with_for_update=True)
            assert msg is not None
            await messaging._mark_sent(session, msg, f"e2e-{mid.hex}", utcnow())
        await expect(old.locator(".sends-today")).to_have_text("1 / 20 hoje", timeout=10_000)
        await expect(old).to_contain_text("1 / 30 nesta hora")
    finally:
        await context.close()


async def test_the_safety_settings_form_saves_and_refuses_a_bad_value(
    page: Page, live_server: LiveServer, bootstrap_conninfo: str
) -> None:
    t = await make_tenant(name="Frota Segura")
    await _sign_in(page, live_server, t)
    await page.goto(live_server.url + "/settings")
    await page.get_by_role("link", name="Configurações de segurança dos números").click()
    await expect(
        page.get_by_role("heading", name="Configurações de segurança dos números")
    ).to_be_visible()
    orange = page.get_by_label("Faixa laranja a partir do escore")
    await expect(orange).to_have_value("40")
    # Below yellow: refused, next to the field, in Portuguese, the typed value kept.
    await orange.fill("15")
    await page.get_by_role("button", name="Salvar configurações de segurança").click()
    await expect(page.locator("#f-risk_orange_from-error")).to_contain_text(
        "os limites precisam subir"
    )
    await expect(orange).to_have_value("15")
    await expect(orange).to_have_attribute("aria-invalid", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "safety-settings-error.png"), full_page=True)
    await orange.fill("45")
    await page.get_by_label("Meia-vida de um sinal (minutos)").fill("90")
    await page.get_by_role("button", name="Salvar configurações de segurança").click()
    await expect(page.get_by_text("Configurações salvas.")).to_be_visible()
    await expect(orange).to_have_value("45")
    await page.screenshot(path=str(ARTIFACTS / "safety-settings-saved.png"), full_page=True)
    rows = await sql(
        bootstrap_conninfo,
        "select details->'changed' from audit_events where tenant_id = %s "
        "and action = 'settings.update' and target_type = 'safety'",
        t.tenant_id,
    )
    assert [r[0] for r in rows] == [
        {"risk_orange_from": [40, 45], "risk_half_life_minutes": [120, 90]}
    ]
