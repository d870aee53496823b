"""/metrics carries the rollups' fleet figures with bounded labels (no tenant, no number): the
messages of the last 24 hours by direction, kind and outcome, and how stale the rollups are."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mirage.metrics import service
from mirage.ops import metrics as fleet_metrics
from tests.conftest import TenantFixture, sql


async def _scrape(client: httpx.AsyncClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    fleet_metrics.reset()
    r = await client.get("/metrics")
    assert r.status_code == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def _value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for lab, v in samples if all(lab.get(k) == x for k, x in labels.items()))


async def test_fleet_message_figures_and_rollup_age(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
    no_background_jobs: None,
) -> None:
    # Fleet-wide figures compared before and after: no job of an earlier test may add a
    # message (or refresh the rollups) in between.
    await service.refresh()
    before = await _scrape(client)
    instance = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, 'P', %s, 'x', 'x')",
        instance,
        tenant_a.tenant_id,
        f"p-{instance.hex}",
    )
    for status, rank in (("ERROR", 0), ("READ", 4)):
        m = uuid.uuid4()
        await sql(
            bootstrap_conninfo,
            "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
            "from_me, remote_jid, message_type, status, status_rank, status_history) values "
            "(%s, %s, %s, %s, 'outbound', true, 'x@s.whatsapp.net', 'conversation', %s, %s, "
            "'[]')",
            m,
            tenant_a.tenant_id,
            instance,
            m.hex,
            status,
            rank,
        )
    await service.refresh()
    after = await _scrape(client)

    messages = after["mirage_messages_last_24h"]
    assert len(messages) == 2 * 3 * 6  # every series exported, and no more
    assert {frozenset(lab) for lab, _ in messages} == {frozenset({"direction", "kind", "outcome"})}
    sent = {"direction": "outbound", "kind": "manual"}
    previous = before["mirage_messages_last_24h"]
    assert (
        _value(messages, **sent, outcome="total") - _value(previous, **sent, outcome="total") == 2
    )
    assert (
        _value(messages, **sent, outcome="failed") - _value(previous, **sent, outcome="failed") == 1
    )
    assert _value(messages, **sent, outcome="read") - _value(previous, **sent, outcome="read") == 1

    age = after["mirage_metrics_rollup_age_seconds"]
    assert {lab["of"] for lab, _ in age} == {"refresh", "watermark"}
    assert 0 <= _value(age, of="refresh") < 60
    assert after["mirage_metrics_refresh_duration_seconds"][0][1] >= 0
    for name, samples in after.items():
        for labels, _ in samples:
            assert "tenant" not in " ".join(labels), name
