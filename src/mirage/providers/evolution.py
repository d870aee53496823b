"""``EvolutionGateway``: the Evolution API v2 client (httpx), resilient and typed.

It speaks only the documented Evolution API (reference/evolution-api.md); the simulator is
indistinguishable to it by construction.

Retry rules (reference §4 and §6):
* idempotent calls (state, fetch, connect, presence, number checks, read marks, webhook set,
  logout, delete, create-with-our-token) retry ``GatewayDown`` with exponential backoff + jitter;
* ``send_text`` retries only when the request provably never left (connection refused/failed);
  anything after that — timeout, reset, 5xx — raises ``SendOutcomeUnknown``.
4xx answers are never retried.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx
import structlog

from mirage.kit.http import limits as pool_limits
from mirage.providers.errors import (
    BadRequest,
    GatewayDown,
    GatewayError,
    InstanceAlreadyExists,
    InstanceNotFound,
    NotConnected,
    NumberNotOnWhatsApp,
    SendOutcomeUnknown,
    Unauthorized,
)
from mirage.providers.models import (
    ConnectionState,
    ConnectResult,
    CreatedInstance,
    GatewayInfo,
    InstanceInfo,
    InstanceSettings,
    MessageKey,
    NumberCheck,
    Presence,
    QRCode,
    SentMessage,
    WebhookSpec,
)
from mirage.providers.resilience import BreakerPolicy, Breakers, RetryPolicy

log = structlog.get_logger("mirage.providers.evolution")

INTEGRATION = "WHATSAPP-BAILEYS"
# Texts by which Evolution says "the WhatsApp socket is not usable" (reference §4).
_NOT_CONNECTED_MARKERS = ("connection closed", "no sessions", "not connected")
# Extra read time for calls that Evolution deliberately holds: create(qrcode) ~5 s, connect ~2 s.
_CREATE_QR_EXTRA_S = 10.0
_CONNECT_EXTRA_S = 5.0

RetryMode = Literal["idempotent", "unsent_only"]
Recover = Callable[[GatewayError], Awaitable[Any]]


def _retry_idempotent(exc: BaseException) -> bool:
    return isinstance(exc, GatewayDown)


def _retry_unsent_only(exc: BaseException) -> bool:
    return isinstance(exc, GatewayDown) and not exc.request_sent


def _gateway_message(body: Any) -> Any:
    """The ``response.message`` of Evolution's envelope (or the 200 ``{error, message}`` form)."""
    if isinstance(body, dict):
        response = body.get("response")
        if isinstance(response, dict) and "message" in response:
            return response["message"]
        if "message" in body:
            return body["message"]
    return body


def _as_text(message: Any) -> str:
    if isinstance(message, str):
        return message
    if isinstance(message, list) and all(isinstance(m, str) for m in message):
        return "; ".join(message)
    return json.dumps(message, ensure_ascii=False, default=str)


