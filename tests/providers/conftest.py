"""The Evolution client against the simulator over real HTTP (one simulator per session)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest_asyncio

from mirage.providers import EvolutionGateway, RetryPolicy
from mirage.simulator.testing import SimulatorHarness

GatewayFactory = Callable[..., EvolutionGateway]
FAST_RETRY = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.05, jitter_s=0.01)


@pytest_asyncio.fixture(scope="session")
async def sim_harness() -> AsyncIterator[SimulatorHarness]:
    async with SimulatorHarness() as harness:
        yield harness


@pytest_asyncio.fixture
async def sim(sim_harness: SimulatorHarness) -> AsyncIterator[SimulatorHarness]:
    await sim_harness.reset()
    yield sim_harness


@pytest_asyncio.fixture
async def make_gateway(sim: SimulatorHarness) -> AsyncIterator[GatewayFactory]:
    """Build clients pointed at the simulator; every one is closed after the test."""
    made: list[EvolutionGateway] = []
    clients: list[httpx.AsyncClient] = []

    def factory(
        *, api_key: str | None = None, transport: httpx.AsyncBaseTransport | None = None, **kw: Any
    ) -> EvolutionGateway:
        kw.setdefault("retry", FAST_RETRY)
        if transport is not None:
            client = httpx.AsyncClient(base_url=sim.url, transport=transport)
            clients.append(client)
            kw["http_client"] = client
        gateway = EvolutionGateway(sim.url, api_key or sim.config.api_key, **kw)
        made.append(gateway)
        return gateway

    yield factory
    for gateway in made:
        await gateway.aclose()
    for client in clients:
        await client.aclose()
