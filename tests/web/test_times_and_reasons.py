"""Instants and policy decisions as the pages show them.

- Every template shows instants through ``when`` (the tenant's zone, the reader's language,
  relative when near): no template formats one itself, and no page shows "UTC" or an ISO date.
- Every policy reason code has a label and an explanation (what the operator can change) in
  pt-BR and English, distinct from the code: a new reason cannot be added untranslated.
- The transcript and the settings page show decisions in the reader's language.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

from mirage.kit import i18n
from mirage.kit.clock import utcnow
from mirage.policy import engine, reasons
from mirage.policy.engine import Reason
from mirage.web.templating import describe
from tests.conftest import GatewayWorld, sql
from tests.web.dashboard import asgi_get, client_for, get_paths, seed

# Formatting an instant in a template bypasses the tenant's zone and the reader's language.
RAW_TIME = re.compile(r"strftime\(|isoformat\(|local_time\(|\bUTC\b")
ISO_DATE = re.compile(r"\b\d{4}-\d\d-\d\d\b")


def test_no_template_formats_an_instant_itself() -> None:
    root = Path(str(resources.files("mirage")))
    templates = sorted(root.rglob("*.html"))
    assert len(templates) > 20
    offenders = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in templates
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_TIME.search(line)
    ]
    assert not offenders, "use when(value) for instants:\n" + "\n".join(offenders)


def test_when_is_relative_near_now_and_in_the_tenant_zone() -> None:
    now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
    zone = "America/Sao_Paulo"
    cases = {
        now + timedelta(minutes=5): ("em 5 min", "in 5 min"),
        now - timedelta(minutes=5): ("há 5 min", "5 min ago"),
        now + timedelta(hours=3): ("em 3 h · hoje 15:00", "in 3 h · today 3:00 PM"),
        now + timedelta(hours=14): ("amanhã 02:00", "tomorrow 2:00 AM"),
        now - timedelta(hours=22): ("ontem 14:00", "yesterday 2:00 PM"),
    }
    for instant, (pt, en) in cases.items():
        assert describe(instant, now, zone, "pt_BR")[0] == pt
        assert describe(instant, now, zone, "en")[0].replace("\u202f", " ") == en
    far, title = describe(now - timedelta(days=40), now, zone, "pt_BR")
    assert far == "29/01/2026 12:00" and "America/Sao_Paulo" in title
    assert describe(now, now, "Asia/Tokyo", "pt_BR", precise=True)[0] == "hoje 00:00:00"


def test_every_reason_code_is_explained_in_both_languages() -> None:
    for reason in Reason:
        assert reason in reasons.REASONS, f"{reason.value}: add its texts to policy/reasons.py"
        text = reasons.REASONS[reason]
        for msgid in (text.label, text.explanation):
            for locale in ("pt_BR", "en"):
                shown = i18n.text(locale, msgid)
                assert shown and shown != reason.value and reason.value not in shown, (
                    reason,
                    locale,
                )
            assert i18n.text("pt_BR", msgid) != msgid, f"{msgid!r} has no pt-BR translation"
        assert text.label != text.explanation
    # Every detail the engine writes is read back (and is in the catalog).
    for template in (*engine.DETAILS, *engine.SUFFIXES):
        assert i18n.text("pt_BR", template) != template, template


class _Text(HTMLParser):
    """The text a person reads (no attributes, scripts or styles)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("script", "style", "datalist")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style", "datalist")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def _details(now: datetime) -> dict[Reason, str]:
    """A detail the engine writes, for every reason."""
    when = "Tue 2026-03-10 12:00:00 -03"
    nxt = f" {engine.D_NEXT_TRY % {'when': when}}"
    numbers = {"sent": 30, "cap": 30, "halved": "", "ramp": 20, "age": 2, "ago": 12, "gap": 30}
    return {
        Reason.KILL_SWITCH_GLOBAL: engine.D_GLOBAL_KILL,
        Reason.KILL_SWITCH_TENANT: engine.D_TENANT_KILL,
        Reason.POLICY_INVALID: engine.D_POLICY_INVALID % {"problems": "timezone: unknown"},
        Reason.NUMBER_QUARANTINED: engine.D_QUARANTINED,
        Reason.NUMBER_UNHEALTHY: engine.D_UNHEALTHY % {"health": "banned"},
        Reason.NUMBER_PAUSED: engine.D_PAUSED,
        Reason.NUMBER_NOT_CONNECTED: engine.D_NOT_CONNECTED,
        Reason.CONVERSATION_PAUSED: engine.D_CONVERSATION_PAUSED,
        Reason.OUTSIDE_WINDOW: engine.D_OUTSIDE_WINDOW % {"when": when} + nxt,
        Reason.QUIET_HOURS: engine.D_QUIET_HOURS % {"when": when, "start": "22:00", "end": "07:00"}
        + nxt,
        Reason.HOURLY_CAP: engine.D_HOURLY % {**numbers, "halved": engine.D_HALVED} + nxt,
        Reason.DAILY_CAP: engine.D_DAILY % numbers + f" {engine.D_CAP_ZERO}",
        Reason.WARMUP_CAP: engine.D_WARMUP % numbers + nxt,
        Reason.BURST_LIMIT: engine.D_BURST % numbers + nxt,
        Reason.MIN_GAP: engine.D_MIN_GAP % numbers + nxt,
    }


