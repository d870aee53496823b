"""/health (liveness), /health/ready (dependencies) and /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mirage.db.engine import get_database
from mirage.ops import service

router = APIRouter(include_in_schema=False)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready() -> Response:
    try:
        async with get_database().sessions() as session, session.begin():
            result = await service.readiness(session)
    except Exception as exc:  # the database itself is unreachable: not ready, not a crash
        result = {
            "ready": False,
            "checks": {"database": {"ok": False, "error": type(exc).__name__}},
        }
    return JSONResponse(result, status_code=200 if result["ready"] else 503)


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
