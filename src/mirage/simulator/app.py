"""The simulator as an ASGI app, plus ``serve``/``run`` for ``mirage sim``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mirage.simulator import control, evolution
from mirage.simulator.config import SimulatorConfig
from mirage.simulator.errors import SimError, envelope, phrase
from mirage.simulator.network import Network
from mirage.simulator.server import EmbeddedServer

log = structlog.get_logger("mirage.simulator")


class FaultInjectionMiddleware:
    """Latency, latency spikes and 5xx on the Evolution namespace (never on ``/_sim``).

    An error "before" means nothing happened; "after" means the handler ran (a message may
    have gone out) and the answer was replaced — the ambiguous outcome a client must survive.
    Spikes hold the *response*, so a client timeout during a spike is ambiguous too.
    """

    def __init__(self, app: ASGIApp, network: Network) -> None:
        self.app = app
        self.network = network

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        plan = self.network.plan_faults(scope["method"], scope["path"])
        # Like the real gateway (Express parses the body first), the request is in the server
        # once sent: read it now, so a client that hangs up later does not un-send it.
        receive = await _buffered(receive)
        if plan.latency_s:
            await asyncio.sleep(plan.latency_s)
        if plan.error_status is not None and not plan.error_after:
            await _send_error(send, plan.error_status)
            return
        if plan.error_status is None and not plan.spike_s:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        if plan.spike_s:
            await asyncio.sleep(plan.spike_s)
        if plan.error_status is not None:
            await _send_error(send, plan.error_status)
            return
        for message in held:
            await send(message)


async def _buffered(receive: Receive) -> Receive:
    """Drain the request body now and replay it; later reads see a disconnect only after it."""
    chunks: list[Message] = []
    while True:
        message = await receive()
        chunks.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        if chunks:
            return chunks.pop(0)
        return await receive()

    return replay


async def _send_error(send: Send, status: int) -> None:
    body = json.dumps(envelope(status, [phrase(status)])).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    """A fresh simulator (its own in-memory network) as a FastAPI app."""
    network = Network(config or SimulatorConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await network.aclose()

    app = FastAPI(
        title="Mirage WhatsApp simulator (Evolution API v2 compatible)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.network = network
    app.add_middleware(FaultInjectionMiddleware, network=network)

    @app.exception_handler(SimError)
    async def _sim_error(_: Request, exc: SimError) -> JSONResponse:
        return JSONResponse(envelope(exc.status, exc.message), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Express answers unknown routes *and* wrong methods with 404 "Cannot METHOD /path".
        if exc.status_code in (404, 405):
            message = [f"Cannot {request.method} {request.url.path}"]
            return JSONResponse(envelope(404, message), status_code=404)
        return JSONResponse(envelope(exc.status_code, [exc.detail]), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        messages = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(envelope(400, messages), status_code=400)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("simulator handler crashed")
        return JSONResponse(envelope(500, [str(exc)]), status_code=500)

    app.include_router(evolution.router)
    app.include_router(control.router)
    app.include_router(control.guarded)
    return app


def _default_public_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - display only
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def build_config(
    host: str,
    port: int,
    api_key: str | None = None,
    *,
    public_url: str | None = None,
    config: SimulatorConfig | None = None,
) -> SimulatorConfig:
    base = config or SimulatorConfig()
    changes: dict[str, object] = {}
    if api_key:
        changes["api_key"] = api_key
    if public_url:
        changes["public_url"] = public_url.rstrip("/")
    elif config is None:
        changes["public_url"] = _default_public_url(host, port)
    return base.with_changes(**changes) if changes else base


async def serve(
    host: str = "127.0.0.1",
    port: int = 8081,
    api_key: str | None = None,
    *,
    public_url: str | None = None,
    config: SimulatorConfig | None = None,
    log_level: str = "info",
    handle_signals: bool = True,
) -> None:
    """Serve the simulator in the running event loop until signalled or cancelled.

    Cancelling the task shuts down gracefully. Embedded next to other servers in one process
    (``mirage demo``), pass ``handle_signals=False`` and cancel the task to stop it.
    """
    cfg = build_config(host, port, api_key, public_url=public_url, config=config)
    server_cls = uvicorn.Server if handle_signals else EmbeddedServer
    server = server_cls(
        uvicorn.Config(
            create_app(cfg),
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    log.info("simulator listening", url=cfg.public_url, evolution_compatible=True)
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True  # stop accepting, finish in-flight requests, run lifespan
        await task
        raise


def run(
    host: str = "127.0.0.1",
    port: int = 8081,
    api_key: str | None = None,
    *,
    public_url: str | None = None,
    config: SimulatorConfig | None = None,
    log_level: str = "info",
) -> None:
    """Blocking entry point for ``mirage sim``."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(host, port, api_key, public_url=public_url, config=config, log_level=log_level)
        )
