"""Simulator configuration: one small, immutable value handed to ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# The Evolution release whose behaviour the simulator reproduces (reference/evolution-api.md §0).
EVOLUTION_VERSION = "2.3.6"


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Knobs of the simulated gateway and network.

    Defaults reproduce the real gateway's timings; tests shrink them with the scale factors
    instead of special-casing code paths, so the same state machine runs everywhere.
    """

    # The global ``apikey`` (Evolution's AUTHENTICATION_API_KEY).
    api_key: str = "mirage-sim-key"
    # Where the simulator is reachable; sent as ``server_url`` in every webhook envelope.
    public_url: str = "http://127.0.0.1:8081"
    # Multiplies Evolution's webhook retry delays (5 s, 10 s, … capped at 300 s). 0.001 → ms.
    webhook_retry_scale: float = 1.0
    # Total delivery attempts per webhook event (WEBHOOK_RETRY_MAX_ATTEMPTS).
    webhook_max_attempts: int = 10
    # Per-attempt HTTP timeout for webhook deliveries (WEBHOOK_REQUEST_TIMEOUT_MS).
    webhook_timeout_s: float = 30.0
    # Delivery tasks (each with one keep-alive connection) per receiver (scheme, host, port).
    webhook_concurrency: int = 64
    # Unsettled deliveries (queued, in flight, waiting for a retry) per receiver; past this,
    # new events for it are counted as ``overflowed`` and not sent (a receiver down for long).
    webhook_queue_limit: int = 50_000
    # A new QR every ``qr_interval_s`` while connecting (Baileys qrTimeout = 45 s).
    qr_interval_s: float = 45.0
    # QRCODE_LIMIT: after this many QR codes the session is refused and closed.
    qr_limit: int = 30
    # Seeds every random choice (ids, numbers, fault dice) for reproducible runs.
    seed: int | None = None
    # Multiplies simulated network and human timings: the ~5 s wait of create(qrcode=true), the
    # ~2 s wait of connect, acks, reading, contact replies, silent reconnects. 0 = immediate.
    time_scale: float = 1.0
    # Numbers that are neither instances nor configured contacts: on WhatsApp or not.
    unknown_numbers_exist: bool = True
    # AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES: put the instance token in envelopes' ``apikey``.
    expose_instance_token: bool = True
    # Evolution writes local wall-clock time with a ``Z`` suffix; simulate a non-UTC container.
    local_tz_offset_min: int = 0
    # Bounded memory: messages kept per instance and network-wide log lengths.
    max_messages_per_instance: int = 2000
    max_log_entries: int = 5000

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        if self.qr_interval_s <= 0:
            raise ValueError("qr_interval_s must be positive")
        if self.qr_limit < 1:
            raise ValueError("qr_limit must be at least 1")
        if self.webhook_retry_scale < 0 or self.time_scale < 0:
            raise ValueError("scale factors must be >= 0")
        if self.webhook_max_attempts < 1:
            raise ValueError("webhook_max_attempts must be at least 1")
        if self.webhook_concurrency < 1 or self.webhook_queue_limit < 1:
            raise ValueError("webhook_concurrency and webhook_queue_limit must be at least 1")
        if self.webhook_timeout_s <= 0:
            raise ValueError("webhook_timeout_s must be positive")

    def with_changes(self, **changes: Any) -> SimulatorConfig:
        return replace(self, **changes)


# Runtime-tunable fields (PUT /_sim/config) and their JSON (camelCase) names.
TUNABLE_FIELDS: dict[str, str] = {
    "webhookRetryScale": "webhook_retry_scale",
    "webhookMaxAttempts": "webhook_max_attempts",
    "webhookTimeoutS": "webhook_timeout_s",
    "webhookConcurrency": "webhook_concurrency",
    "webhookQueueLimit": "webhook_queue_limit",
    "qrIntervalS": "qr_interval_s",
    "qrLimit": "qr_limit",
    "timeScale": "time_scale",
    "unknownNumbersExist": "unknown_numbers_exist",
    "exposeInstanceToken": "expose_instance_token",
    "localTzOffsetMin": "local_tz_offset_min",
}
