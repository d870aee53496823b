"""Correlation ids: one per request or job, visible in every log line and every job it causes."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Accept caller-provided ids only when they are short and harmless to log and echo.
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def accept_or_new(value: str | None) -> str:
    if value and _VALID.match(value):
        return value
    return new_correlation_id()


def current() -> str | None:
    return correlation_id.get()
