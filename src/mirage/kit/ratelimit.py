"""Rate limits on the `limits` library: Redis when MIRAGE_REDIS_URL is set, memory otherwise."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import parse, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


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


class RateLimiter:
    def __init__(self, redis_url: str | None = None) -> None:
        storage: Storage = MemoryStorage()
        if redis_url:
            # redis-py's asyncio client (already a dependency) rather than coredis.
            storage = storage_from_string(f"async+{redis_url}", implementation="redispy")  # type: ignore[assignment]
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, limit: str, *keys: str) -> RateLimitResult:
        item = parse(limit)
        allowed = await self.strategy.hit(item, *keys)
        stats = await self.strategy.get_window_stats(item, *keys)
        return RateLimitResult(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_after=max(0, math.ceil(stats.reset_time - time.time())),
        )

    async def hit_tiers(self, limits: str, *keys: str) -> RateLimitResult:
        """Count one attempt against every tier of ``limits`` ("5/minute;20/hour"), shortest
        window first: a progressive limit, where each exhausted tier means a longer wait.
        Refused at the first full tier (later tiers are not counted); the result describes
        that tier, or the tier with the fewest attempts left when all allow."""
        items = sorted(parse_many(limits), key=lambda i: i.get_expiry())
        tightest: RateLimitResult | None = None
        for item in items:
            allowed = await self.strategy.hit(item, *keys)
            stats = await self.strategy.get_window_stats(item, *keys)
            result = RateLimitResult(
                allowed=allowed,
                limit=item.amount,
                remaining=max(0, stats.remaining),
                reset_after=max(0, math.ceil(stats.reset_time - time.time())),
            )
            if not allowed:
                return result
            if tightest is None or result.remaining < tightest.remaining:
                tightest = result
        assert tightest is not None, "no limits given"
        return tightest

    async def clear(self, limit: str, *keys: str) -> None:
        for item in parse_many(limit):
            await self.strategy.clear(item, *keys)
