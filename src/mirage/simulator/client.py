"""A small async client for the simulator's ``/_sim`` control plane.

Mirage's gateway client (``mirage.providers``) never uses this: it only speaks Evolution. The
dashboard uses it for the "scan" button and the sandbox; tests and benchmarks use it to play
the phones, the contacts and the faults.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from mirage.kit.http import limits as pool_limits


class SimulatorControlError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"simulator answered {status}: {body!r}")
        self.status = status
        self.body = body


class SimulatorClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._own = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout_s, limits=pool_limits())
        self._base = base_url.rstrip("/")
        self._headers = {"apikey": api_key}

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> SimulatorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = await self._http.request(
            method, f"{self._base}/_sim{path}", headers=self._headers, **kwargs
        )
        body = resp.json() if resp.content else None
        if resp.status_code >= 400:
            raise SimulatorControlError(resp.status_code, body)
        return body

    # -- discovery -----------------------------------------------------------------------

    async def info(self) -> dict[str, Any] | None:
        """The simulator's identity, or None when ``base_url`` is a real Evolution API."""
        try:
            resp = await self._http.get(f"{self._base}/_sim/info")
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        try:
            body = resp.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) and body.get("simulator") is True else None

    async def is_simulator(self) -> bool:
        return await self.info() is not None

    # -- global --------------------------------------------------------------------------

    async def reset(self, **config: Any) -> dict[str, Any]:
        """Forget everything; optional tunables (camelCase, e.g. ``qrIntervalS=0.2``)."""
        body = {"config": config} if config else {}
        result: dict[str, Any] = await self._call("POST", "/reset", json=body)
        return result

    async def set_config(self, **config: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("PUT", "/config", json=config)
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/stats")
        return result

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Gateway-wide faults: latencyMs, spikeRate, spikeMs, errorRate, errorStatus,
        errorMode, webhookDuplicateRate, webhookReorderMs."""
        result: dict[str, Any] = await self._call("PUT", "/faults", json=faults)
        return result

    async def clear_faults(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("DELETE", "/faults")
        return result

    async def messages(self, instance: str | None = None) -> list[dict[str, Any]]:
        params = {"instance": instance} if instance else {}
        result: list[dict[str, Any]] = await self._call("GET", "/messages", params=params)
        return result

    async def webhook_log(
        self, instance: str | None = None, event: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("instance", instance), ("event", event)) if v}
        result: list[dict[str, Any]] = await self._call("GET", "/webhooks", params=params)
        return result

    # -- instances -----------------------------------------------------------------------

    async def instance(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/instances/{name}")
        return result

    async def scan(
        self, name: str, *, number: str | None = None, profile_name: str | None = None
    ) -> dict[str, Any]:
        body = {k: v for k, v in (("number", number), ("profileName", profile_name)) if v}
        result: dict[str, Any] = await self._call("POST", f"/instances/{name}/scan", json=body)
        return result

    async def disconnect(self, name: str, status_code: int, *, reconnect: bool = True) -> Any:
        body = {"statusCode": status_code, "reconnect": reconnect}
        return await self._call("POST", f"/instances/{name}/disconnect", json=body)

    async def ban(self, name: str, status_code: int = 403) -> Any:
        return await self._call("POST", f"/instances/{name}/ban", json={"statusCode": status_code})

    async def unban(self, name: str) -> Any:
        return await self._call("DELETE", f"/instances/{name}/ban")

    async def set_instance_faults(self, name: str, **faults: Any) -> Any:
        """Per-instance faults: the gateway-wide fields plus ``zombie`` (open but cannot send)."""
        return await self._call("PUT", f"/instances/{name}/faults", json=faults)

    async def degrade(self, name: str, **plan: Any) -> Any:
        """Turn on the instance's degradation (camelCase fields of DegradationPlan)."""
        return await self._call("PUT", f"/instances/{name}/degradation", json=plan)

    async def clear_instance_faults(self, name: str) -> Any:
        return await self._call("DELETE", f"/instances/{name}/faults")

    async def set_handset(
        self, name: str, *, auto_read: bool | None = None, device: str | None = None
    ) -> Any:
        body = {k: v for k, v in (("autoRead", auto_read), ("device", device)) if v is not None}
        return await self._call("PUT", f"/instances/{name}/handset", json=body)

    async def phone_send(self, name: str, to: str, text: str) -> dict[str, Any]:
        body = {"to": to, "text": text}
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{name}/phone/send", json=body
        )
        return result

    async def inbound(
        self,
        name: str,
        sender: str,
        text: str,
        *,
        push_name: str | None = None,
        lid: bool | None = None,
        group: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"from": sender, "text": text}
        for key, value in (("pushName", push_name), ("lid", lid), ("group", group)):
            if value is not None:
                body[key] = value
        result: dict[str, Any] = await self._call("POST", f"/instances/{name}/inbound", json=body)
        return result

    # -- contacts ------------------------------------------------------------------------

    async def set_contact(self, number: str, **spec: Any) -> dict[str, Any]:
        """name, behavior (reply|ignore|optout|block), reads, exists, lidAddressing, replyText,
        optoutText, replyDelayMs, device."""
        result: dict[str, Any] = await self._call("PUT", f"/contacts/{number}", json=spec)
        return result

    async def populate(
        self, numbers: list[str], mix: dict[str, float] | None = None, seed: int | None = None
    ) -> list[dict[str, Any]]:
        """Contacts for ``numbers`` behaving by a mix of profiles (simulator/network/profiles)."""
        body = {"numbers": numbers, "mix": mix or {}, "seed": seed}
        result: list[dict[str, Any]] = await self._call("POST", "/contacts/population", json=body)
        return result

    async def contact_send(self, number: str, to: str, text: str) -> dict[str, Any]:
        body = {"to": to, "text": text}
        result: dict[str, Any] = await self._call("POST", f"/contacts/{number}/send", json=body)
        return result
