"""Webhook emission exactly like Evolution 2.3: envelope, event filter, byEvents suffix,
``jwt_key`` → ``Authorization: Bearer`` (HS256, 10 min), at-least-once with its retry schedule.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import structlog
from jwt.warnings import InsecureKeyLengthWarning

from mirage.simulator.config import SimulatorConfig
from mirage.simulator.scheduler import Scheduler

log = structlog.get_logger("mirage.simulator.webhooks")

# Every event name the webhook schema accepts, in config form (reference §5.2).
EVENTS: tuple[str, ...] = (
    "APPLICATION_STARTUP",
    "QRCODE_UPDATED",
    "MESSAGES_SET",
    "MESSAGES_UPSERT",
    "MESSAGES_EDITED",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "SEND_MESSAGE",
    "SEND_MESSAGE_UPDATE",
    "CONTACTS_SET",
    "CONTACTS_UPSERT",
    "CONTACTS_UPDATE",
    "PRESENCE_UPDATE",
    "CHATS_SET",
    "CHATS_UPSERT",
    "CHATS_UPDATE",
    "CHATS_DELETE",
    "GROUPS_UPSERT",
    "GROUP_UPDATE",
    "GROUP_PARTICIPANTS_UPDATE",
    "CONNECTION_UPDATE",
    "LABELS_EDIT",
    "LABELS_ASSOCIATION",
    "CALL",
    "TYPEBOT_START",
    "TYPEBOT_CHANGE_STATUS",
    "REMOVE_INSTANCE",
    "LOGOUT_INSTANCE",
    "INSTANCE_CREATE",
    "INSTANCE_DELETE",
    "STATUS_INSTANCE",
)

# Evolution does not retry these statuses (WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES).
NON_RETRYABLE_STATUSES = frozenset({400, 401, 403, 404, 422})
JWT_LIFETIME_S = 600
USER_AGENT = "axios/1.7.9"


def config_name(event: str) -> str:
    """``messages.upsert`` → ``MESSAGES_UPSERT`` (the form used in ``events[]``)."""
    return event.replace(".", "_").replace("-", "_").upper()


def url_suffix(event: str) -> str:
    """``messages.upsert`` → ``messages-upsert`` (the byEvents path segment)."""
    return config_name(event).lower().replace("_", "-")


def retry_delay_s(failed_attempts: int, rng: random.Random, scale: float) -> float:
    """Evolution ≥2.3.0: ``min(5·2^(n-1), 300)`` s ±20 % jitter, never below 5 s, then scaled."""
    base = min(5.0 * 2.0 ** (failed_attempts - 1), 300.0)
    jittered = max(5.0, base * (1.0 + rng.uniform(-0.2, 0.2)))
    return jittered * scale


def webhook_jwt(key: str, now: float | None = None) -> str:
    iat = int(now if now is not None else time.time())
    claims = {"iat": iat, "exp": iat + JWT_LIFETIME_S, "app": "evolution", "action": "webhook"}
    with warnings.catch_warnings():
        # Evolution signs with whatever key the operator configured; so must the simulator.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm="HS256")


def envelope_date_time(offset_min: int) -> str:
    # Evolution writes the container's local wall clock with a ``Z`` suffix (reference §5.1).
    local = datetime.now(UTC) + timedelta(minutes=offset_min)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class WebhookConfig:
    """One instance's webhook row (Prisma ``Webhook``)."""

    id: str
    instance_id: str
    url: str
    enabled: bool = True
    events: list[str] = field(default_factory=list)  # config form; [] = every event
    by_events: bool = False
    base64: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""

    def wants(self, event: str) -> bool:
        if not self.enabled:
            return False
        return not self.events or config_name(event) in self.events

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "headers": dict(self.headers),
            "enabled": self.enabled,
            "events": list(self.events),
            "webhookByEvents": self.by_events,
            "webhookBase64": self.base64,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "instanceId": self.instance_id,
        }


@dataclass(slots=True)
class WebhookFaults:
    """Delivery-side fault injection: duplicates and out-of-order arrival."""

    duplicate_rate: float = 0.0  # probability that an event is delivered twice
    reorder_ms: float = 0.0  # each event waits uniform(0, reorder_ms) before its first attempt


@dataclass(slots=True)
class Delivery:
    id: int
    instance: str
    event: str
    url: str
    body: bytes
    headers: dict[str, str]
    jwt_key: str | None
    attempts: int = 0
    state: str = "pending"  # pending | delivered | dropped | failed
    last_status: int | None = None
    last_error: str | None = None
    duplicate: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "instance": self.instance,
            "event": self.event,
            "url": self.url,
            "attempts": self.attempts,
            "state": self.state,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
            "duplicate": self.duplicate,
        }


