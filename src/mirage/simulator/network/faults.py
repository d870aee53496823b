"""HTTP-side fault injection for the Evolution namespace: latency, spikes and error rates.

Faults are layered: the global ``RequestFaults`` first, then the addressed instance's own. The
webhook side (duplicates, reordering, failures) lives in ``mirage.simulator.webhooks``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

_INSTANCE_SCOPES = frozenset({"instance", "message", "chat", "webhook", "settings"})


@dataclass(slots=True)
class RequestFaults:
    """HTTP-side fault injection for the Evolution namespace (global or per instance)."""

    latency_ms: float = 0.0  # added before the request is handled
    spike_rate: float = 0.0  # probability of a latency spike…
    spike_ms: float = 0.0  # …held AFTER the handler ran: the work is done, the answer is late
    error_rate: float = 0.0  # probability of answering ``error_status`` instead
    error_status: int = 500
    error_mode: str = "mixed"  # before (nothing happened) | after (it happened) | mixed

    def active(self) -> bool:
        return bool(self.latency_ms or self.spike_rate or self.error_rate)

    def as_json(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "spikeRate": self.spike_rate,
            "spikeMs": self.spike_ms,
            "errorRate": self.error_rate,
            "errorStatus": self.error_status,
            "errorMode": self.error_mode,
        }


@dataclass(slots=True)
class FaultPlan:
    latency_s: float = 0.0
    spike_s: float = 0.0
    error_status: int | None = None
    error_after: bool = False


def plan_request(
    method: str,
    path: str,
    *,
    requests: Counter[str],
    global_faults: RequestFaults,
    instance_faults: Callable[[str], RequestFaults | None],
    rng: random.Random,
) -> FaultPlan:
    """Count the request and roll the dice for it (global faults, then the instance's)."""
    parts = path.split("/")
    template = path
    instance_name: str | None = None
    if len(parts) == 4 and parts[3] and parts[1] in _INSTANCE_SCOPES:
        template = "/".join(parts[:3])
        instance_name = unquote(parts[3])
    requests[f"{method} {template}"] += 1
    plan = FaultPlan()
    layers = [global_faults]
    if instance_name is not None:
        own = instance_faults(instance_name)
        if own is not None:
            layers.append(own)
    for faults in layers:
        if not faults.active():
            continue
        plan.latency_s += faults.latency_ms / 1000
        if faults.spike_rate and rng.random() < faults.spike_rate:
            plan.spike_s = max(plan.spike_s, faults.spike_ms / 1000)
        if plan.error_status is None and faults.error_rate and rng.random() < faults.error_rate:
            plan.error_status = faults.error_status
            mode = faults.error_mode
            plan.error_after = mode == "after" or (mode == "mixed" and rng.random() < 0.5)
    return plan
