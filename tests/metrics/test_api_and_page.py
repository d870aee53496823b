"""/api/v1/metrics and the Métricas page: the figures of the rollups for the tenant's own numbers
only, days in the tenant's zone, bad filters refused as problem+json (API) or explained (page),
the per-number table exported as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from mirage.metrics import service
from tests.conftest import TenantFixture, make_token, sign_in, sql


async def _auth(t: TenantFixture) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(t, ('read',))}"}


async def _number(conninfo: str, t: TenantFixture, name: str) -> uuid.UUID:
    i = uuid.uuid4()
    await sql(
        conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, %s, %s, 'x', 'x')",
        i,
        t.tenant_id,
        name,
        f"m-{i.hex}",
    )
    return i


async def _message(
    conninfo: str, t: TenantFixture, instance: uuid.UUID, direction: str, status: str, rank: int
) -> None:
    m = uuid.uuid4()
    await sql(
        conninfo,
        "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
        "from_me, remote_jid, message_type, status, status_rank, status_history) "
        "values (%s, %s, %s, %s, %s, %s, '5521900000009@s.whatsapp.net', 'conversation', "
        "%s, %s, '[]')",
        m,
        t.tenant_id,
        instance,
        m.hex,
        direction,
        direction == "outbound",
        status,
        rank,
    )


@pytest.fixture
async def seeded(bootstrap_conninfo: str, tenant_a: TenantFixture) -> dict[str, Any]:
    """Tenant A: number "Alpha" sent 3 (1 read, 1 delivered, 1 failed) and received 2 (one a
    reply); number "Beta" received 1; one policy deferral by quiet hours; folded."""
    alpha = await _number(bootstrap_conninfo, tenant_a, "Alpha")
    beta = await _number(bootstrap_conninfo, tenant_a, "Beta")
    for status, rank in (("READ", 4), ("DELIVERY_ACK", 3), ("ERROR", 0)):
        await _message(bootstrap_conninfo, tenant_a, alpha, "outbound", status, rank)
    for _ in range(2):
        await _message(bootstrap_conninfo, tenant_a, alpha, "inbound", "DELIVERY_ACK", 3)
    await _message(bootstrap_conninfo, tenant_a, beta, "inbound", "DELIVERY_ACK", 3)
    await sql(
        bootstrap_conninfo,
        "insert into policy_decisions (id, tenant_id, instance_id, action, reason) "
        "values (%s, %s, %s, 'defer', 'quiet_hours')",
        uuid.uuid4(),
        tenant_a.tenant_id,
        alpha,
    )
    await sql(
        bootstrap_conninfo,
        "insert into number_signals (id, tenant_id, instance_id, kind, code, at) "
        "values (%s, %s, %s, 'disconnect', 401, now() - interval '1 hour')",
        uuid.uuid4(),
        tenant_a.tenant_id,
        beta,
    )
    # Alpha connected four days ago and sent on each of the last three (complete) days, all
    # green: warm-up stage 3 (number safety). Beta never connected: no stage.
    await sql(
        bootstrap_conninfo,
        "update instances set first_connected_at = now() - interval '4 days' where id = %s",
        alpha,
    )
    for ago in (1, 2, 3):
        await sql(
            bootstrap_conninfo,
            "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
            "planned_at, purpose, status, sent_at) values (%s, %s, %s, '5521900000009', 'oi', "
            "0, now(), 'warmup', 'sent', now() - make_interval(days => %s))",
            uuid.uuid4(),
            tenant_a.tenant_id,
            alpha,
            ago,
        )
    await service.refresh()
    return {"alpha": alpha, "beta": beta}


async def test_api_series(
    client: httpx.AsyncClient, tenant_a: TenantFixture, seeded: dict[str, Any]
) -> None:
    auth = await _auth(tenant_a)
    r = await client.get("/api/v1/metrics/daily", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"]["days"] == 7 and len(body["days"]) == 7
    today = body["days"][-1]
    assert (today["sent"], today["received"], today["failed"]) == (3, 3, 1)
    assert sum(d["sent"] for d in body["days"][:-1]) == 0

    r = await client.get("/api/v1/metrics/numbers", headers=auth, params={"days": 30})
    rows = {n["name"]: n for n in r.json()["numbers"]}
    alpha = rows["Alpha"]
    assert (alpha["sent"], alpha["received"], alpha["delivered"], alpha["read"]) == (3, 2, 2, 1)
    assert (alpha["replied"], alpha["failed"]) == (2, 1)
    assert alpha["delivered_pct"] == pytest.approx(66.7)
    assert rows["Beta"]["sent"] == 0 and rows["Beta"]["delivered_pct"] is None
    # Each number's live risk (number safety): no signal is green; Beta was logged out from
    # the phone an hour ago (60 points, halved by the two-hour half-life: 42).
    assert (alpha["risk_score"], alpha["risk_band"]) == (0, "green")
    assert (rows["Beta"]["risk_score"], rows["Beta"]["risk_band"]) == (42, "orange")
    # Each number's warm-up stage now, read for the whole table at once.
    assert (alpha["warmup_stage"], rows["Beta"]["warmup_stage"]) == (3, None)

    r = await client.get(
        "/api/v1/metrics/heatmap", headers=auth, params={"number": str(seeded["beta"])}
    )
    assert sum(map(sum, r.json()["cells"])) == 1

    r = await client.get("/api/v1/metrics/policy-decisions", headers=auth)
    assert r.json()["counts"] == [{"key": "quiet_hours", "action": "defer", "count": 1}]

    r = await client.get("/api/v1/metrics", headers=auth, params={"days": 1})
    summary = r.json()
    assert summary["by_kind"]["outbound"] == {"manual": 3}
    assert summary["fresh_as_of"] is not None


async def test_api_is_per_tenant_and_refuses_bad_filters(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    seeded: dict[str, Any],
) -> None:
    other = await _auth(tenant_b)
    r = await client.get("/api/v1/metrics/numbers", headers=other)
    assert r.status_code == 200 and r.json()["numbers"] == []
    # A's number from B: unknown there.
    r = await client.get(
        "/api/v1/metrics/daily", headers=other, params={"number": str(seeded["alpha"])}
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    for params in ({"days": 0}, {"days": 400}, {"days": "x"}, {"number": "not-a-uuid"}):
        r = await client.get("/api/v1/metrics/daily", headers=other, params=params)
        assert r.status_code == 422, params
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/metrics/daily")).status_code == 401


async def test_page_filters_and_csv(
    client: httpx.AsyncClient, tenant_a: TenantFixture, seeded: dict[str, Any]
) -> None:
    await sign_in(client, tenant_a)
    r = await client.get("/analytics")
    assert r.status_code == 200
    html = r.text
    assert 'id="chart-daily"' in html and 'id="metrics-data"' in html
    assert "Alpha" in html and "Beta" in html
    assert 'data-sort="3" class="warmup-stage">Etapa 4 de 5</td>' in html
    assert 'sse-connect="/analytics/events?days=7&amp;live_since=' in html

    r = await client.get("/analytics", params={"number": str(seeded["beta"]), "days": 30})
    assert r.status_code == 200
    assert '<td data-label="Número" data-sort="Beta">' in r.text
    assert 'data-sort="Alpha"' not in r.text

    r = await client.get("/analytics", params={"days": "999", "number": "nope"})
    assert r.status_code == 200
    assert "Período desconhecido" in r.text and "Número desconhecido" in r.text

    r = await client.get("/analytics/numbers.csv", params={"days": 7})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    alpha = next(row for row in rows if row["number"] == "Alpha")
    assert (alpha["sent"], alpha["received"], alpha["delivered_pct"]) == ("3", "2", "66.7")
    assert (alpha["risk_score"], alpha["risk_band"]) == ("0", "green")
    assert alpha["warmup_stage"] == "3"

    r = await client.get("/partials/analytics", params={"days": 1})
    assert r.status_code == 200 and 'id="numbers-table"' in r.text


async def _campaign(conninfo: str, t: TenantFixture, name: str, statuses: list[Any]) -> uuid.UUID:
    """A started campaign whose recipients are at ``statuses`` ((status, reason) pairs)."""
    policy, campaign = uuid.uuid4(), uuid.uuid4()
    await sql(
        conninfo,
        "insert into outreach_policies (id, tenant_id, name, weekdays, dayparts, contact_start, "
        "contact_end, optout_keywords, confirmation_text, validity_minutes, duplicate_limit, "
        "duplicate_window_minutes) values (%s, %s, %s, '{0,1,2,3,4}', '{morning}', '08:00', "
        "'18:00', '{}', 'ok', 240, 3, 60)",
        policy,
        t.tenant_id,
        f"p-{policy.hex[:8]}",
    )
    await sql(
        conninfo,
        "insert into campaigns (id, tenant_id, name, policy_id, variants, state, started_at) "
        "values (%s, %s, %s, %s, '{oi}', 'running', now())",
        campaign,
        t.tenant_id,
        name,
        policy,
    )
    for status, reason in statuses:
        rid = uuid.uuid4()
        await sql(
            conninfo,
            "insert into campaign_recipients (id, tenant_id, campaign_id, contact_id, "
            "phone_e164) values (%s, %s, %s, %s, '+5511999990000')",
            rid,
            t.tenant_id,
            campaign,
            uuid.uuid4(),
        )
        if status != "planned":  # forward from planned, as the execution moves them
            await sql(
                conninfo,
                "update campaign_recipients set status = %s, reason = %s where id = %s",
                status,
                reason,
                rid,
            )
    return campaign


async def test_campaign_funnels_in_the_api_and_the_page(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    """planned (all) → sent → delivered → read → replied counts every recipient that got at
    least that far; what was not sent is counted by status and reason; a campaign filter
    narrows the funnels; another tenant's campaign is unknown."""
    news = await _campaign(
        bootstrap_conninfo,
        tenant_a,
        "Novidades",
        [
            ("planned", None),
            ("deferred", "quiet_hours"),
            ("sent", None),
            ("delivered", None),
            ("read", None),
            ("replied", None),
            ("skipped", "suppressed"),
            ("skipped", "suppressed"),
            ("failed", "gateway"),
        ],
    )
    other = await _campaign(bootstrap_conninfo, tenant_a, "Outra", [("sent", None)])
    foreign = await _campaign(bootstrap_conninfo, tenant_b, "Alheia", [("sent", None)])
    await service.refresh()

    auth = await _auth(tenant_a)
    r = await client.get("/api/v1/metrics/campaigns", headers=auth)
    assert r.status_code == 200, r.text
    funnels = {c["name"]: c for c in r.json()["campaigns"]}
    assert set(funnels) == {"Novidades", "Outra"}
    n = funnels["Novidades"]
    assert (n["planned"], n["sent"], n["delivered"], n["read"], n["replied"]) == (9, 4, 3, 2, 1)
    assert n["waiting"] == 2
    assert n["skipped"] == {"suppressed": 2} and n["failed"] == {"gateway": 1}
    assert n["expired"] == {}

    r = await client.get("/api/v1/metrics", headers=auth, params={"campaign": str(other)})
    assert [c["name"] for c in r.json()["campaigns"]] == ["Outra"]
    for params in ({"campaign": str(foreign)}, {"campaign": "x"}):
        r = await client.get("/api/v1/metrics/campaigns", headers=auth, params=params)
        assert r.status_code == 422, params
        assert r.headers["content-type"].startswith("application/problem+json")

    await sign_in(client, tenant_a)
    r = await client.get("/analytics", params={"campaign": str(news)})
    assert r.status_code == 200
    assert f'id="funnel-{news}"' in r.text and f'id="funnel-{other}"' not in r.text
    assert '<strong data-step="replied">1</strong>' in r.text
    assert 'data-status="skipped" data-reason="suppressed"' in r.text
    assert f'sse-connect="/analytics/events?days=7&amp;campaign={news}&amp;live_since=' in r.text
    r = await client.get("/analytics", params={"campaign": str(foreign)})
    assert r.status_code == 200 and "Campanha desconhecida" in r.text
    assert f'id="funnel-{news}"' in r.text  # every campaign instead