class WebhookDispatcher:
    def __init__(
        self,
        config: Callable[[], SimulatorConfig],
        scheduler: Scheduler,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._scheduler = scheduler
        self._rng = rng
        self._client: httpx.AsyncClient | None = None
        self._ids = itertools.count(1)
        self.faults = WebhookFaults()
        self.log: deque[Delivery] = deque(maxlen=config().max_log_entries)
        self.stats: dict[str, int] = {}
        self._reset_stats()

    def _reset_stats(self) -> None:
        self.stats = {
            "emitted": 0,
            "attempts": 0,
            "delivered": 0,
            "retried": 0,
            "dropped": 0,
            "exhausted": 0,
            "duplicated": 0,
        }

    def reset(self) -> None:
        self.faults = WebhookFaults()
        self.log.clear()
        self._reset_stats()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Delivery goes to arbitrary operator-configured URLs; no redirects (axios' default
            # follows them, but a receiver that redirects is misconfigured and should show up).
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def emit(
        self,
        *,
        instance: str,
        token: str,
        webhook: WebhookConfig | None,
        sender: str | None,
        event: str,
        data: Any,
    ) -> None:
        """Queue one event for delivery (fire-and-forget, like Evolution's ``sendDataWebhook``)."""
        if webhook is None or not webhook.wants(event):
            return
        if not webhook.url.startswith(("http://", "https://")):
            return
        cfg = self._config()
        envelope: dict[str, Any] = {
            "event": event,
            "instance": instance,
            "data": data,
            "destination": webhook.url,
            "date_time": envelope_date_time(cfg.local_tz_offset_min),
        }
        # ``sender`` is absent until the instance's first ``open`` (reference §5.1).
        if sender is not None:
            envelope["sender"] = sender
        envelope["server_url"] = cfg.public_url
        envelope["apikey"] = token if cfg.expose_instance_token else None

        url = (
            webhook.url.rstrip("/") + "/" + url_suffix(event) if webhook.by_events else webhook.url
        )
        headers = {k: v for k, v in webhook.headers.items() if k.lower() != "jwt_key"}
        jwt_key = next((v for k, v in webhook.headers.items() if k.lower() == "jwt_key"), None)
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        self.stats["emitted"] += 1
        self._launch(instance, event, url, body, headers, jwt_key, duplicate=False)
        if self.faults.duplicate_rate and self._rng.random() < self.faults.duplicate_rate:
            self.stats["duplicated"] += 1
            self._launch(instance, event, url, body, headers, jwt_key, duplicate=True)

    def _launch(
        self,
        instance: str,
        event: str,
        url: str,
        body: bytes,
        headers: dict[str, str],
        jwt_key: str | None,
        *,
        duplicate: bool,
    ) -> None:
        delivery = Delivery(
            id=next(self._ids),
            instance=instance,
            event=event,
            url=url,
            body=body,
            headers=headers,
            jwt_key=jwt_key,
            duplicate=duplicate,
        )
        self.log.append(delivery)
        delay = 0.0
        if self.faults.reorder_ms:
            delay = self._rng.uniform(0.0, self.faults.reorder_ms) / 1000.0
        if delay > 0:
            self._scheduler.call_later(delay, lambda: self._attempt(delivery))
        else:
            self._scheduler.spawn(self._attempt(delivery))

    async def _attempt(self, delivery: Delivery) -> None:
        cfg = self._config()
        delivery.attempts += 1
        self.stats["attempts"] += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **delivery.headers,
        }
        if delivery.jwt_key:
            headers["Authorization"] = f"Bearer {webhook_jwt(delivery.jwt_key)}"
        retryable = True
        try:
            resp = await self._http().post(
                delivery.url,
                content=delivery.body,
                headers=headers,
                timeout=cfg.webhook_timeout_s,
            )
        except (httpx.HTTPError, OSError) as exc:
            # Timeouts and network errors are retried (reference §5.3).
            delivery.last_status = None
            delivery.last_error = f"{type(exc).__name__}: {exc}"
        else:
            delivery.last_status = resp.status_code
            delivery.last_error = None
            if 200 <= resp.status_code < 300:
                delivery.state = "delivered"
                self.stats["delivered"] += 1
                return
            retryable = resp.status_code not in NON_RETRYABLE_STATUSES
        if not retryable:
            delivery.state = "dropped"
            self.stats["dropped"] += 1
            return
        if delivery.attempts >= cfg.webhook_max_attempts:
            # No dead-letter queue in Evolution: the event is logged and gone.
            delivery.state = "failed"
            self.stats["exhausted"] += 1
            log.warning(
                "webhook delivery exhausted",
                instance=delivery.instance,
                webhook_event=delivery.event,
                url=delivery.url,
            )
            return
        self.stats["retried"] += 1
        delay = retry_delay_s(delivery.attempts, self._rng, cfg.webhook_retry_scale)
        self._scheduler.call_later(delay, lambda: self._attempt(delivery))
