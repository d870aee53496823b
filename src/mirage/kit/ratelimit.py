"""Rate limits on the `limits` library: shared in Redis when MIRAGE_REDIS_URL is set, in this
process's memory otherwise.

Redis is optional infrastructure. When it is configured but cannot answer (connection refused,
reset, or no answer within a short timeout), limits are counted in this process's memory
instead — stricter (see ``RateLimiter._fallback_item``) — and every request is still served;
one warning is logged per outage, ``mirage_redis_degraded`` is 1 and ``/health/ready`` shows
``redis: degraded``. Redis is asked again (one PING) with exponential backoff, never on every
request; once it answers, the shared limits apply again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

from limits import RateLimitItem, parse, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter, Gauge
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from mirage.kit.logging import get_logger

log = get_logger(__name__)

# Redis answers in well under a millisecond on a working network: a quarter of a second per
# socket operation (connect, or one reply) is generous, and bounds what a black-holed Redis can
# add to a request. One whole limit check (up to six round trips for tiered sign-in limits) is
# bounded by OPERATION_TIMEOUTS times that.
DEFAULT_TIMEOUT_S = 0.25
OPERATION_TIMEOUTS = 4
# Re-probing a down Redis: first after 1 s, doubling up to 30 s between probes.
PROBE_BACKOFF_FIRST_S = 1.0
PROBE_BACKOFF_MAX_S = 30.0

# What "Redis cannot answer" looks like: redis-py's errors (refused, reset, timeout, auth,
# read-only replica...), the same wrapped by `limits`, and socket / asyncio time-outs.
REDIS_DOWN: tuple[type[BaseException], ...] = (StorageError, RedisError, OSError, TimeoutError)

REDIS_DEGRADED = Gauge(
    "mirage_redis_degraded",
    "1 while the configured Redis cannot be reached and rate limits are counted per process",
)
REDIS_OUTAGES = Counter(
    "mirage_redis_outages_total",
    "Times the configured Redis became unreachable (shared limits fell back to per-process)",
)
FALLBACK_CHECKS = Counter(
    "mirage_ratelimit_fallback_total",
    "Rate-limit checks decided by the per-process fallback because Redis was unreachable",
)

T = TypeVar("T")
Scale = Callable[[RateLimitItem], RateLimitItem]


class MemoryMovingWindow:
    """The moving window of ``limits`` (at most ``amount`` hits in any ``expiry`` seconds), in
    this process's memory, at O(1) per hit: per key, the times of its accepted hits in a
    deque of at most ``amount`` entries (expired ones are dropped from its old end, each once;
    no list inserts, no expiry tasks). Keys that no hit has touched for longer than their
    window are swept, amortised over the hits (memory stays bounded by the live keys)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[deque[float], float]] = {}
        self._hits_since_sweep = 0

    def hit_with_stats(self, item: RateLimitItem, keys: tuple[str, ...]) -> RateLimitResult:
        now = self.clock()
        key = item.key_for(*keys)
        expiry = item.get_expiry()
        entry = self._windows.get(key)
        if entry is None:
            entry = self._windows[key] = (deque(maxlen=max(1, item.amount)), float(expiry))
        times = entry[0]
        horizon = now - expiry
        while times and times[0] <= horizon:
            times.popleft()
        allowed = len(times) < item.amount
        if allowed:
            times.append(now)
        self._hits_since_sweep += 1
        if self._hits_since_sweep > max(1024, len(self._windows)):
            self._sweep(now)
        oldest = times[0] if times else now
        return RateLimitResult(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, item.amount - len(times)),
            reset_after=max(0, math.ceil(oldest + expiry - now)),
        )

    def clear(self, item: RateLimitItem, *keys: str) -> None:
        self._windows.pop(item.key_for(*keys), None)

    def _sweep(self, now: float) -> None:
        self._hits_since_sweep = 0
        stale = [k for k, (t, exp) in self._windows.items() if not t or t[-1] <= now - exp]
        for key in stale:
            del self._windows[key]


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees a slot

    def headers(self) -> dict[str, str]:
        h = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            h["Retry-After"] = str(max(1, self.reset_after))
        return h


@lru_cache(maxsize=256)
def _parse(limit: str) -> RateLimitItem:
    return parse(limit)


@lru_cache(maxsize=256)
def _tiers(limits: str) -> tuple[RateLimitItem, ...]:
    """The tiers of ``limits``, shortest window first (parsed once per distinct string)."""
    return tuple(sorted(parse_many(limits), key=lambda i: i.get_expiry()))


