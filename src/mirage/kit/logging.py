"""structlog configuration: JSON lines carrying the correlation id and tenant of the context."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from mirage.db.tenancy import current_tenant_id
from mirage.kit import correlation


def _add_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    cid = correlation.current()
    if cid and "correlation_id" not in event:
        event["correlation_id"] = cid
    tid = current_tenant_id()
    if tid and "tenant_id" not in event:
        event["tenant_id"] = str(tid)
    return event


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_context,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Route the standard library's loggers (uvicorn, procrastinate, alembic) through structlog.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processor=renderer, foreign_pre_chain=processors)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
