"""/health (liveness), /health/ready (dependencies) and /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mirage.db.engine import get_database
from mirage.kit.ratelimit import RateLimiter
from mirage.ops import metrics as fleet_metrics
from mirage.ops import service

router = APIRouter(include_in_schema=False)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(request: Request) -> Response:
    """200 when this replica can serve (database reachable, a worker alive), else 503. Redis
    is optional: when it is configured but down the replica still serves everyone (rate
    limits fall back to per-process ones), so it stays ready — a load balancer should keep
    routing to it — and the body says ``"degraded": ["redis"]`` and ``checks.redis.status``
    ``"degraded"`` for the operator (and ``mirage_redis_degraded`` is 1 in /metrics)."""
    try:
        async with get_database().sessions() as session, session.begin():
            result = await service.readiness(session)
    except Exception as exc:  # the database itself is unreachable: not ready, not a crash
        result = service.verdict({"database": {"ok": False, "error": type(exc).__name__}})
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:  # asked outside the database transaction (a network call)
        checks = result["checks"]
        checks["redis"] = await limiter.redis_check()
        result = service.verdict(checks)
    return JSONResponse(result, status_code=200 if result["ready"] else 503)


@router.get("/metrics")
async def metrics() -> Response:
    """This process's own metrics (HTTP, rate limits) and the fleet's business figures, read
    from the database (``mirage.ops.metrics``)."""
    body = generate_latest() + await fleet_metrics.exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