async def test_pages_show_instants_and_decisions_in_the_readers_words(
    gw: GatewayWorld, app: Any, bootstrap_conninfo: str
) -> None:
    async with client_for(app) as client:
        s = await seed(client)
        tenant, conv = s.tenant.tenant_id, s.ids["conversation_id"]
        now = utcnow()
        round_id = uuid.uuid4()
        until = (now + timedelta(hours=26)).strftime("%Y-%m-%d %H:%M")
        await sql(
            bootstrap_conninfo,
            "insert into rounds (id, tenant_id, conversation_id, topic, exchanges, planned_at, "
            "state, outcome) values (%s, %s, %s, 'futebol', 3, %s, 'blocked', %s)",
            round_id,
            tenant,
            conv,
            now + timedelta(hours=3),
            f"policy: quiet_hours (until {until} UTC)",
        )
        await sql(
            bootstrap_conninfo,
            "insert into outgoing_messages (id, tenant_id, instance_id, conversation_id, "
            "round_id, to_number, text, turn, status, planned_at, sent_at) values "
            "(%s, %s, %s, %s, %s, '5511999990000', 'oi', 1, 'sent', %s, %s)",
            uuid.uuid4(),
            tenant,
            s.ids["instance_id"],
            conv,
            round_id,
            now - timedelta(minutes=5),
            now - timedelta(minutes=5),
        )
        for reason, detail in _details(now).items():
            await sql(
                bootstrap_conninfo,
                "insert into policy_decisions (id, tenant_id, conversation_id, round_id, action, "
                "reason, until, detail) values (%s, %s, %s, %s, 'defer', %s, %s, %s)",
                uuid.uuid4(),
                tenant,
                conv,
                round_id,
                reason.value,
                now + timedelta(hours=2),
                detail,
            )
        cookies = dict(client.cookies.items())
        transcript = f"/conversations/{conv}"
        for locale in ("pt_BR", "en"):
            token = client.cookies.get("mirage_csrf") or s.csrf
            await client.post("/language", data={"lang": locale, "csrf_token": token})
            cookies = dict(client.cookies.items())
            for path in get_paths(s.ids):
                page = await asgi_get(app, path, cookies)
                if not page.content_type.startswith("text/html"):
                    continue
                text = _Text(page.body.decode()).text
                assert "UTC" not in text, (path, locale, text[:3000])
                assert not ISO_DATE.search(text), (path, locale, ISO_DATE.search(text))
            html = (await asgi_get(app, transcript, cookies)).body.decode()
            text = _Text(html).text
            for reason, detail in _details(now).items():
                label = i18n.text(locale, reasons.REASONS[reason].label)
                assert label in text, (locale, reason, label)
                assert f'data-reason="{reason.value}"' in html
                if locale == "pt_BR":  # the engine's English detail is not shown as it is
                    assert detail.split(". ")[0].rstrip(".") not in text, (reason, detail)
            if locale == "pt_BR":
                assert "Horário de silêncio" in text and "Dentro do horário de silêncio" in text
                assert "próxima tentativa em 2 h" in text, text
                assert "em 3 h" in text, text[text.find("Rodada") :][:600]
                assert "is inside the tenant's quiet hours" not in text
                assert 'href="/settings#cadence"' in html and 'href="/instances"' in html
            else:
                assert "next try in 2 h" in text and "Quiet hours" in text
