"""Test support: a real HTTP webhook receiver and a simulator harness on real sockets.

``SimulatorHarness`` serves the simulator and a ``WebhookRecorder`` with uvicorn in the
running loop; point webhooks at ``harness.hook_url(name)`` and ``await recorder.wait_for(...)``
instead of sleeping. Used by this package's tests, Mirage's integration tests and ``bench/``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mirage.kit.http import limits as pool_limits
from mirage.simulator.app import create_app
from mirage.simulator.client import SimulatorClient
from mirage.simulator.config import TUNABLE_FIELDS, SimulatorConfig
from mirage.simulator.network import Network
from mirage.simulator.server import BackgroundServer, reserve_socket, socket_url


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
    # Seconds to hold answers, consumed one per request (then 0): for webhook timeout tests.
    holds: list[float] = field(default_factory=list)
    rejected: int = 0
    # While set to an unset event, every request waits for it (a receiver that hangs).
    gate: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        status = self.script.pop(0) if self.script else 200
        hold = self.holds.pop(0) if self.holds else 0.0
        if hold:
            await asyncio.sleep(hold)
        if self.gate is not None:
            await self.gate.wait()
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
        self.holds.clear()
        self.rejected = 0
        if self.gate is not None:
            self.gate.set()
            self.gate = None

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


def fast_config(**changes: Any) -> SimulatorConfig:
    """Defaults for tests: deterministic, no simulated waits, webhook retries in milliseconds."""
    base = SimulatorConfig(
        api_key="test-global-key",
        seed=1234,
        time_scale=0.0,
        qr_interval_s=60.0,
        webhook_retry_scale=0.001,
        webhook_timeout_s=5.0,
    )
    return base.with_changes(**changes) if changes else base


class SimulatorHarness:
    """A simulator and a webhook recorder, each on a real 127.0.0.1 socket, in this loop.

    ``async with SimulatorHarness() as h:`` then ``await h.pair("a")`` gives a connected
    instance whose webhooks land in ``h.recorder``.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        sock = reserve_socket()
        self.url = socket_url(sock)
        self.config = (config or fast_config()).with_changes(public_url=self.url)
        self.app = create_app(self.config)
        self.recorder = WebhookRecorder()
        self._sim = BackgroundServer(self.app, sock=sock)
        self._hooks = BackgroundServer(self.recorder.app)
        self.hooks_url = self._hooks.url
        self.http = httpx.AsyncClient(
            base_url=self.url,
            headers={"apikey": self.config.api_key},
            timeout=10.0,
            limits=pool_limits(),
        )
        self.control = SimulatorClient(self.url, self.config.api_key)

    @property
    def network(self) -> Network:
        net: Network = self.app.state.network
        return net

    async def start(self) -> SimulatorHarness:
        await self._hooks.start()
        await self._sim.start()
        return self

    async def stop(self) -> None:
        await self.http.aclose()
        await self.control.aclose()
        await self._sim.stop()
        await self._hooks.stop()

    async def __aenter__(self) -> SimulatorHarness:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def reset(self, **config: Any) -> None:
        """Forget all state and restore the starting config, with ``config`` overrides
        (/_sim/config tunables, camelCase, e.g. ``qrIntervalS=0.1``)."""
        base = {camel: getattr(self.config, attr) for camel, attr in TUNABLE_FIELDS.items()}
        await self.control.reset(**{**base, **config})
        self.recorder.clear()

    def hook_url(self, name: str) -> str:
        return f"{self.hooks_url}/hooks/{name}"

    def webhook(
        self,
        name: str,
        *,
        events: Sequence[str] = (),
        by_events: bool = False,
        jwt_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        hdrs = dict(headers or {})
        if jwt_key:
            hdrs["jwt_key"] = jwt_key
        return {
            "url": self.hook_url(name),
            "byEvents": by_events,
            "base64": False,
            "headers": hdrs,
            "events": list(events),
        }

    async def create(
        self,
        name: str,
        *,
        events: Sequence[str] = (),
        jwt_key: str | None = None,
        qrcode: bool = False,
        by_events: bool = False,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """POST /instance/create with a webhook to the recorder; ``extra`` goes in the body."""
        webhook = self.webhook(
            name, events=events, by_events=by_events, jwt_key=jwt_key, headers=headers
        )
        body = {
            "instanceName": name,
            "integration": "WHATSAPP-BAILEYS",
            "qrcode": qrcode,
            "webhook": webhook,
            **extra,
        }
        resp = await self.http.post("/instance/create", json=body)
        if resp.status_code != 201:
            raise AssertionError(f"create {name}: {resp.status_code} {resp.text}")
        result: dict[str, Any] = resp.json()
        return result

    async def pair(
        self,
        name: str,
        *,
        number: str | None = None,
        profile_name: str | None = None,
        **create: Any,
    ) -> dict[str, Any]:
        """Create, connect and scan: an ``open`` instance (time_scale 0 makes it immediate)."""
        await self.create(name, **create)
        resp = await self.http.get(f"/instance/connect/{name}")
        if resp.status_code != 200:
            raise AssertionError(f"connect {name}: {resp.status_code} {resp.text}")
        view = await self.control.scan(name, number=number, profile_name=profile_name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while view["state"] != "open":
            if loop.time() > deadline:
                raise AssertionError(f"{name} did not open: {view}")
            await asyncio.sleep(0.01)
            view = await self.control.instance(name)
        return view


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Await ``check()`` until it is true (a poll, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
