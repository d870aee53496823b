"""Moving-window rate limits with informative numbers, on memory and (when available) Redis."""

from __future__ import annotations

import os
import uuid

import pytest

from mirage.kit.ratelimit import RateLimiter

BACKENDS = [None]
if os.environ.get("MIRAGE_TEST_REDIS_URL"):
    BACKENDS.append(os.environ["MIRAGE_TEST_REDIS_URL"])


@pytest.mark.parametrize("redis_url", BACKENDS, ids=lambda u: "redis" if u else "memory")
async def test_limit_counts_down_then_refuses_with_retry_after(redis_url: str | None) -> None:
    limiter = RateLimiter(redis_url)
    key = uuid.uuid4().hex
    results = [await limiter.hit("3/minute", "test", key) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    blocked = results[-1].headers()
    assert blocked["RateLimit-Limit"] == "3" and 1 <= int(blocked["Retry-After"]) <= 60
    # Keys are independent.
    assert (await limiter.hit("3/minute", "test", key + "-other")).allowed
    await limiter.clear("3/minute", "test", key)
    assert (await limiter.hit("3/minute", "test", key)).allowed


def test_redis_backend_is_exercised_in_ci() -> None:
    """CI starts Redis; make sure the Redis path did not silently fall away there."""
    if os.environ.get("CI") and not os.environ.get("MIRAGE_TEST_REDIS_URL"):
        pytest.fail(".ci/run should have started Redis and set MIRAGE_TEST_REDIS_URL")


@pytest.mark.parametrize("redis_url", BACKENDS, ids=lambda u: "redis" if u else "memory")
async def test_tiers_refuse_at_the_first_full_one(redis_url: str | None) -> None:
    limiter = RateLimiter(redis_url)
    key = uuid.uuid4().hex
    # Written longest first on purpose: tiers are applied shortest window first.
    results = [await limiter.hit_tiers("5/hour;2/minute", "tiers", key) for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert results[0].remaining == 1 and results[-1].limit == 2
    assert 1 <= int(results[-1].headers()["Retry-After"]) <= 60
    await limiter.clear("5/hour;2/minute", "tiers", key)
    assert (await limiter.hit_tiers("5/hour;2/minute", "tiers", key)).allowed
