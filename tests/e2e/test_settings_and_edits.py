"""In real Chromium (issue 9, defects 2, 3 and 5), as an operator in pt-BR, in a tenant on
Manaus time (neither UTC nor São Paulo, so a time shown in either would be wrong):

- quiet hours changed in the settings page to cover now move the conversation's planned round
  out of them, and changed back bring it back (the round is re-planned both ways); its time is
  shown in the tenant's zone, relative ("em 3 h · hoje 15:00"), the instant in ``datetime``;
- the conversation is renamed and its topics changed on its edit page;
- a number in it is deleted from the numbers page: the conversation is paused and says why,
  resume is refused until another number is chosen on the edit page; then it resumes.

The conversation's own window starts two hours from now and quiet hours are whole hours
computed from now in the tenant's zone (wrapping midnight), so no round starts while the test
runs and no assertion depends on the hour it runs at."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from mirage.config import get_settings
from mirage.kit import crypto
from mirage.kit.http import limits as pool_limits
from tests.conftest import LiveServer, TenantFixture, eventually, make_token, sql
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_numbers_conversation_form import PERSONA, _sign_in

pytestmark = pytest.mark.e2e
ZONE = ZoneInfo("America/Manaus")  # UTC-4 all year: no DST to shift the hours below
NUMBERS = (("Vendas A", "5511900000501"), ("Vendas B", "5511900000502"))
SPARE = ("Vendas C", "5511900000503")


def _hhmm(hour: int) -> str:
    return f"{hour % 24:02d}:00"


def _ranges(first: int, hours: int) -> list[list[str]]:
    """Local ranges covering ``hours`` whole hours from ``first`` (may pass midnight: a range
    lies inside one day, so it is split there; every day gets the same ranges)."""
    covered = sorted({(first + i) % 24 for i in range(hours)})
    out: list[list[str]] = []
    for h in covered:
        if out and out[-1][1] == _hhmm(h):
            out[-1][1] = _hhmm(h + 1)
        else:
            out.append([_hhmm(h), _hhmm(h + 1)])
    return out


async def _add_number(conninfo: str, t: TenantFixture, name: str, phone: str) -> uuid.UUID:
    rid = uuid.uuid4()
    # A real encrypted token: deleting the number tells the gateway (which no longer has it).
    key = get_settings().resolved_secret_key()
    await sql(
        conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc, state, phone, owner_jid, first_connected_at) "
        "values (%s, %s, %s, %s, %s, %s, 'open', %s, %s, '2026-01-01T00:00:00Z')",
        rid,
        t.tenant_id,
        name,
        f"e2e-{rid.hex}",
        crypto.encrypt(key, "tok"),
        crypto.encrypt(key, "secret"),
        phone,
        f"{phone}@s.whatsapp.net",
    )
    return rid


async def _next_round_at(api: httpx.AsyncClient, auth: dict[str, str], cid: str) -> datetime:
    r = await api.get(f"/api/v1/conversations/{cid}", headers=auth)
    assert r.status_code == 200, r.text
    at = r.json()["next_round_at"]
    return datetime.fromisoformat(at) if at else datetime.min.replace(tzinfo=UTC)


async def _round_time(page: Page, url: str, cid: str, lo: datetime, hi: datetime) -> datetime:
    """The conversation page shows its planned round at an instant in [lo, hi), in the
    tenant's zone: "em N h · hoje HH:MM" (or "amanhã HH:MM" past midnight)."""
    await page.goto(f"{url}/conversations/{cid}")
    shown = page.locator(".round[data-state='planned'] time")
    await expect(shown).to_have_count(1)
    at = datetime.fromisoformat(str(await shown.get_attribute("datetime")))
    assert lo <= at < hi, (lo, at, hi)
    local = at.astimezone(ZONE)
    days = (local.date() - datetime.now(ZONE).date()).days
    day = {0: "hoje", 1: "amanhã"}[days]
    await expect(shown).to_contain_text(re.compile(rf"^(em \d+ h · )?{day} {local:%H:%M}$"))
    # The same instant on a UTC clock (or São Paulo's) is another hour: it is not shown.
    await expect(shown).not_to_contain_text(f"{at.astimezone(UTC):%H:%M}")
    await expect(page.locator(".next-activity > time")).to_have_attribute(
        "datetime", at.astimezone(UTC).isoformat(timespec="seconds")
    )
    return at


