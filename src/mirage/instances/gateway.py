"""The process-wide gateway client, built from settings (MIRAGE_EVOLUTION_URL / _API_KEY)."""

from __future__ import annotations

import httpx

from mirage.config import get_settings
from mirage.kit.errors import ServiceUnavailable
from mirage.kit.http import limits as pool_limits
from mirage.providers import EvolutionGateway, WhatsAppGateway

_gateway: WhatsAppGateway | None = None
_is_simulator: bool | None = None


def set_gateway(gateway: WhatsAppGateway | None, *, simulator: bool | None = None) -> None:
    global _gateway, _is_simulator
    _gateway = gateway
    _is_simulator = simulator


def get_gateway() -> WhatsAppGateway:
    global _gateway
    if _gateway is None:
        settings = get_settings()
        if not settings.evolution_url:
            raise ServiceUnavailable(
                "no WhatsApp gateway is configured (set MIRAGE_EVOLUTION_URL and "
                "MIRAGE_EVOLUTION_API_KEY)"
            )
        key = settings.evolution_api_key.get_secret_value() if settings.evolution_api_key else ""
        _gateway = EvolutionGateway(settings.evolution_url, key, held_sends=settings.send_in_flight)
    return _gateway


async def gateway_is_simulator() -> bool:
    """True when the gateway is Mirage's simulator: the dashboard then offers a "scan" button.

    Asked once per process through the simulator's /_sim/info; a real Evolution answers 404.
    """
    global _is_simulator
    if _is_simulator is None:
        settings = get_settings()
        if not settings.evolution_url:
            return False
        try:
            async with httpx.AsyncClient(timeout=3, limits=pool_limits()) as client:
                r = await client.get(settings.evolution_url.rstrip("/") + "/_sim/info")
            _is_simulator = r.status_code == 200 and r.json().get("simulator") is True
        except (httpx.HTTPError, ValueError):
            return False
    return _is_simulator


async def simulator_scan(
    gateway_name: str, *, number: str | None = None, profile_name: str | None = None
) -> None:
    """Press the simulator's "scan" for an instance (sandbox only)."""
    settings = get_settings()
    if not settings.evolution_url or not await gateway_is_simulator():
        raise ServiceUnavailable("scanning from the dashboard only works with the simulator")
    key = settings.evolution_api_key.get_secret_value() if settings.evolution_api_key else ""
    async with httpx.AsyncClient(timeout=10, limits=pool_limits()) as client:
        r = await client.post(
            f"{settings.evolution_url.rstrip('/')}/_sim/instances/{gateway_name}/scan",
            headers={"apikey": key},
            json={k: v for k, v in (("number", number), ("profileName", profile_name)) if v},
        )
    if r.status_code >= 400:
        raise ServiceUnavailable(f"the simulator refused the scan ({r.status_code})")


async def close_gateway() -> None:
    global _gateway
    if _gateway is not None:
        await _gateway.aclose()
        _gateway = None


def reset_breaker(instance: str) -> None:
    """Close ``instance``'s circuit breaker (it is connected again). With no gateway configured
    there is no breaker to reset: a webhook that says "open" must not fail for that."""
    if _gateway is None and not get_settings().evolution_url:
        return
    get_gateway().reset_breaker(instance)