async def test_conversation_filter_in_the_api_and_the_page(
    bootstrap_conninfo: str,
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    seeded: dict[str, Any],
) -> None:
    """A warm-up conversation's messages (a send naming it, and its copy received by the
    tenant's other number), rounds and policy decisions: the only figures under its filter."""
    conninfo, alpha, beta = bootstrap_conninfo, seeded["alpha"], seeded["beta"]
    conv = uuid.uuid4()
    await sql(
        conninfo,
        "insert into conversations (id, tenant_id, name, topics, windows) "
        "values (%s, %s, 'Papo', '{futebol}', '{}')",
        conv,
        tenant_a.tenant_id,
    )
    await sql(
        conninfo,
        "update instances set owner_jid = '5511900000001@s.whatsapp.net' where id = %s",
        alpha,
    )
    key = uuid.uuid4().hex
    for instance, direction, remote in (
        (alpha, "outbound", "5511900000002@s.whatsapp.net"),
        (beta, "inbound", "5511900000001@s.whatsapp.net"),  # Alpha's send, as Beta got it
    ):
        await sql(
            conninfo,
            "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
            "from_me, remote_jid, message_type, status, status_rank, status_history) values "
            "(%s, %s, %s, %s, %s, %s, %s, 'conversation', 'READ', 4, '[]')",
            uuid.uuid4(),
            tenant_a.tenant_id,
            instance,
            key,
            direction,
            direction == "outbound",
            remote,
        )
    await sql(
        conninfo,
        "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
        "planned_at, purpose, status, sent_at, provider_message_id, conversation_id) values "
        "(%s, %s, %s, '5511900000002', 'oi', 0, now(), 'warmup', 'sent', now(), %s, %s)",
        uuid.uuid4(),
        tenant_a.tenant_id,
        alpha,
        key,
        conv,
    )
    await sql(
        conninfo,
        "insert into rounds (id, tenant_id, conversation_id, topic, exchanges, planned_at, "
        "state, ended_at) values (%s, %s, %s, 'futebol', 2, now(), 'completed', now())",
        uuid.uuid4(),
        tenant_a.tenant_id,
        conv,
    )
    await sql(
        conninfo,
        "insert into policy_decisions (id, tenant_id, instance_id, conversation_id, action, "
        "reason) values (%s, %s, %s, %s, 'deny', 'hourly_cap')",
        uuid.uuid4(),
        tenant_a.tenant_id,
        alpha,
        conv,
    )
    await service.refresh()

    auth = await _auth(tenant_a)
    only = {"conversation": str(conv)}
    r = await client.get("/api/v1/metrics/daily", headers=auth, params=only)
    assert r.status_code == 200, r.text
    assert r.json()["period"]["conversation"] == str(conv)
    today = r.json()["days"][-1]
    assert (today["sent"], today["received"], today["failed"]) == (1, 1, 0)
    r = await client.get("/api/v1/metrics/numbers", headers=auth, params=only)
    rows = {n["name"]: n for n in r.json()["numbers"]}
    assert (rows["Alpha"]["sent"], rows["Alpha"]["read"], rows["Alpha"]["received"]) == (1, 1, 0)
    assert (rows["Beta"]["sent"], rows["Beta"]["received"]) == (0, 1)
    # Unfiltered, the same day has every message.
    r = await client.get("/api/v1/metrics/daily", headers=auth)
    assert r.json()["days"][-1]["sent"] == 4
    r = await client.get("/api/v1/metrics/rounds", headers=auth, params=only)
    assert r.json()["counts"] == [{"key": "completed", "action": None, "count": 1}]
    r = await client.get("/api/v1/metrics/policy-decisions", headers=auth, params=only)
    assert r.json()["counts"] == [{"key": "hourly_cap", "action": "deny", "count": 1}]
    r = await client.get(
        "/api/v1/metrics/heatmap", headers=auth, params={**only, "number": str(beta)}
    )
    assert sum(map(sum, r.json()["cells"])) == 1
    r = await client.get("/api/v1/metrics", headers=auth, params=only)
    assert r.json()["by_kind"] == {"inbound": {"warmup": 1}, "outbound": {"warmup": 1}}

    # Another tenant's conversation, or not a UUID: refused as problem+json.
    other = await _auth(tenant_b)
    for params, headers in ((only, other), ({"conversation": "x"}, auth)):
        r = await client.get("/api/v1/metrics/rounds", headers=headers, params=params)
        assert r.status_code == 422, params
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/api/v1/metrics/daily", headers=other, params=only)
    assert "conversation" in r.text.lower()

    await sign_in(client, tenant_a)
    r = await client.get("/analytics", params=only)
    assert r.status_code == 200
    assert f'<option value="{conv}" selected>Papo</option>' in r.text
    assert (
        f'sse-connect="/analytics/events?days=7&amp;conversation={conv}&amp;live_since=' in r.text
    )
    r = await client.get("/analytics/numbers.csv", params=only)
    rows_csv = {row["number"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert (rows_csv["Alpha"]["sent"], rows_csv["Beta"]["received"]) == ("1", "1")
    r = await client.get("/analytics", params={"conversation": str(uuid.uuid4())})
    assert r.status_code == 200 and "Conversa desconhecida" in r.text
