"""Webhook emission exactly like Evolution 2.3: envelope, event filter, byEvents suffix,
``jwt_key`` → ``Authorization: Bearer`` (HS256, 10 min), at-least-once with its retry schedule.

Delivery is bounded per receiver: a FIFO queue, a fixed pool of sending tasks with keep-alive
connections (``http1``), and a cap on unsettled events with a counted overflow
(``WebhookDispatcher``).
"""

from __future__ import annotations

import asyncio
import contextlib
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

import jwt
import structlog
from jwt.warnings import InsecureKeyLengthWarning

from mirage.simulator import http1
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


_stamp: tuple[int, int, str] = (0, 0, "")  # (epoch ms, offset, text): events come in bursts


def envelope_date_time(offset_min: int) -> str:
    # Evolution writes the container's local wall clock with a ``Z`` suffix (reference §5.1).
    global _stamp
    now_ms = time.time_ns() // 1_000_000
    if _stamp[0] == now_ms and _stamp[1] == offset_min:
        return _stamp[2]
    local = datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(minutes=offset_min)
    text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now_ms % 1000:03d}Z"
    _stamp = (now_ms, offset_min, text)
    return text


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
    state: str = "pending"  # pending | delivered | dropped | failed | overflowed
    last_status: int | None = None
    last_error: str | None = None
    duplicate: bool = False
    target: http1.Target | None = None  # the parsed ``url``
    head: bytes | None = None  # the request head, when it does not change between attempts

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


# Sent with every delivery (what httpx sent before; receivers only look at Content-Type).
# Custom headers replace these by name, case-insensitively; Host and Content-Length are ours.
_BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Connection", "keep-alive"),
    ("User-Agent", USER_AGENT),
    ("Content-Type", "application/json"),
)
_OURS = frozenset({"host", "content-length", "transfer-encoding"})

# A destination whose queue has been empty this long closes its connections and ends its
# delivery tasks (one timer per active destination notices; an idle one costs nothing).
DESTINATION_IDLE_S = 30.0


class _Destination:
    """One receiver (scheme, host, port): a FIFO queue and up to N delivery tasks, each with
    its own keep-alive connection."""

    __slots__ = (
        "idle_timer",
        "last_active",
        "outstanding",
        "queue",
        "target",
        "waiters",
        "workers",
    )

    def __init__(self, target: http1.Target) -> None:
        self.target = target
        self.queue: deque[Delivery] = deque()
        self.waiters: deque[asyncio.Future[bool]] = deque()  # idle tasks: True = work, False = stop
        self.workers: set[asyncio.Task[None]] = set()
        # Accepted and not settled: queued, being sent, or waiting for a retry / reorder timer.
        self.outstanding = 0
        self.last_active = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(False)
        for task in self.workers:
            task.cancel()


