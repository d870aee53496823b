"""Rate limits on the `limits` library: Redis when MIRAGE_REDIS_URL is set, memory otherwise."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import parse
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

    async def clear(self, limit: str, *keys: str) -> None:
        await self.strategy.clear(parse(limit), *keys)
