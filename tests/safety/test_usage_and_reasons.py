"""What the Numbers page and /api/v1/instances say of each number's sending (warm-up stage,
today's and the hour's sends against the caps the engine applies, tightened by the band), the
safety settings form (the API's model, audited), and automatic reasons stored as codes and
shown in the reader's language (old free-text rows still shown)."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.kit.clock import utcnow
from mirage.models import Instance
from mirage.policy import local_day_start
from mirage.providers import ConnectionState
from mirage.safety import reasons
from mirage.safety import service as safety
from mirage.safety.score import SignalKind
from tests.conftest import TenantFixture, make_tenant, make_token, sign_in, sql

ZONE = ZoneInfo("America/Sao_Paulo")  # the tenants' default zone


async def _number(t: TenantFixture, name: str, *, age_days: int) -> uuid.UUID:
    iid = uuid.uuid4()
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        session.add(
            Instance(
                id=iid,
                tenant_id=t.tenant_id,
                display_name=name,
                gateway_name=f"use-{iid.hex}",
                token_enc="x",
                webhook_secret_enc="x",
                state=ConnectionState.OPEN,
                owner_jid="5511900000001@s.whatsapp.net",
                needs_pairing=False,
                first_connected_at=utcnow() - timedelta(days=age_days),
            )
        )
    return iid


async def _sent(conninfo: str, t: TenantFixture, iid: uuid.UUID, *ago: timedelta) -> None:
    for i, delta in enumerate(ago):
        await sql(
            conninfo,
            "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
            "planned_at, status, sent_at) values (%s, %s, %s, %s, 'oi', 0, now(), 'sent', "
            "now() - %s)",
            uuid.uuid4(),
            t.tenant_id,
            iid,
            f"55119{i:08d}",
            delta,
        )


def _today_since(delta: timedelta) -> bool:
    """Whether an instant ``delta`` ago falls on today's local day (the caps' day)."""
    now = utcnow()
    return now - delta >= local_day_start(now.astimezone(ZONE).date(), ZONE)


async def test_the_list_and_the_api_show_stage_and_sends_against_the_band_caps(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    # The tenant's own caps: 30 an hour, 60 a day per number.
    assert (await client.get("/api/v1/settings", headers=auth)).status_code == 200  # its row
    await sql(
        bootstrap_conninfo,
        "update tenant_settings set hourly_cap_per_number = 30, daily_cap_per_number = 60 "
        "where tenant_id = %s",
        t.tenant_id,
    )
    fresh = await _number(t, "A fresh", age_days=10)
    steady = await _number(t, "B steady", age_days=10)
    # "B steady" sent on each of the last two complete days (green all day): stage 2 (0-based),
    # 100 a day, as the age ramp (day 10) allows: the tenant's 60 governs. Today: 3 in the
    # hour, 1 earlier.
    day = timedelta(days=1)
    await _sent(bootstrap_conninfo, t, steady, 2 * day, 1 * day)
    earlier = timedelta(minutes=90)
    await _sent(bootstrap_conninfo, t, steady, *(timedelta(minutes=m) for m in (1, 2, 3)), earlier)
    today = 3 + (1 if _today_since(earlier) else 0)
    # A yesterday's send is no send of today, whatever the hour.
    assert _today_since(day) is False

    items = {
        i["display_name"]: i for i in (await client.get("/api/v1/instances", headers=auth)).json()
    }
    a, b = items["A fresh"], items["B steady"]
    # Idle for days: stage 0 (20 a day), under the tenant's daily cap.
    assert (a["warmup_stage"], a["sends_today"], a["daily_cap_effective"]) == (0, 0, 20)
    assert (a["hourly_cap_effective"], a["risk_band"], a["caps_tightened"]) == (30, "green", False)
    assert (b["warmup_stage"], b["warmup_stages"]) == (2, 5)
    assert (b["sends_today"], b["sends_last_hour"]) == (today, 3)
    assert (b["daily_cap_effective"], b["hourly_cap_effective"]) == (60, 30)

    # A time lock (25 points): yellow band, caps halved (60 → 30, 30 → 15), and an automatic
    # pause with its code.
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = await session.get(Instance, steady, with_for_update=True)
        assert inst is not None
        await safety.record(session, inst, SignalKind.TIME_LOCK, code=463, detail="463")
    b = (await client.get(f"/api/v1/instances/{steady}", headers=auth)).json()
    assert (b["risk_band"], b["caps_tightened"]) == ("yellow", True)
    assert (b["daily_cap_effective"], b["hourly_cap_effective"], b["sends_today"]) == (
        30,
        15,
        today,
    )
    assert b["paused"] is True and b["paused_reason_code"] == "time_lock"
    assert b["paused_reason"] == "automatic: WhatsApp's reach-out time lock (463)"

    # The dashboard's list: the same figures on each row, in the reader's language (pt-BR).
    await sign_in(client, t)
    page = (await client.get("/instances")).text
    row_b = re.search(rf'<tr id="instance-{steady}".*?</tr>', page, re.S)
    row_a = re.search(rf'<tr id="instance-{fresh}".*?</tr>', page, re.S)
    assert row_a and row_b
    assert "aquecimento: etapa 1 de 5" in row_a.group(0) and "0 / 20 hoje" in row_a.group(0)
    assert "0 / 30 nesta hora" in row_a.group(0)
    assert "aquecimento: etapa 3 de 5" in row_b.group(0) and f"{today} / 30 hoje" in row_b.group(0)
    assert "3 / 15 nesta hora" in row_b.group(0)
    assert "pausado pelo Mirage" in row_b.group(0)
    assert "automático: bloqueio" in html.unescape(row_b.group(0)), row_b.group(0)
    # English for a reader who chose it: the reason is rendered from its code.
    client.cookies.set("mirage_lang", "en")
    page_en = html.unescape((await client.get("/instances")).text)
    client.cookies.delete("mirage_lang")
    assert "automatic: WhatsApp's reach-out time lock (463)" in page_en, page_en
    assert f"{today} / 30 today" in page_en


async def test_a_send_announces_its_number_so_the_row_follows(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    """Rows are re-rendered on the number's live events (instances/events), with the same
    usage as the page: a message marked sent announces its number when it commits."""
    import psycopg

    from mirage.messaging import service as messaging
    from mirage.models import OutgoingMessage

    t = await make_tenant()
    iid = await _number(t, "Live", age_days=40)
    mid = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
        "planned_at, status, purpose, claimed_at) "
        "values (%s, %s, %s, '5511999990000', 'oi', 0, now(), 'sending', 'warmup', now())",
        mid,
        t.tenant_id,
        iid,
    )
    async with await psycopg.AsyncConnection.connect(
        bootstrap_conninfo, autocommit=True
    ) as listener:
        await listener.execute("listen mirage_live")
        async with session_scope() as session:
            await bind_context(session, tenant_id=t.tenant_id, user_id=None)
            msg = await session.get(OutgoingMessage, mid, with_for_update=True)
            assert msg is not None
            await messaging._mark_sent(session, msg, "prov-1", utcnow())
        seen = []
        async for note in listener.notifies(timeout=5, stop_after=10):
            seen.append(note.payload)
            if f'"id": "{iid}"' in note.payload:
                break
    assert any(f'"kind": "instance", "id": "{iid}"' in p for p in seen), seen
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    got = (await client.get(f"/api/v1/instances/{iid}", headers=auth)).json()
    assert (got["sends_today"], got["sends_last_hour"]) == (1, 1)


def test_stored_reasons_read_back_as_codes_and_old_text_still_shows() -> None:
    stored = reasons.encode("score_jump", before=0, after=60)
    assert stored == "@score_jump?before=0&after=60"
    got = reasons.decode(stored)
    assert got is not None and got.code == "score_jump"
    assert got.text() == "automatic: risk score jumped from 0 to 60"
    assert got.text("pt_BR") != got.text() and "60" in got.text("pt_BR")
    # A row written before the codes: its English text is read back into the code.
    old = reasons.decode("automatic: risk score jumped from 0 to 60")
    assert old is not None and (old.code, old.params) == (
        "score_jump",
        {"before": "0", "after": "60"},
    )
    assert old.text("pt_BR") == got.text("pt_BR")
    # An operator's own words stay as they are (no code), and are never a format string.
    own = reasons.decode("phone fell in the sink %(x)s")
    assert own is not None and own.code is None and own.text("pt_BR") == own.message
    assert reasons.english(None) is None and reasons.code_of("anything") is None


async def test_the_safety_settings_form_saves_audits_and_refuses_bad_values(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    csrf = await sign_in(client, t)
    page = await client.get("/settings/safety")
    assert page.status_code == 200 and 'name="risk_yellow_from"' in page.text
    assert 'value="20"' in page.text and 'max="100"' in page.text  # the model's bounds
    current = (await client.get("/api/v1/safety/settings", headers=auth)).json()
    form = {k: str(v) for k, v in current.items()} | {"csrf_token": csrf}

    # Thresholds that do not rise: refused, the message next to the field, in pt-BR, and
    # what was typed kept.
    r = await client.post("/settings/safety", data={**form, "risk_orange_from": "15"})
    assert r.status_code == 422, r.text
    text = html.unescape(r.text)
    assert re.search(r'id="f-risk_orange_from"[^>]*aria-invalid="true"', r.text), r.text
    error = re.search(r'id="f-risk_orange_from-error">([^<]*)<', r.text)
    assert error and "os limites precisam subir" in html.unescape(error.group(1)), text
    assert 'name="risk_orange_from" type="number" value="15"' in r.text
    # Out of the model's bounds, or not a number: each field says so, the others keep theirs.
    r = await client.post(
        "/settings/safety",
        data={**form, "auto_pause_error_pct": "150", "auto_pause_min_sends": "dez"},
    )
    text = html.unescape(r.text)
    assert r.status_code == 422
    assert (
        "Pausa automática: envios com falha na última hora (%): informe um valor de 1 a 100" in text
    ), text
    assert 'value="dez"' in r.text and 'id="f-auto_pause_min_sends-error"' in r.text
    assert (await client.get("/api/v1/safety/settings", headers=auth)).json() == current

    # Saved: the API reads the same values, and the change is audited before → after.
    r = await client.post(
        "/settings/safety",
        data={**form, "risk_yellow_from": "10", "auto_pause_score_jump": "30"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/settings/safety?saved=1"
    got = (await client.get("/api/v1/safety/settings", headers=auth)).json()
    assert (got["risk_yellow_from"], got["auto_pause_score_jump"]) == (10, 30)
    rows = await sql(
        bootstrap_conninfo,
        "select details->'changed' from audit_events where tenant_id = %s "
        "and action = 'settings.update' and target_type = 'safety'",
        t.tenant_id,
    )
    assert [r[0] for r in rows] == [
        {"risk_yellow_from": [20, 10], "auto_pause_score_jump": [20, 30]}
    ]
    assert "Configurações salvas." in (await client.get("/settings/safety?saved=1")).text


def test_number_caps_are_what_the_engine_applies() -> None:
    """`number_caps` (what the pages show) is `decide`'s own: halved in a risky band or while
    degraded, the smaller of the daily cap and the ramp, 0 when the number may not send."""
    from mirage.policy import NumberState, TenantPolicy, number_caps

    now = utcnow()
    policy = TenantPolicy(hourly_cap_per_number=30, daily_cap_per_number=60)

    def caps(**kw: object):  # type: ignore[no-untyped-def]
        state = {
            "connected": True,
            "health": "healthy",
            "paused": False,
            "first_connected_at": now - timedelta(days=40),
            "sent_last_hour": 0,
            "sent_today": 0,
            "last_sent_at": None,
            "warmup_stage": 4,
        } | kw
        return number_caps(now, policy, NumberState(**state))  # type: ignore[arg-type]

    green = caps()
    assert (green.hourly, green.daily_effective, green.tightened) == (30, 60, False)
    assert caps(warmup_stage=0).daily_effective == 20  # the stage earned by health
    assert caps(first_connected_at=now - timedelta(days=5)).daily_effective == 50  # by age
    for band in ("yellow", "orange", "red"):
        c = caps(band=band)
        assert (c.hourly, c.daily_effective, c.tightened) == (15, 30, True), band
    assert caps(health="degraded").daily_effective == 30
    for blocked in ({"band": "critical"}, {"health": "quarantined"}, {"band": "bogus"}):
        c = caps(**blocked)
        assert (c.hourly, c.daily_effective) == (0, 0), blocked
