"""Test support: a real HTTP webhook receiver that records what the gateway delivers.

Serve ``WebhookRecorder().app`` with ``BackgroundServer`` and point instances' webhooks at
``{url}/hooks/<anything>``; then ``await recorder.wait_for(...)`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(slots=True)
class RecordedDelivery:
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    status: int  # what the recorder answered

    @property
    def event(self) -> str | None:
        return self.body.get("event") if isinstance(self.body, dict) else None

    @property
    def instance(self) -> str | None:
        return self.body.get("instance") if isinstance(self.body, dict) else None

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, dict) else None


@dataclass
class WebhookRecorder:
    deliveries: list[RecordedDelivery] = field(default_factory=list)
    # Statuses to answer, consumed one per request (then 200): e.g. [500, 500] for retries.
    script: list[int] = field(default_factory=list)
    # Seconds to hold each answer (for webhook timeout tests).
    hold_s: float = 0.0
    rejected: int = 0

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        status = self.script.pop(0) if self.script else 200
        if self.hold_s:
            await asyncio.sleep(self.hold_s)
        self.deliveries.append(
            RecordedDelivery(
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                raw=raw,
                body=body,
                status=status,
            )
        )
        if status >= 300:
            self.rejected += 1
        return JSONResponse({"ok": status < 300}, status_code=status)

    def clear(self) -> None:
        self.deliveries.clear()
        self.script.clear()
        self.hold_s = 0.0
        self.rejected = 0

    def accepted(
        self, *, instance: str | None = None, event: str | None = None
    ) -> list[RecordedDelivery]:
        """Deliveries answered 2xx, optionally filtered."""
        return [
            d
            for d in self.deliveries
            if d.status < 300
            and (instance is None or d.instance == instance)
            and (event is None or d.event == event)
        ]

    async def wait_for(
        self,
        predicate: Callable[[WebhookRecorder], bool],
        *,
        timeout_s: float = 5.0,
        what: str = "webhook deliveries",
    ) -> None:
        """Poll until ``predicate(self)`` holds; fail loudly (with what arrived) otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate(self):
            if loop.time() > deadline:
                seen = [(d.instance, d.event, d.status) for d in self.deliveries]
                raise AssertionError(f"timed out waiting for {what}; received {seen}")
            await asyncio.sleep(0.005)

    async def wait_event(
        self,
        instance: str,
        event: str,
        match: Callable[[Any], bool] = lambda _: True,
        *,
        timeout_s: float = 5.0,
    ) -> RecordedDelivery:
        found: list[RecordedDelivery] = []

        def _has(rec: WebhookRecorder) -> bool:
            found[:] = [d for d in rec.accepted(instance=instance, event=event) if match(d.data)]
            return bool(found)

        await self.wait_for(_has, timeout_s=timeout_s, what=f"{event} for {instance}")
        return found[0]
