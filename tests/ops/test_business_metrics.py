"""/metrics after some activity: webhook requests carry their route template (not
"unmatched"), and the fleet's business families are there with bounded label sets (no tenant
label): sends by outcome, policy decisions by reason, webhook events by type, rounds by
outcome, queue lag, numbers by state and health."""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mirage.ops import metrics as fleet_metrics
from tests.conftest import GatewayWorld, sql
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
    m = await _scrape(client)
    assert _value(m["mirage_metrics_snapshot_ok"]) == 0
    assert "mirage_http_requests_total" in m
    fleet_metrics.reset()