def _same(item: RateLimitItem) -> RateLimitItem:
    return item


def _where(redis_url: str) -> str:
    """host:port of a Redis URL, for logs (never its password)."""
    parts = urlsplit(redis_url)
    return f"{parts.hostname or parts.path}:{parts.port or 6379}"


def _cause(exc: BaseException) -> str:
    inner = getattr(exc, "storage_error", None)  # limits' StorageError wraps redis-py's
    return type(inner if isinstance(inner, BaseException) else exc).__name__


Strategy = MovingWindowRateLimiter | MemoryMovingWindow


async def _hit(strategy: Strategy, item: RateLimitItem, keys: tuple[str, ...]) -> RateLimitResult:
    if isinstance(strategy, MemoryMovingWindow):
        return strategy.hit_with_stats(item, keys)
    allowed = await strategy.hit(item, *keys)
    stats = await strategy.get_window_stats(item, *keys)
    return RateLimitResult(
        allowed=allowed,
        limit=item.amount,
        remaining=max(0, stats.remaining),
        reset_after=max(0, math.ceil(stats.reset_time - time.time())),
    )


class RateLimiter:
    """Moving-window limits. ``clock`` (monotonic seconds) paces the re-probes of a down
    Redis; tests inject one to decide when a re-probe is due."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        fallback_replicas: int = 2,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.memory = MemoryMovingWindow()
        self.redis_url = redis_url
        self.fallback_replicas = max(1, fallback_replicas)
        self.timeout_s = timeout_s
        self.clock = clock
        self._pool: ConnectionPool[Any] | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if redis_url:
            # Our own pool (redis-py's asyncio client, already a dependency): short socket
            # timeouts, and no retries with backoff (redis-py's default retries up to ten
            # times, which turned an outage into stalled requests). One immediate retry on a
            # connection error only: a pooled connection the server (or a proxy) closed while
            # idle reconnects at once, and a refused connection fails again at once. A timeout
            # is never retried.
            self._pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            )
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._degraded_since: float | None = None
        self._last_error: str | None = None
        self._backoff = PROBE_BACKOFF_FIRST_S
        self._next_probe = 0.0
        self._probing = False

    # --- limits ------------------------------------------------------------------------

    async def hit(self, limit: str, *keys: str) -> RateLimitResult:
        item = _parse(limit)

        async def run(strategy: Strategy, scale: Scale) -> RateLimitResult:
            return await _hit(strategy, scale(item), keys)

        return await self._decide(run)

    async def hit_tiers(self, limits: str, *keys: str) -> RateLimitResult:
        """Count one attempt against every tier of ``limits`` ("5/minute;20/hour"), shortest
        window first: a progressive limit, where each exhausted tier means a longer wait.
        Refused at the first full tier (later tiers are not counted); the result describes
        that tier, or the tier with the fewest attempts left when all allow."""
        items = _tiers(limits)
        if not items:
            raise ValueError("no limits given")

        async def run(strategy: Strategy, scale: Scale) -> RateLimitResult:
            tightest: RateLimitResult | None = None
            for item in items:
                result = await _hit(strategy, scale(item), keys)
                if not result.allowed:
                    return result
                if tightest is None or result.remaining < tightest.remaining:
                    tightest = result
            if tightest is None:  # items is not empty
                raise ValueError("no limits given")
            return tightest

        return await self._decide(run)

    async def clear(self, limit: str, *keys: str) -> None:
        for item in parse_many(limit):
            self.memory.clear(item, *keys)
            self.memory.clear(self._fallback_item(item), *keys)
        shared = await self._usable_shared()
        if shared is not None:
            try:
                async with asyncio.timeout(self.timeout_s * OPERATION_TIMEOUTS):
                    for item in parse_many(limit):
                        await shared.clear(item, *keys)
            except REDIS_DOWN as exc:
                await self._failed(exc, probing=False)

    def _fallback_item(self, item: RateLimitItem) -> RateLimitItem:
        """The per-process limit while Redis is down: the shared limit divided by the number
        of API processes (floor, at least 1). Stricter on purpose: each process counts alone,
        so with the shared limit per process an attacker spreading requests over N replicas
        would get N times the budget — exactly when sign-in guessing is least watched. Divided,
        the deployment as a whole never allows more than the shared limit (when the setting
        matches the replica count); a legitimate user only meets the stricter limit during
        the outage, and a one-replica deployment can set MIRAGE_REDIS_FALLBACK_REPLICAS=1."""
        if self.fallback_replicas == 1:
            return item
        amount = max(1, item.amount // self.fallback_replicas)
        return type(item)(amount, item.multiples, item.namespace)

    async def _decide(self, run: Callable[[Strategy, Scale], Awaitable[T]]) -> T:
        if self._shared is None:  # no Redis configured: memory is the limiter, as configured
            return await run(self.memory, _same)
        shared = await self._usable_shared()
        if shared is not None:
            try:
                async with asyncio.timeout(self.timeout_s * OPERATION_TIMEOUTS):
                    return await run(shared, _same)
            except REDIS_DOWN as exc:
                await self._failed(exc, probing=False)
        # Counted from scratch in memory: a check interrupted mid-way (some tiers counted in
        # Redis) is decided again, entirely, by the fallback.
        FALLBACK_CHECKS.inc()
        return await run(self.memory, self._fallback_item)

    # --- Redis health ------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        return self._degraded_since is not None

    def probe_due(self) -> bool:
        return self.degraded and not self._probing and self.clock() >= self._next_probe

    async def _usable_shared(self) -> MovingWindowRateLimiter | None:
        if self._shared is None:
            return None
        if not self.degraded:
            return self._shared
        if self.probe_due() and await self.probe():
            return self._shared
        return None

    async def probe(self) -> bool:
        """Ask Redis once (PING, bounded by the timeout). True when it answered; the shared
        limits then apply again. Called when a re-probe is due, and by readiness."""
        if self._pool is None:
            return False
        self._probing = True
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                await Redis(connection_pool=self._pool).ping()
        except REDIS_DOWN as exc:
            await self._failed(exc, probing=True)
            return False
        finally:
            self._probing = False
        if self._degraded_since is not None:
            outage = self.clock() - self._degraded_since
            self._degraded_since = None
            self._last_error = None
            self._backoff = PROBE_BACKOFF_FIRST_S
            REDIS_DEGRADED.set(0)
            log.info(
                "redis.recovered", redis=_where(self.redis_url or ""), outage_s=round(outage, 1)
            )
        return True

    async def _failed(self, exc: BaseException, *, probing: bool) -> None:
        now = self.clock()
        self._last_error = _cause(exc)
        if self._degraded_since is None:
            # A new outage: the one warning it gets (requests that fail meanwhile say nothing).
            self._degraded_since = now
            self._backoff = PROBE_BACKOFF_FIRST_S
            self._next_probe = now + self._backoff
            REDIS_OUTAGES.inc()
            REDIS_DEGRADED.set(1)
            log.warning(
                "redis.degraded",
                redis=_where(self.redis_url or ""),
                error=self._last_error,
                detail=str(exc)[:200],
                fallback=f"per-process rate limits, each divided by {self.fallback_replicas}",
                next_probe_in_s=self._backoff,
            )
        elif probing:
            self._backoff = min(self._backoff * 2, PROBE_BACKOFF_MAX_S)
            self._next_probe = now + self._backoff
        # Drop pooled connections: after a restart they are all dead, and the next probe
        # should open a fresh one rather than find that out.
        if self._pool is not None:
            with suppress(Exception):
                async with asyncio.timeout(self.timeout_s):
                    await self._pool.disconnect()

    async def redis_check(self) -> dict[str, Any]:
        """Readiness' view of Redis. While healthy, one bounded PING (an outage is noticed
        even without traffic); while degraded, a PING only when a re-probe is due."""
        if self._pool is None:
            return {"ok": True, "status": "not_configured"}
        if not self.degraded or self.probe_due():
            await self.probe()
        if not self.degraded:
            return {"ok": True, "status": "ok"}
        now = self.clock()
        return {
            "ok": False,
            # Optional: the process serves everyone without it, so it is not a reason to
            # leave the load balancer's rotation.
            "required": False,
            "status": "degraded",
            "error": self._last_error,
            "fallback": f"per-process rate limits, each divided by {self.fallback_replicas}",
            "degraded_for_s": round(now - (self._degraded_since or now), 1),
            "next_probe_in_s": round(max(0.0, self._next_probe - now), 1),
        }

    async def aclose(self) -> None:
        if self._pool is not None:
            with suppress(Exception):
                await self._pool.disconnect()