async def _save_quiet_hours(page: Page, url: str, start: str, end: str) -> None:
    await page.goto(url + "/settings")
    await expect(page.get_by_label("Fuso horário")).to_have_value("America/Manaus")
    await page.get_by_label("Início do horário de silêncio").fill(start)
    await page.get_by_label("Fim do horário de silêncio").fill(end)
    await page.get_by_role("button", name="Salvar configurações").click()
    await expect(page.get_by_text("Configurações salvas.")).to_be_visible()


async def test_quiet_hours_replan_both_ways_edit_and_delete_a_number_in_use(
    page: Page, live_server: LiveServer, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    url = live_server.url
    now = datetime.now(ZONE)
    hour = now.replace(minute=0, second=0, microsecond=0)
    h = hour.hour
    window = hour + timedelta(hours=2)  # its window: [h+2, h+4), local
    quiet_far = (_hhmm(h + 8), _hhmm(h + 10))  # quiet hours well away from now and the window
    quiet_now = (_hhmm(h), _hhmm(h + 3))  # covers now and the window's first hour

    numbers = [await _add_number(bootstrap_conninfo, tenant_a, n, p) for n, p in NUMBERS]
    await _add_number(bootstrap_conninfo, tenant_a, *SPARE)
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(limits=pool_limits(), base_url=url) as api:
        personas = []
        for name in ("Carla", "Duda"):
            r = await api.post("/api/v1/personas", headers=auth, json={"name": name, **PERSONA})
            assert r.status_code == 201, r.text
            personas.append(r.json()["id"])
        r = await api.put(
            "/api/v1/settings",
            headers=auth,
            json={
                "timezone": "America/Manaus",
                "delay_min_s": 20,
                "delay_max_s": 90,
                "quiet_start": quiet_far[0],
                "quiet_end": quiet_far[1],
                "hourly_cap_per_number": 20,
                "daily_cap_per_number": 120,
                "burst_per_hour": 200,
                "min_gap_seconds": 15,
            },
        )
        assert r.status_code == 200, r.text
        r = await api.post(
            "/api/v1/conversations",
            headers=auth,
            json={
                "name": "Manaus E2E",
                "topics": ["futebol"],
                "participants": [
                    {"instance_id": str(i), "persona_id": p}
                    for i, p in zip(numbers, personas, strict=True)
                ],
                "windows": {str(d): _ranges(h + 2, 2) for d in range(7)},
                "rounds_per_window": 1,
                "pause_min_s": 3600,
                "pause_max_s": 7200,
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]

        async def planned_in(lo: datetime, hi: datetime) -> bool:
            return lo <= await _next_round_at(api, auth, cid) < hi

        # Its first round is planned at the start of its window.
        await eventually(
            lambda: planned_in(window, window + timedelta(hours=1)), what="first round planned"
        )
        await _sign_in(page, live_server, tenant_a)
        before = await _round_time(page, url, cid, window, window + timedelta(hours=1))

        # Defect 2: quiet hours now cover the window's first hour: the round moves out of them.
        await _save_quiet_hours(page, url, *quiet_now)
        later = (window + timedelta(hours=1), window + timedelta(hours=2))
        await eventually(lambda: planned_in(*later), what="round moved out of quiet hours")
        moved = await _round_time(page, url, cid, *later)
        # The page says why: the quiet hours, until their end (tenant's zone, relative).
        quiet_end = hour + timedelta(hours=3)
        note = page.locator("#quiet-now")
        await expect(note).to_contain_text(
            re.compile(
                rf"^Horário de silêncio agora: termina (em \d+ h · )?(hoje|amanhã) "
                rf"{quiet_end:%H:%M}; "
                "nada é enviado antes disso."
            )
        )
        await expect(note.locator("time")).to_have_attribute(
            "datetime", quiet_end.astimezone(UTC).isoformat(timespec="seconds")
        )
        await page.screenshot(path=str(ARTIFACTS / "conversation-quiet-hours.png"))
        # The weekly calendar tells why: the quiet hours end where the round now starts.
        local = moved.astimezone(ZONE)
        await page.goto(f"{url}/conversations/calendar?conversation={cid}&week={local:%Y-%m-%d}")
        day = page.locator(f'#week-grid .day[data-date="{local:%Y-%m-%d}"]')
        ends = ("00:00", "24:00") if (h + 3) % 24 == 0 else (_hhmm(h + 3),)
        quiet = day.locator(", ".join(f'.band-quiet[title$="–{e}"]' for e in ends))
        await expect(quiet).to_have_count(1)
        await expect(quiet).to_have_attribute("title", re.compile(r"^Horário de silêncio "))
        slot = day.locator(f'.slot[data-conversation="{cid}"][data-state="planned"]')
        await expect(slot).to_have_attribute("data-start", f"{local:%H:%M}")

        # ... and back: the round comes back to where it was (the same window, the same draw).
        await _save_quiet_hours(page, url, *quiet_far)
        await eventually(lambda: planned_in(before, before + timedelta(seconds=1)), what="back")
        assert await _round_time(page, url, cid, window, window + timedelta(hours=1)) == before
        await expect(page.locator("#quiet-now")).to_have_count(0)

    # Defect 3: edit it (name, topics) on its edit page.
    await page.locator("#edit-link").click()
    await page.get_by_label("Nome", exact=True).fill("Manaus Futebol")
    await page.get_by_label("Assuntos (separados por vírgula)").fill("futebol, churrasco")
    await page.get_by_role("button", name="Salvar alterações").click()
    await expect(page.get_by_role("heading", name="Manaus Futebol")).to_be_visible()
    await expect(page.locator(".page-head .muted")).to_contain_text("futebol, churrasco")

    # Delete one of its numbers from the numbers page (after confirming).
    await page.goto(url + "/instances")
    row = page.locator(f"#instance-{numbers[1]}")
    dialogs: list[str] = []

    async def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await row.get_by_role("button", name="Excluir").click()
    await expect(row).to_have_count(0)
    assert dialogs and "pausadas" in dialogs[0], dialogs

    await page.goto(f"{url}/conversations/{cid}")
    reason = page.locator("#paused-reason")
    await expect(reason).to_contain_text("Pausada pelo sistema")
    await expect(reason).to_contain_text("o número Vendas B foi excluído.")
    await expect(page.locator(".next-activity .badge-conv-paused")).to_have_text("pausada")
    await expect(page.get_by_role("button", name="Retomar")).to_be_disabled()
    # Its planned round was cancelled, and says why (not "the turn was not sent").
    cancelled = page.locator(".round[data-state='cancelled']")
    await expect(cancelled).to_contain_text("o número Vendas B foi excluído")

    # Another number in its place, then resume it.
    await reason.get_by_role("link", name="Editar a conversa").click()
    await page.get_by_label("Número 2").select_option(label=SPARE[0])
    await page.get_by_label("Persona 2").select_option(label="Duda")
    await page.get_by_role("button", name="Salvar alterações").click()
    await expect(page.get_by_role("heading", name="Manaus Futebol")).to_be_visible()
    await expect(page.locator(".schedule-summary")).to_contain_text("Vendas C (Duda)")
    await page.get_by_role("button", name="Retomar").click()
    await expect(page.locator(".next-activity .badge-conv-active")).to_have_text("ativa")
    await expect(page.locator("#paused-reason")).to_have_count(0)
    await expect(page.get_by_role("button", name="Pausar")).to_be_visible()
    # Resumed: its round is planned again in its window (none starts while the suite runs).
    await expect(page.locator(".round[data-state='planned'] time")).to_have_count(1)