class EvolutionGateway:
    """Implements ``WhatsAppGateway`` against Evolution API v2 (or ``mirage sim``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 15.0,
        connect_timeout_s: float = 5.0,
        retry: RetryPolicy | None = None,
        breakers: BreakerPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        name: str = "evolution",
        held_sends: int = 1000,
    ) -> None:
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._retry = retry or RetryPolicy()
        self._breakers = Breakers(breakers or BreakerPolicy(), name=name)
        self._own_client = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            limits=pool_limits(max_connections=200, max_keepalive=50),
        )
        # Sends the gateway holds for their typing time (``delay``) get a pool of their own,
        # one connection per send that may be held at once (``held_sends``: the process's
        # in-flight sends): a thousand numbers typing never make a send — nor a state check
        # or a QR request — wait for a connection (with one shared pool of 200, sends waited
        # ~26 s past their typing time and fetchInstances 46 s at 1,000 numbers).
        self._held = http_client or httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            limits=pool_limits(max_connections=held_sends, max_keepalive=held_sends),
        )
        if http_client is not None and not str(http_client.base_url):
            raise ValueError("http_client must have a base_url")

    async def aclose(self) -> None:
        if self._own_client:
            await self._http.aclose()
            await self._held.aclose()

    async def __aenter__(self) -> EvolutionGateway:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def breaker_state(self, instance: str | None = None) -> str:
        return self._breakers.state(instance)

    def reset_breaker(self, instance: str) -> None:
        """Close an instance's breaker now, e.g. when its CONNECTION_UPDATE says ``open``
        again after a re-pair, instead of waiting for the cool-down."""
        self._breakers.reset(instance)

    # ------------------------------------------------------------------ transport

    def _timeout(self, extra_s: float = 0.0) -> httpx.Timeout:
        return httpx.Timeout(self._timeout_s + extra_s, connect=self._connect_timeout_s)

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        instance: str | None = None,
        messaging: bool = False,
        token: str | None = None,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        extra_timeout_s: float = 0.0,
        retry: RetryMode = "idempotent",
        recover: Recover | None = None,
        held: bool = False,
    ) -> Any:
        """One logical call: retries around (breakers around (one HTTP request)). ``held``:
        the gateway holds the request (a send's typing delay), so it takes the held pool.

        Every call goes through the gateway breaker; ``messaging`` calls (send, presence,
        number checks, read marks) also through the instance's breaker. Management calls
        (connect, state, restart, logout…) never meet the instance breaker: they are how a
        broken instance gets repaired, and the QR modal must work while sends are refused.

        ``recover`` handles a definitive error seen on a *retry*: an earlier attempt whose
        answer was lost may have done the work (create → "name in use", delete → 404…).
        """
        predicate = _retry_idempotent if retry == "idempotent" else _retry_unsent_only
        async for attempt in self._retry.retrying(predicate, op):
            with attempt:
                try:
                    async with self._breakers.guard(instance if messaging else None):
                        return await self._once(
                            op, method, path, instance, token, body, params, extra_timeout_s, held
                        )
                except GatewayError as exc:
                    if (
                        recover is not None
                        and attempt.retry_state.attempt_number > 1
                        and not isinstance(exc, GatewayDown)
                    ):
                        return await recover(exc)
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _once(
        self,
        op: str,
        method: str,
        path: str,
        instance: str | None,
        token: str | None,
        body: Any,
        params: Mapping[str, str] | None,
        extra_timeout_s: float,
        held: bool = False,
    ) -> Any:
        headers = {"apikey": token or self._api_key}
        try:
            resp = await (self._held if held else self._http).request(
                method,
                path,
                json=body,
                params=params,
                headers=headers,
                timeout=self._timeout(extra_timeout_s),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # No byte of the request reached the gateway: safe to retry even a send.
            raise GatewayDown(
                f"cannot reach the gateway: {type(exc).__name__}",
                request_sent=False,
                operation=op,
                instance=instance,
            ) from exc
        except httpx.TransportError as exc:
            if op == "send_text":
                log.warning("send outcome unknown", instance=instance, error=type(exc).__name__)
                raise SendOutcomeUnknown(
                    f"no answer to the send ({type(exc).__name__}); it may have gone out",
                    operation=op,
                    instance=instance,
                ) from exc
            raise GatewayDown(
                f"gateway did not answer: {type(exc).__name__}", operation=op, instance=instance
            ) from exc
        return self._parse(op, resp, instance)

    def _parse(self, op: str, resp: httpx.Response, instance: str | None) -> Any:
        status = resp.status_code
        try:
            payload: Any = resp.json() if resp.content else None
        except ValueError:
            payload = resp.text
        message = _gateway_message(payload)
        text = _as_text(message)
        ctx: dict[str, Any] = {
            "status": status,
            "payload": payload,
            "instance": instance,
            "operation": op,
        }

        if 200 <= status < 300:
            # connect/restart catch their own errors and answer 200 {"error": true} (§2).
            if isinstance(payload, dict) and payload.get("error") is True:
                if op == "restart" or any(m in text.lower() for m in _NOT_CONNECTED_MARKERS):
                    # restart on a closed instance is the only known cause ("[object Object]").
                    raise NotConnected(text, **ctx)
                raise GatewayError(text, **ctx)
            return payload
        if status == 401:
            raise Unauthorized(text, **ctx)
        if status == 403:
            if op == "create_instance":
                raise InstanceAlreadyExists(text, **ctx)
            raise Unauthorized(text, **ctx)
        if status == 404:
            if instance is not None and not text.startswith("Cannot "):
                raise InstanceNotFound(text, **ctx)
            raise GatewayError(text, **ctx)
        if any(m in text.lower() for m in _NOT_CONNECTED_MARKERS):
            raise NotConnected(text, **ctx)
        if status == 400:
            if isinstance(message, list) and any(
                isinstance(m, dict) and m.get("exists") is False for m in message
            ):
                numbers = tuple(
                    str(m.get("number") or m.get("jid"))
                    for m in message
                    if isinstance(m, dict) and m.get("exists") is False
                )
                raise NumberNotOnWhatsApp(
                    f"not on WhatsApp: {', '.join(numbers)}", numbers=numbers, **ctx
                )
            raise BadRequest(text, **ctx)
        if status == 429 or status >= 500:
            if op == "send_text":
                # The gateway may have sent before failing (or a proxy answered for it).
                raise SendOutcomeUnknown(f"gateway answered {status} to the send: {text}", **ctx)
            raise GatewayDown(f"gateway answered {status}: {text}", **ctx)
        raise BadRequest(text, **ctx) if 400 <= status < 500 else GatewayError(text, **ctx)

    @staticmethod
    def _path(prefix: str, instance: str) -> str:
        return f"{prefix}/{quote(instance, safe='')}"

    # ------------------------------------------------------------------ general

    async def info(self) -> GatewayInfo:
        body = await self._call("info", "GET", "/")
        body = body if isinstance(body, dict) else {}
        return GatewayInfo(
            version=body.get("version"), client_name=body.get("clientName"), raw=body
        )

    # ------------------------------------------------------------------ instances

    async def create_instance(
        self,
        name: str,
        *,
        webhook: WebhookSpec | None = None,
        token: str | None = None,
        qrcode: bool = False,
        number: str | None = None,
        settings: InstanceSettings | None = None,
    ) -> CreatedInstance:
        # We choose the token: a retried create that meets "name in use" can then prove the
        # instance is ours (and not someone else's) and succeed idempotently.
        token = token or str(uuid.uuid4()).upper()
        body: dict[str, Any] = {
            "instanceName": name,
            "integration": INTEGRATION,
            "token": token,
            "qrcode": qrcode,
        }
        if number:
            body["number"] = number
        if settings is not None:
            body.update(settings.to_evolution())
        if webhook is not None:
            body["webhook"] = webhook.to_evolution()

        async def recover(exc: GatewayError) -> CreatedInstance:
            if not isinstance(exc, InstanceAlreadyExists):
                raise exc
            found = await self.fetch_instances(name=name)
            mine = next((i for i in found if i.name == name and i.token == token), None)
            if mine is None:
                raise exc
            log.info("create reconciled after a lost answer", instance=name)
            return CreatedInstance(
                name=name,
                instance_id=mine.id,
                token=token,
                status=mine.connection_status,
                qr=None,
                reconciled=True,
                raw=mine.raw,
            )

        result = await self._call(
            "create_instance",
            "POST",
            "/instance/create",
            body=body,
            extra_timeout_s=_CREATE_QR_EXTRA_S if qrcode else 0.0,
            recover=recover,
        )
        if isinstance(result, CreatedInstance):
            return result
        inst = result.get("instance") or {}
        qr = result.get("qrcode")
        return CreatedInstance(
            name=str(inst.get("instanceName") or name),
            instance_id=inst.get("instanceId"),
            token=str(result.get("hash") or token),
            status=ConnectionState.parse(inst.get("status")),
            qr=_qr_or_none(qr),
            raw=result,
        )

    async def connect(self, instance: str, *, token: str | None = None) -> ConnectResult:
        body = await self._call(
            "connect",
            "GET",
            self._path("/instance/connect", instance),
            instance=instance,
            token=token,
            extra_timeout_s=_CONNECT_EXTRA_S,
        )
        return ConnectResult.parse(body)

    async def request_pairing_code(
        self, instance: str, number: str, *, token: str | None = None
    ) -> ConnectResult:
        body = await self._call(
            "connect",
            "GET",
            self._path("/instance/connect", instance),
            instance=instance,
            token=token,
            params={"number": number},
            extra_timeout_s=_CONNECT_EXTRA_S,
        )
        return ConnectResult.parse(body)

    async def connection_state(self, instance: str, *, token: str | None = None) -> ConnectionState:
        body = await self._call(
            "connection_state",
            "GET",
            self._path("/instance/connectionState", instance),
            instance=instance,
            token=token,
        )
        inner = body.get("instance") if isinstance(body, dict) else None
        return ConnectionState.parse(inner.get("state") if isinstance(inner, dict) else None)

    async def fetch_instances(
        self, *, name: str | None = None, token: str | None = None
    ) -> list[InstanceInfo]:
        body = await self._call(
            "fetch_instances",
            "GET",
            "/instance/fetchInstances",
            instance=name,
            token=token,
            params={"instanceName": name} if name else None,
        )
        rows = body if isinstance(body, list) else []
        return [InstanceInfo.parse(r) for r in rows if isinstance(r, dict)]

    async def restart(self, instance: str, *, token: str | None = None) -> ConnectResult:
        body = await self._call(
            "restart",
            "POST",
            self._path("/instance/restart", instance),
            instance=instance,
            token=token,
            extra_timeout_s=_CONNECT_EXTRA_S,
        )
        return ConnectResult.parse(body)

    async def logout(self, instance: str, *, token: str | None = None) -> None:
        async def recover(exc: GatewayError) -> None:
            if not isinstance(exc, NotConnected):  # an earlier attempt already logged out
                raise exc

        await self._call(
            "logout",
            "DELETE",
            self._path("/instance/logout", instance),
            instance=instance,
            token=token,
            recover=recover,
        )

    async def delete_instance(self, instance: str, *, token: str | None = None) -> None:
        async def recover(exc: GatewayError) -> None:
            if not isinstance(exc, InstanceNotFound):  # an earlier attempt already deleted it
                raise exc

        await self._call(
            "delete_instance",
            "DELETE",
            self._path("/instance/delete", instance),
            instance=instance,
            token=token,
            recover=recover,
        )

    # ------------------------------------------------------------------ messaging

    async def send_text(
        self,
        instance: str,
        number: str,
        text: str,
        *,
        delay_ms: int | None = None,
        link_preview: bool | None = None,
        quoted: MessageKey | None = None,
        token: str | None = None,
    ) -> SentMessage:
        body: dict[str, Any] = {"number": number, "text": text}
        if delay_ms:
            body["delay"] = int(delay_ms)
        if link_preview is not None:
            body["linkPreview"] = link_preview
        if quoted is not None:
            body["quoted"] = {"key": quoted.to_evolution()}
        result = await self._call(
            "send_text",
            "POST",
            self._path("/message/sendText", instance),
            instance=instance,
            messaging=True,
            token=token,
            body=body,
            # Evolution holds the request for ``delay`` ms before sending.
            extra_timeout_s=(delay_ms or 0) / 1000,
            retry="unsent_only",
            held=bool(delay_ms),
        )
        if not isinstance(result, dict):
            raise SendOutcomeUnknown(
                "unexpected answer to the send",
                payload=result,
                instance=instance,
                operation="send_text",
            )
        return SentMessage.parse(result)

    async def send_presence(
        self,
        instance: str,
        number: str,
        presence: Presence,
        *,
        delay_ms: int = 0,
        token: str | None = None,
    ) -> None:
        await self._call(
            "send_presence",
            "POST",
            self._path("/chat/sendPresence", instance),
            instance=instance,
            messaging=True,
            token=token,
            body={"number": number, "presence": str(presence), "delay": int(delay_ms)},
            extra_timeout_s=delay_ms / 1000,
        )

    async def check_numbers(
        self, instance: str, numbers: Sequence[str], *, token: str | None = None
    ) -> list[NumberCheck]:
        body = await self._call(
            "check_numbers",
            "POST",
            self._path("/chat/whatsappNumbers", instance),
            instance=instance,
            messaging=True,
            token=token,
            body={"numbers": list(numbers)},
        )
        rows = body if isinstance(body, list) else []
        return [NumberCheck.parse(r) for r in rows if isinstance(r, dict)]

    async def mark_read(
        self, instance: str, keys: Sequence[MessageKey], *, token: str | None = None
    ) -> None:
        await self._call(
            "mark_read",
            "POST",
            self._path("/chat/markMessageAsRead", instance),
            instance=instance,
            messaging=True,
            token=token,
            body={"readMessages": [k.to_evolution() for k in keys]},
        )

    # ------------------------------------------------------------------ webhook config

    async def set_webhook(
        self,
        instance: str,
        webhook: WebhookSpec,
        *,
        enabled: bool = True,
        token: str | None = None,
    ) -> None:
        await self._call(
            "set_webhook",
            "POST",
            self._path("/webhook/set", instance),
            instance=instance,
            token=token,
            body={"webhook": webhook.to_evolution(enabled=enabled)},
        )

    async def find_webhook(self, instance: str, *, token: str | None = None) -> WebhookSpec | None:
        body = await self._call(
            "find_webhook",
            "GET",
            self._path("/webhook/find", instance),
            instance=instance,
            token=token,
        )
        return WebhookSpec.from_row(body) if isinstance(body, dict) else None


def _qr_or_none(raw: Any) -> QRCode | None:
    if not isinstance(raw, dict):
        return None
    qr = QRCode.parse(raw)
    return qr if qr.available or qr.count else None