class WebhookDispatcher:
    """At-least-once delivery with bounded work per receiver.

    Each destination (a receiver's scheme, host and port) has a FIFO queue and a pool of at
    most ``webhook_concurrency`` delivery tasks, started on demand, each owning one keep-alive
    connection. Events start in emission order; with several in flight, arrival order is not
    guaranteed (nor is it by Evolution). Retries wait on a timer, then rejoin the queue's
    tail. A destination holds at most ``webhook_queue_limit`` unsettled deliveries (queued, in
    flight or waiting for a retry); past that, new events for it are not accepted: each is
    logged as ``overflowed`` and counted in ``stats["overflowed"]``.
    """

    def __init__(
        self,
        config: Callable[[], SimulatorConfig],
        scheduler: Scheduler,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._scheduler = scheduler
        self._rng = rng
        self._ids = itertools.count(1)
        self._destinations: dict[tuple[str, str, int], _Destination] = {}
        self._jwt: dict[str, tuple[int, str]] = {}
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
            "overflowed": 0,
        }

    def gauges(self) -> dict[str, int]:
        """What is in the pipes right now (for ``/_sim/stats``)."""
        dests = self._destinations.values()
        return {
            "destinations": len(self._destinations),
            "queued": sum(len(d.queue) for d in dests),
            "unsettled": sum(d.outstanding for d in dests),
            "senders": sum(len(d.workers) for d in dests),
        }

    def _stop_all(self) -> list[asyncio.Task[None]]:
        tasks = [t for d in self._destinations.values() for t in d.workers]
        for dest in self._destinations.values():
            dest.stop()
        self._destinations.clear()
        return tasks

    async def reset(self) -> None:
        self.faults = WebhookFaults()
        self.log.clear()
        self._reset_stats()
        await self._wait(self._stop_all())

    async def aclose(self) -> None:
        await self._wait(self._stop_all())

    @staticmethod
    async def _wait(tasks: list[asyncio.Task[None]]) -> None:
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

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
        try:
            target = http1.parse_url(url)
        except http1.HTTPError as exc:
            # Nothing can ever reach it: one failed attempt, settled now.
            delivery.attempts = 1
            self.stats["attempts"] += 1
            delivery.last_error = f"{type(exc).__name__}: {exc}"
            self._fail(delivery)
            return
        delivery.target = target
        dest = self._destinations.get(target.origin)
        if dest is None:
            dest = self._destinations[target.origin] = _Destination(target)
        if dest.outstanding >= self._config().webhook_queue_limit:
            delivery.state = "overflowed"
            self.stats["overflowed"] += 1
            if self.stats["overflowed"] & (self.stats["overflowed"] - 1) == 0:  # 1, 2, 4, 8…
                log.warning(
                    "webhook queue full, events not accepted",
                    url=url,
                    unsettled=dest.outstanding,
                    overflowed=self.stats["overflowed"],
                )
            return
        dest.outstanding += 1
        delay = 0.0
        if self.faults.reorder_ms:
            delay = self._rng.uniform(0.0, self.faults.reorder_ms) / 1000.0
        if delay > 0:
            self._scheduler.call_later(delay, lambda: self._enqueue(dest, delivery))
        else:
            self._enqueue(dest, delivery)

    # ------------------------------------------------------------------ the delivery tasks

    def _enqueue(self, dest: _Destination, delivery: Delivery) -> None:
        if self._destinations.get(dest.target.origin) is not dest:
            return  # reset or shut down meanwhile
        loop = asyncio.get_running_loop()
        dest.queue.append(delivery)
        dest.last_active = loop.time()
        while dest.waiters:
            fut = dest.waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                return
        if len(dest.workers) < self._config().webhook_concurrency:
            task = loop.create_task(self._worker(dest))
            dest.workers.add(task)
            task.add_done_callback(dest.workers.discard)
        if dest.idle_timer is None:
            dest.idle_timer = loop.call_later(DESTINATION_IDLE_S, self._check_idle, dest)

    def _check_idle(self, dest: _Destination) -> None:
        dest.idle_timer = None
        if self._destinations.get(dest.target.origin) is not dest:
            return
        loop = asyncio.get_running_loop()
        quiet = loop.time() - dest.last_active
        if quiet >= DESTINATION_IDLE_S and dest.outstanding == 0 and not dest.queue:
            del self._destinations[dest.target.origin]
            dest.stop()
            return
        dest.idle_timer = loop.call_later(
            max(1.0, DESTINATION_IDLE_S - quiet), self._check_idle, dest
        )

    async def _worker(self, dest: _Destination) -> None:
        loop = asyncio.get_running_loop()
        conn: http1.Connection | None = None
        try:
            while True:
                if not dest.queue:
                    fut: asyncio.Future[bool] = loop.create_future()
                    dest.waiters.append(fut)
                    if not await fut:
                        return
                    continue
                delivery = dest.queue.popleft()
                conn = await self._attempt(dest, delivery, conn)
        except Exception:  # pragma: no cover - a bug: keep the destination able to deliver
            log.exception("webhook delivery task crashed")
        finally:
            if conn is not None:
                conn.close()

    def _head(self, delivery: Delivery) -> bytes:
        if delivery.head is not None:
            return delivery.head
        target = delivery.target
        if target is None:  # set before it was queued
            raise RuntimeError("a webhook delivery was queued without its target")
        custom = {k.lower(): (k, v) for k, v in delivery.headers.items()}
        pairs = [custom.pop(name.lower(), (name, value)) for name, value in _BASE_HEADERS]
        pairs += [kv for low, kv in custom.items() if low not in _OURS]
        if delivery.jwt_key:
            pairs.append(("Authorization", f"Bearer {self._token(delivery.jwt_key)}"))
        head = http1.request_head(target, pairs, len(delivery.body))
        if not delivery.jwt_key:
            delivery.head = head
        return head

    def _token(self, key: str) -> str:
        """The Bearer JWT; the same one within a second (its claims are whole seconds)."""
        now = int(time.time())
        cached = self._jwt.get(key)
        if cached is not None and cached[0] == now:
            return cached[1]
        token = webhook_jwt(key, now)
        if len(self._jwt) > 1000:
            self._jwt.clear()
        self._jwt[key] = (now, token)
        return token

    async def _attempt(
        self, dest: _Destination, delivery: Delivery, conn: http1.Connection | None
    ) -> http1.Connection | None:
        """One POST; returns the connection to keep (None when it must not be reused)."""
        cfg = self._config()
        delivery.attempts += 1
        self.stats["attempts"] += 1
        target = dest.target  # the connection's origin; the path is the delivery's
        connecting = False
        try:
            head = self._head(delivery)
            async with asyncio.timeout(cfg.webhook_timeout_s):
                while True:
                    if conn is None or conn.stale:
                        if conn is not None:
                            conn.close()
                        conn = None
                        connecting = True
                        conn = await http1.Connection.open(target)
                        connecting = False
                    try:
                        status, keep_alive = await conn.post(head, delivery.body)
                    except http1.Unanswered:
                        # A kept-alive socket the receiver had closed: once more on a new one.
                        conn.close()
                        conn = None
                        continue
                    break
        except TimeoutError:
            # Evolution's timeout fired: whatever the receiver does later, this attempt failed.
            kind = "ConnectTimeout" if connecting else "ReadTimeout"
            delivery.last_status = None
            delivery.last_error = f"{kind}: no answer within {cfg.webhook_timeout_s:g} s"
            if conn is not None:
                conn.close()
            self._failed_attempt(dest, delivery, retryable=True)
            return None
        except http1.HTTPError as exc:
            # Timeouts and network errors are retried (reference §5.3).
            delivery.last_status = None
            delivery.last_error = f"{type(exc).__name__}: {exc}"
            if conn is not None:
                conn.close()
            self._failed_attempt(dest, delivery, retryable=True)
            return None
        if not keep_alive:
            conn.close()
            conn = None
        delivery.last_status = status
        delivery.last_error = None
        if 200 <= status < 300:
            delivery.state = "delivered"
            self.stats["delivered"] += 1
            dest.outstanding -= 1
            return conn
        self._failed_attempt(dest, delivery, retryable=status not in NON_RETRYABLE_STATUSES)
        return conn

    def _failed_attempt(self, dest: _Destination, delivery: Delivery, *, retryable: bool) -> None:
        cfg = self._config()
        if not retryable:
            delivery.state = "dropped"
            self.stats["dropped"] += 1
            dest.outstanding -= 1
            return
        if delivery.attempts >= cfg.webhook_max_attempts:
            dest.outstanding -= 1
            self._fail(delivery)
            return
        self.stats["retried"] += 1
        delay = retry_delay_s(delivery.attempts, self._rng, cfg.webhook_retry_scale)
        self._scheduler.call_later(delay, lambda: self._enqueue(dest, delivery))

    def _fail(self, delivery: Delivery) -> None:
        # No dead-letter queue in Evolution: the event is logged and gone.
        delivery.state = "failed"
        self.stats["exhausted"] += 1
        log.warning(
            "webhook delivery exhausted",
            instance=delivery.instance,
            webhook_event=delivery.event,
            url=delivery.url,
        )
