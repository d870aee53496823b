"""The fleet's business metrics for /metrics, read from the database at scrape time.

Sends, policy decisions, rounds and webhook events happen in workers and API replicas alike
(a worker serves no HTTP): counting them in one process's memory would show a fraction of the
fleet. The database holds every one, so a scrape of any replica reads the fleet's figures
there — aggregated without a tenant label (every label is bounded by an enum or the gateway's
event names), in one short read-only transaction with a statement timeout, at most once per
``SNAPSHOT_TTL_S`` per process (several Prometheus servers scraping cost one read).

Figures over "the last hour" are gauges: ``mirage_sends_last_hour{outcome="failed"} > 10``
is an alert as it stands, with no rate() over counters that each replica would reset.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from mirage.db.engine import admin_session_scope
from mirage.kit.logging import get_logger
from mirage.ops.repository import FleetRepository

log = get_logger(__name__)

SNAPSHOT_TTL_S = 10.0
Snapshot = dict[str, dict[str, float]]

# name -> (help, labels, snapshot key); a key of two labels is stored as "a|b".
FAMILIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "mirage_sends_last_hour": (
        "Outgoing messages that reached an outcome in the last hour, by outcome",
        ("outcome",),
        "sends",
    ),
    "mirage_sends_pending": (
        "Outgoing messages not yet final (planned, or claimed and being sent)",
        ("status",),
        "sends_open",
    ),
    "mirage_policy_decisions_last_hour": (
        "Policy decisions (defer or deny) of the last hour, by action and reason",
        ("action", "reason"),
        "decisions",
    ),
    "mirage_webhook_events_last_hour": (
        "Gateway webhook events received in the last hour, by event type",
        ("event",),
        "webhooks",
    ),
    "mirage_rounds_last_hour": (
        "Warm-up rounds that ended in the last hour, by outcome",
        ("outcome",),
        "rounds",
    ),
    "mirage_rounds_open": ("Warm-up rounds planned or running", ("state",), "rounds_open"),
    "mirage_numbers": (
        "WhatsApp numbers by connection state and health",
        ("state", "health"),
        "numbers",
    ),
    "mirage_numbers_cannot_send": (
        "Connected numbers whose recent sends failed in a row (the health verdict's "
        "'connected but cannot send')",
        (),
        "cannot_send",
    ),
    "mirage_numbers_disconnected": (
        "Numbers paired before that are not connected now (an operator's logout and banned "
        "numbers excluded), by whether they must be paired again",
        ("needs_pairing",),
        "disconnected",
    ),
    "mirage_workers": (
        "Registered workers by heartbeat: alive (a heartbeat in the last 60 s) or stale",
        ("state",),
        "workers",
    ),
    "mirage_queue_lag_seconds": (
        "Age of the oldest job that is due and not started, per queue (0 when none waits)",
        ("queue",),
        "queue_lag",
    ),
    "mirage_queue_jobs": (
        "Jobs waiting (todo) or running (doing), per queue",
        ("queue", "status"),
        "queue_jobs",
    ),
    "mirage_messages_last_24h": (
        "Messages of the last 24 whole UTC hours (current included), from the metrics rollups, "
        "by direction, kind (warmup, campaign, manual) and outcome",
        ("direction", "kind", "outcome"),
        "messages_24h",
    ),
    "mirage_metrics_rollup_age_seconds": (
        "Seconds since the metrics rollups were last refreshed (of=refresh) and since their "
        "watermark (of=watermark: facts changed after it are not counted yet)",
        ("of",),
        "rollup_age",
    ),
    "mirage_metrics_refresh_duration_seconds": (
        "Duration of the last metrics refresh",
        ("job",),
        "rollup_refresh",
    ),
}
OUTCOMES = ("total", "delivered", "read", "replied", "failed", "opted_out")
# Label values always exported (0 when nothing happened), so that a panel or an alert has a
# series to read before the first event.
ALWAYS: dict[str, Iterable[tuple[str, ...]]] = {
    "mirage_sends_last_hour": [("sent",), ("failed",), ("unknown",), ("cancelled",)],
    "mirage_sends_pending": [("planned",), ("sending",)],
    "mirage_rounds_open": [("planned",), ("running",)],
    "mirage_numbers_cannot_send": [()],
    "mirage_numbers_disconnected": [("true",), ("false",)],
    "mirage_workers": [("alive",), ("stale",)],
    "mirage_messages_last_24h": [
        (d, k, o)
        for d in ("inbound", "outbound")
        for k in ("warmup", "campaign", "manual")
        for o in OUTCOMES
    ],
}


class _Fleet(Collector):
    def __init__(self, snapshot: Snapshot | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(
            "mirage_metrics_snapshot_ok",
            "1 when the business figures below were read from the database, 0 when not",
        )
        ok.add_metric([], 1 if self.snapshot is not None else 0)
        yield ok
        if self.snapshot is None:
            return
        for name, (help_text, labels, key) in FAMILIES.items():
            family = GaugeMetricFamily(name, help_text, labels=list(labels))
            values: dict[tuple[str, ...], float] = dict.fromkeys(ALWAYS.get(name, ()), 0.0)
            if name == "mirage_queue_lag_seconds":  # every queue with jobs: 0 when none waits
                queues = {k.split("|", 1)[0] for k in self.snapshot.get("queue_jobs", {})}
                values.update({(q,): 0.0 for q in queues})
            for joined, value in self.snapshot.get(key, {}).items():
                parts = tuple(joined.split("|", len(labels) - 1)) if labels else ()
                if len(parts) == len(labels):
                    values[parts] = value
            for label_values, value in sorted(values.items()):
                family.add_metric(list(label_values), value)
            yield family


_cache: tuple[float, Snapshot | None] | None = None


async def snapshot() -> Snapshot | None:
    """The fleet's figures (None when the database could not be read: /metrics still
    answers, with ``mirage_metrics_snapshot_ok 0``)."""
    global _cache
    now = time.monotonic()
    if _cache is not None and now - _cache[0] < SNAPSHOT_TTL_S:
        return _cache[1]
    try:
        async with admin_session_scope() as session:
            result: Snapshot | None = await FleetRepository(session).snapshot()
    except Exception as exc:  # the process's own metrics must still be served
        log.warning("metrics.snapshot_failed", error=type(exc).__name__, detail=str(exc)[:300])
        result = None
    _cache = (now, result)
    return result


def reset() -> None:
    """Forget the cached snapshot (tests)."""
    global _cache
    _cache = None


async def exposition() -> bytes:
    """The business families in Prometheus' text format (appended to the process's own)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fleet(await snapshot()))
    return generate_latest(registry)
