"""Readiness: is the database reachable and has a worker sent a heartbeat recently? Optional
dependencies (Redis) are reported too, but only as degraded: they never make a replica
unready, because it still serves everyone without them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.ops.repository import WORKER_STALE_AFTER_S, HealthRepository

WORKER_STALE_AFTER = timedelta(seconds=WORKER_STALE_AFTER_S)


def worker_check(heartbeat_age_s: float | None) -> dict[str, Any]:
    """A worker is alive when one sent a heartbeat within WORKER_STALE_AFTER."""
    return {
        "ok": heartbeat_age_s is not None and heartbeat_age_s <= WORKER_STALE_AFTER.total_seconds(),
        "last_heartbeat_age_s": round(heartbeat_age_s, 1) if heartbeat_age_s is not None else None,
    }


async def worker_status(session: AsyncSession) -> dict[str, Any]:
    """``worker_check`` of the latest heartbeat, in one statement (the overview's card)."""
    return worker_check(await HealthRepository(session).worker_heartbeat_age())


async def readiness(session: AsyncSession) -> dict[str, Any]:
    repo = HealthRepository(session)
    checks: dict[str, Any] = {}
    try:
        await repo.ping()
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure means not ready; report it, do not crash
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return {"ready": False, "checks": checks}
    beat = await repo.last_worker_heartbeat()
    now = await repo.now()
    age = (now - beat).total_seconds() if beat else None
    checks["worker"] = worker_check(age)
    checks["queue"] = {"ok": True, **(await repo.queue_depth())}
    return verdict(checks)


def verdict(checks: dict[str, Any]) -> dict[str, Any]:
    """Ready when every required check is ok; a failed optional check (``"required": False``)
    is listed under ``degraded`` and leaves readiness alone."""
    return {
        "ready": all(c["ok"] for c in checks.values() if c.get("required", True)),
        "degraded": sorted(name for name, c in checks.items() if not c["ok"]),
        "checks": checks,
    }
