"""Pure ASGI middlewares: correlation id + access log + metrics, and the body-size limit."""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mirage.kit import correlation
from mirage.kit.logging import get_logger

log = get_logger("mirage.http")

REQUESTS = Counter(
    "mirage_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "mirage_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _route_template(scope: Scope, path: str) -> str:
    """The matched route's path template (bounded label cardinality), not the raw path.

    FastAPI's routes record themselves in the (shared) scope, and a mount extends root_path.
    Plain Starlette routes (the webhooks) and mounts without routes (static files) record
    nothing: they are looked up in the app's router, the same way it matched them.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template:
        return str(scope.get("root_path") or "") + str(template)
    router = scope.get("router")
    found = _match(getattr(router, "routes", ()), path, scope.get("method", "GET"))
    return found or "unmatched"


def _match(routes: Any, path: str, method: str, prefix: str = "") -> str | None:
    probe: Scope = {"type": "http", "path": path, "root_path": "", "method": method}
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(probe)
        if match == Match.NONE:
            continue
        if isinstance(route, Mount):
            inner = _match(
                getattr(route, "routes", None) or (),
                path[len(route.path) :] or "/",
                method,
                prefix + route.path,
            )
            found = inner or prefix + route.path
        else:
            found = prefix + str(getattr(route, "path", ""))
        if match == Match.FULL:
            return found
        partial = partial or found  # the path matched, the method did not (a 405)
    return partial


# The scope key holding when the request arrived (wall clock): a live page's stream asks
# for the changes since its page was read (kit.live.sse_response's ``since``).
RECEIVED_AT = "mirage.received_at"


class RequestContextMiddleware:
    """Binds a correlation id (X-Request-ID in, echoed out), logs, and records metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        cid = correlation.accept_or_new(headers.get(b"x-request-id", b"").decode("latin-1"))
        token = correlation.correlation_id.set(cid)
        ua_token = correlation.user_agent.set(
            correlation.clean_user_agent(headers.get(b"user-agent"))
        )
        structlog.contextvars.bind_contextvars(correlation_id=cid)
        scope[RECEIVED_AT] = time.time()
        start = time.perf_counter()
        status = 500
        path = scope["path"]  # before routing rewrites it for a mounted app

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", cid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope, path)
            method = scope.get("method", "GET")
            if route not in ("/metrics",):
                REQUESTS.labels(method, route, str(status)).inc()
                LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "http.request",
                method=method,
                path=path,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("correlation_id")
            correlation.correlation_id.reset(token)
            correlation.user_agent.reset(ua_token)


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 problem+json before any handler reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, overrides: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}

    def _limit(self, path: str) -> int:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = True
            if too_big:
                await _send_413(send, limit)
                return
        received = 0
        responded = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not responded:
                await _send_413(send, limit)


class _BodyTooLarge(Exception):
    pass


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "https://mirage.dev/problems/payload-too-large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"request body exceeds {limit} bytes",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
