"""The overview, the fleet's home: numbers by state and health, today's sends against the caps,
the warm-up step of each number, what is planned next, and alerts that link to where to act —
in a fixed number of statements whatever the fleet's size, updated live."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from mirage.auth import cache as auth_cache
from mirage.db.engine import Database
from mirage.instances.service import FleetGroup
from mirage.models import Tenant, TenantSettings
from mirage.tenants import overview
from tests import factories
from tests.conftest import GatewayWorld, TenantFixture, eventually, make_token, sign_in, sql
from tests.statement_cost import warm_cost
from tests.web.test_streams_end import _open

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _overview(**kw: Any) -> overview.Overview:
    base: dict[str, Any] = {
        "tenant": Tenant(name="T", slug="t", timezone="America/Sao_Paulo"),
        "now": NOW,
        "zone": ZoneInfo("America/Sao_Paulo"),
        "settings": TenantSettings(daily_cap_per_number=120, burst_per_hour=200),
        "kill_tenant": False,
        "kill_global": False,
        "worker": {"ok": True},
        "total": 0,
        "by_state": {},
        "by_health": {},
        "paused": 0,
        "needs_pairing": 0,
        "unpaired": 0,
        "disconnected": 0,
        "connected": 0,
        "sending": 0,
        "by_step": {},
        "never_connected": 0,
        "capacity_today": 0,
        "sends": overview.SendsToday(),
        "numbers": [],
        "conversations": overview.ConversationsPart(),
        "members": 1,
        "open_invitations": 0,
    }
    base.update(kw)
    return overview.Overview(**base)


def test_a_quiet_fleet_has_no_alerts() -> None:
    o = _overview(total=2, by_state={"open": 2}, by_health={"healthy": 2}, connected=2)
    assert overview.alerts(o) == []


def test_alerts_say_what_to_do_and_where_most_serious_first() -> None:
    o = _overview(
        kill_tenant=True,
        kill_global=True,
        worker={"ok": False},
        total=6,
        by_state={"open": 3, "close": 3},
        by_health={"healthy": 3, "degraded": 1, "banned": 2},
        paused=1,
        needs_pairing=3,
        unpaired=1,
        disconnected=1,
        conversations=overview.ConversationsPart(
            active=2,
            waiting=1,
            waiting_list=[overview.ConversationRef(uuid.uuid4(), "Espera")],
            outcomes={"failed": 2, "completed": 5, "unsent": 1},
            failing=[overview.FailingConversation(uuid.uuid4(), "Vendas", 3, "failed", NOW)],
        ),
    )
    found = overview.alerts(o)
    assert [a.code for a in found] == [
        "kill_switch_global",
        "kill_switch",
        "worker_missing",
        "numbers_unusable",
        "numbers_need_pairing",
        "numbers_disconnected",
        "numbers_not_paired",
        "numbers_paused",
        "numbers_degraded",
        "rounds_failing",
        "conversations_waiting",
    ]
    by = {a.code: a for a in found}
    assert by["kill_switch"].href == "/settings#cadence" and by["kill_switch"].admin_only_action
    assert by["numbers_need_pairing"].text.params == {"n": 2}  # paired before, logged out
    assert by["numbers_not_paired"].text.params == {"n": 1}  # never paired: a warning
    assert by["numbers_disconnected"].text.params == {"n": 1}
    assert by["rounds_failing"].text.params == {"n": 3}  # failed + unsent
    assert by["rounds_failing"].links[0][1].startswith("/conversations/")
    assert all(a.level == "danger" for a in found[:5])
    assert all(a.href for a in found if a.code != "kill_switch_global")


def test_todays_capacity_follows_the_warm_up_ramp_and_the_caps() -> None:
    groups = [
        FleetGroup("open", "healthy", False, False, True, 0, 2),  # 20/day each
        FleetGroup("open", "degraded", False, False, True, 2, 1),  # 100/day halved: 50; cap 60
        FleetGroup("open", "healthy", False, False, True, 4, 1),  # 1000/day, capped at 120
        FleetGroup("open", "healthy", True, False, True, 4, 1),  # paused: nothing
        FleetGroup("close", "healthy", False, True, False, 1, 1),  # to pair: nothing
        FleetGroup("connecting", "healthy", False, False, False, None, 3),  # never connected
    ]
    fleet = overview._fleet(groups, daily_cap=120)
    assert fleet["cap"] == 2 * 20 + 50 + 120
    assert fleet["sending"] == 4 and fleet["connected"] == 5 and fleet["paused"] == 1
    assert fleet["needs_pairing"] == 1 and fleet["unpaired"] == 0 and fleet["never"] == 3
    assert fleet["disconnected"] == 0
    assert fleet["by_step"] == {1: 2, 3: 1, 5: 2, 2: 1}
    assert fleet["by_state"] == {"open": 5, "close": 1, "connecting": 3}
    assert [s.per_day for s in overview.STEPS] == [20, 50, 100, 200, 1000]
    assert overview.step_for(0).number == 1 and overview.step_for(7).number == 2
    assert overview.step_for(31).last_day is None and overview.step_for(3).last_day == 3


# --- against the database --------------------------------------------------------------------


async def _fleet(
    conninfo: str, tenant_id: uuid.UUID, n: int, conversation: str = "Aquecimento Vendas"
) -> dict[str, list[uuid.UUID]]:
    """``n`` numbers in every situation the overview sums, some sends, a conversation with a
    failed round and a planned one. (Rows are inserted with the factories; every update is
    awaited: the app runs in this loop.)"""
    kinds: dict[str, list[uuid.UUID]] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ids = [factories.instances(conn, tenant_id) for _ in range(n)]
        round_id = factories.rounds(conn, tenant_id)
        (conversation_id,) = conn.execute(
            "select conversation_id from rounds where id = %s", (round_id,)
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "insert into rounds (id, tenant_id, conversation_id, topic, exchanges, planned_at,"
            " state, ended_at) values (%s, %s, %s, 'novela', 3, now() - interval '2 hours',"
            " 'failed', now() - interval '1 hour')",
            (uuid.uuid4(), tenant_id, conversation_id),
        )
    open_ = "state = 'open', owner_jid = 'x@s.whatsapp.net', needs_pairing = false"
    aged = "first_connected_at = now() - make_interval(days => %s)"
    sets = {
        "ready": f"update instances set {open_}, {aged} where id = %s",
        "pairing": "update instances set state = 'close', state_reason = 401,"
        f" needs_pairing = true, {aged} where id = %s",
        "paused": f"update instances set {open_}, paused_at = now(), {aged} where id = %s",
        "degraded": f"update instances set {open_}, health = 'degraded', {aged} where id = %s",
        "new": "update instances set state = 'connecting', needs_pairing = true where id = %s",
    }
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as aconn:
        for k, iid in enumerate(ids):
            kind = ("ready", "pairing", "paused", "degraded", "new")[k % 5]
            kinds.setdefault(kind, []).append(iid)
            await aconn.execute(sets[kind], (iid,) if kind == "new" else (k, iid))
            if kind in ("ready", "degraded"):
                await aconn.execute(
                    "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text,"
                    " turn, planned_at, status, sent_at) values (%s, %s, %s, '5511999990000',"
                    " 'oi', 0, now(), 'sent', now())",
                    (uuid.uuid4(), tenant_id, iid),
                )
        await aconn.execute(
            "update conversations set name = %s where id = %s", (conversation, conversation_id)
        )
    kinds["conversation"] = [conversation_id]
    return kinds


async def test_the_overview_costs_the_same_statements_for_5_or_60_numbers(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    database: Database,
    bootstrap_conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The signed-in session stays cached between the warm request and the counted one, however
    # slow the machine (it is auth's cost, the same for every page, not the overview's).
    monkeypatch.setattr(auth_cache.sessions, "ttl_s", 3600.0)
    await sign_in(client, tenant_a)
    await _fleet(bootstrap_conninfo, tenant_a.tenant_id, 5)
    few = await warm_cost(client, database, "/")
    await _fleet(bootstrap_conninfo, tenant_a.tenant_id, 55, "Outra")
    many = await warm_cost(client, database, "/")
    # Context; settings; global switch; numbers counted; the numbers listed; their sends;
    # conversations (counts, waiting, next rounds, outcomes, failing); worker; team (2); the
    # fleet's risk bands (the numbers, their signals; the band thresholds only with signals).
    assert len(many) == len(few) <= 16, many
    assert sum("set_config('app.tenant_id'" in s for s in many) == 1, many
    live = await warm_cost(client, database, "/partials/overview")
    assert len(live) == len(many), live


async def test_the_overview_shows_the_fleet_and_links_to_where_to_act(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    await sign_in(client, tenant_a)
    kinds = await _fleet(bootstrap_conninfo, tenant_a.tenant_id, 10)
    page = (await client.get("/")).text
    assert "seção Números chega na próxima versão" not in page
    # Numbers by state and health.
    assert re.search(r'data-state-count="open">6<', page)
    assert re.search(r'data-state-count="close">2<', page)
    assert re.search(r'data-health-count="degraded">2<', page)
    # Alerts, each with where to act: a number to pair opens its pairing window.
    codes = re.findall(r'data-alert="(\w+)"', page)
    # (whether a job worker runs in this test process depends on the tests before it)
    assert [c for c in codes if c != "worker_missing"] == [
        "numbers_need_pairing",
        "numbers_not_paired",
        "numbers_paused",
        "numbers_degraded",
        "rounds_failing",
    ], codes
    for iid in kinds["pairing"]:
        assert f'href="/instances?connect={iid}"' in page
    assert f'href="/conversations/{kinds["conversation"][0]}"' in page
    # Today's sends against the caps: 4 numbers sent one each; capacity of those that can send
    # (2 ready ones on days 0 and 5: 20 + 50; 2 degraded on days 3 and 8: 10 + 50 → min with
    # the halved daily cap).
    assert re.search(r'id="stat-sends">.*?<span class="stat-value">4 ', page, re.S)
    # Warm-up step per number and what is planned next.
    assert "etapa 1 de 5" in page and "não iniciado" in page
    assert "Aquecimento Vendas" in page and "badge-round-planned" in page
    # With the kill switch on, it comes first, with the way to turn it off.
    await sql(
        bootstrap_conninfo,
        "insert into tenant_settings (id, tenant_id, kill_switch) values (gen_random_uuid(), %s,"
        " true) on conflict (tenant_id) do update set kill_switch = true",
        tenant_a.tenant_id,
    )
    page = (await client.get("/")).text
    first = re.search(r'data-alert="(\w+)"', page)
    assert first and first.group(1) == "kill_switch"
    assert 'href="/settings#cadence"' in page


async def test_the_overview_updates_live_when_a_number_changes(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await sign_in(client, tenant_a)
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    r = await client.post("/api/v1/instances", headers=auth, json={"display_name": "Ao Vivo"})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    cookies = dict(client.cookies.items())
    async with _open(gw.mirage_url, "/overview/events", cookies) as reader:
        await asyncio.sleep(0.2)
        r = await client.post(f"/api/v1/instances/{iid}/pause", headers=auth, json={})
        assert r.status_code == 200, r.text

        async def paused_shown() -> bool:
            return any('data-alert="numbers_paused"' in line for line in reader.lines)

        await eventually(paused_shown, timeout_s=20, what="the overview to show the pause")
        assert "event: overview" in reader.lines
