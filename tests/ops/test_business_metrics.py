"""/metrics after some activity: webhook requests carry their route template (not
"unmatched"), and the fleet's business families are there with bounded label sets (no tenant
label): sends by outcome, policy decisions by reason, webhook events by type, rounds by
outcome, queue lag, numbers by state and health."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from mirage.db import engine as db_engine
from mirage.kit.http import limits as pool_limits
from mirage.ops import metrics as fleet_metrics
from mirage.worker import serve_health
from tests.conftest import GatewayWorld, TenantFixture, sql
from tests.conversations.conftest import WarmPair, conversation_body, start_now
from tests.conversations.conftest import warm as warm  # the fixture, for this module
from tests.conversations.test_rounds_flow import _round_done

FAMILIES = {
    "mirage_sends_last_hour": {"outcome"},
    "mirage_sends_pending": {"status"},
    "mirage_policy_decisions_last_hour": {"action", "reason"},
    "mirage_webhook_events_last_hour": {"event"},
    "mirage_rounds_last_hour": {"outcome"},
    "mirage_rounds_open": {"state"},
    "mirage_numbers": {"state", "health"},
    "mirage_queue_lag_seconds": {"queue"},
    "mirage_queue_jobs": {"queue", "status"},
}


async def _scrape(client: httpx.AsyncClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    fleet_metrics.reset()
    r = await client.get("/metrics")
    assert r.status_code == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    out["__text__"] = [({"text": r.text}, 0.0)]
    return out


def _value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for lab, v in samples if all(lab.get(k) == x for k, x in labels.items()))


@pytest.mark.timeout(300)
async def test_metrics_after_a_round(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    conv = (
        await client.post(
            "/api/v1/conversations",
            headers=warm.auth,
            json=conversation_body(warm, topics=["futebol"]),
        )
    ).json()
    await start_now(bootstrap_conninfo, conv["id"])
    rnd = await _round_done(client, warm, conv["id"])
    assert rnd["state"] == "completed", rnd
    await sql(
        bootstrap_conninfo,
        "insert into policy_decisions (id, tenant_id, action, reason) "
        "values (gen_random_uuid(), %s, 'defer', 'quiet_hours')",
        warm.tenant.tenant_id,
    )

    m = await _scrape(client)
    text = m.pop("__text__")[0][0]["text"]
    # The gateway's webhook calls (real HTTP, through the app) are labelled by route template.
    hooks = [
        lab
        for lab, _ in m["mirage_http_requests_total"]
        if lab["route"].startswith("/webhooks/evolution/")
    ]
    assert hooks, "no webhook request counted under its route"
    assert all(lab["route"] in WEBHOOK_ROUTES for lab in hooks), hooks
    assert not re.search(r'route="/webhooks/evolution/[0-9a-f-]{36}', text)

    assert _value(m["mirage_metrics_snapshot_ok"]) == 1
    for name, labels in FAMILIES.items():
        assert f"# TYPE {name} gauge" in text, f"{name} missing from /metrics"
        for lab, _ in m.get(name, []):
            assert set(lab) == labels, (name, lab)
            assert "tenant" not in lab and "tenant_id" not in lab
    assert _value(m["mirage_sends_last_hour"], outcome="sent") >= 2
    assert {lab["outcome"] for lab, _ in m["mirage_sends_last_hour"]} >= {"sent", "failed"}
    assert _value(m["mirage_rounds_last_hour"], outcome="completed") >= 1
    assert _value(m["mirage_policy_decisions_last_hour"], action="defer", reason="quiet_hours") >= 1
    assert _value(m["mirage_numbers"], state="open") >= 2
    events = {lab["event"] for lab, _ in m["mirage_webhook_events_last_hour"]}
    assert events, "no webhook event counted by type"
    assert all(re.fullmatch(r"[a-z_.]+", e) for e in events), events
    assert all(v >= 0 for _, v in m.get("mirage_queue_lag_seconds", []))
    assert m["mirage_queue_jobs"], "no queue counted"


WEBHOOK_ROUTES = {
    "/webhooks/evolution/{instance_id}",
    "/webhooks/evolution/{instance_id}/{event_suffix}",
}


async def test_metrics_still_answer_when_the_figures_cannot_be_read(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(fleet_metrics.FleetRepository, "snapshot", lambda self: broken())
    await client.get("/health")  # a request counted, even when this test runs alone
    m = await _scrape(client)
    assert _value(m["mirage_metrics_snapshot_ok"]) == 0
    assert "mirage_http_requests_total" in m
    fleet_metrics.reset()


async def test_alert_families_count_the_right_numbers_and_workers(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
    no_background_jobs: None,
) -> None:
    """The families deploy/alerts.yml relies on: connected numbers that cannot send, numbers
    that worked and are down (not an operator's logout, not banned), workers alive/stale.
    The families count the whole fleet: the session's job worker (earlier tests' jobs) must
    not change another number between the two scrapes (a full-run failure)."""
    before = await _scrape(client)
    # (state, state_reason, health, first connected, consecutive failures, needs pairing)
    rows = [
        ("open", None, "degraded", True, 3, False),  # connected but cannot send
        ("open", None, "healthy", True, 2, False),  # two failures: not yet
        ("close", 401, "degraded", True, 0, True),  # logged out from the phone
        ("close", 408, "healthy", True, 0, False),  # lost the connection
        ("close", 1401, "healthy", True, 0, True),  # an operator logged it out
        ("close", 403, "banned", True, 0, True),  # banned: its own alert
        ("close", None, "healthy", False, 0, True),  # never paired
    ]
    for state, reason, health, paired, failures, pairing in rows:
        rid = uuid.uuid4()
        await sql(
            bootstrap_conninfo,
            "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
            "webhook_secret_enc, state, state_reason, health, first_connected_at, "
            "consecutive_send_failures, needs_pairing) values (%s, %s, %s, %s, 'x', 'x', %s, "
            "%s, %s, case when %s then now() end, %s, %s)",
            rid,
            tenant_a.tenant_id,
            f"a-{rid.hex[:8]}",
            f"a-{rid.hex}",
            state,
            reason,
            health,
            paired,
            failures,
            pairing,
        )
    workers = await sql(
        bootstrap_conninfo,
        "insert into procrastinate_workers (last_heartbeat) values (now()), "
        "(now() - interval '5 minutes') returning id",
    )
    try:
        after = await _scrape(client)
    finally:
        await sql(
            bootstrap_conninfo,
            "delete from procrastinate_workers where id = any(%s)",
            [w[0] for w in workers],
        )

    def delta(name: str, **labels: str) -> float:
        return _value(after.get(name, []), **labels) - _value(before.get(name, []), **labels)

    assert delta("mirage_numbers_cannot_send") == 1
    assert delta("mirage_numbers_disconnected", needs_pairing="true") == 1
    assert delta("mirage_numbers_disconnected", needs_pairing="false") == 1
    assert delta("mirage_numbers", health="banned") == 1
    assert _value(after["mirage_workers"], state="alive") >= 1
    assert _value(after["mirage_workers"], state="stale") >= 1
    assert {lab["state"] for lab, _ in after["mirage_workers"]} == {"alive", "stale"}


async def test_pool_families_in_the_api_and_the_worker(client: httpx.AsyncClient) -> None:
    db = db_engine.get_database()
    most = db.app_engine.sync_engine.pool.size() * 2  # make_database: max_overflow = size
    # Counted exactly on pools of their own: the process's shared pools also serve its job
    # worker, whose jobs take and give back connections meanwhile (a full-run failure).
    own = db_engine.make_database(db.urls, pool_size=2, application_name="mirage-test")
    try:
        assert db_engine.pool_usage(own)["app"] == (0, 0, 4)
        async with own.sessions() as session:
            await session.execute(text("select 1"))  # holds a connection until the block ends
            assert db_engine.pool_usage(own)["app"] == (1, 0, 4)
        assert db_engine.pool_usage(own)["app"] == (0, 1, 4)
    finally:
        await own.dispose()
    m = await _scrape(client)
    assert _value(m["mirage_db_pool_max_connections"], pool="app") == most
    assert {lab["state"] for lab, _ in m["mirage_db_pool_connections"]} == {"in_use", "idle"}

    # A worker serves the same families on its health port.
    server = await serve_health(_Ready(), "127.0.0.1", 0)  # type: ignore[arg-type]
    try:
        port = server.sockets[0].getsockname()[1]
        async with httpx.AsyncClient(limits=pool_limits()) as c:
            r = await c.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.close()
        await server.wait_closed()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, s.labels.get("pool"))
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
    }
    assert ("mirage_db_pool_max_connections", "app") in samples


class _Ready:
    def snapshot(self) -> dict[str, object]:
        return {"ready": True}


def test_fleet_queries_use_the_health_verdicts_figures() -> None:
    """ops cannot import instances (layers): its copies of the verdict's figures stay equal."""
    from mirage.instances import health
    from mirage.ops import repository

    assert repository.CANNOT_SEND_FAILURES == health.DEGRADED_FAILURES
    assert repository.OPERATOR_LOGOUT_CODE == health.OPERATOR_LOGOUT
