"""Correlation ids: one per request or job, visible in every log line and every job it causes."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# The request's User-Agent (bounded), for the audit log: set beside the correlation id so every
# audited write of the request carries it without each caller passing it along.
user_agent: ContextVar[str | None] = ContextVar("user_agent", default=None)
USER_AGENT_MAX = 512

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


def current_user_agent() -> str | None:
    return user_agent.get()


def clean_user_agent(raw: bytes | None) -> str | None:
    """A header value safe to store: printable, bounded, None when absent."""
    if not raw:
        return None
    text = "".join(ch for ch in raw.decode("latin-1") if ch.isprintable())
    return text[:USER_AGENT_MAX] or None
