"""One simulator + webhook recorder per session (real sockets); reset before every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from mirage.simulator.testing import SimulatorHarness


@pytest_asyncio.fixture(scope="session")
async def sim_harness() -> AsyncIterator[SimulatorHarness]:
    async with SimulatorHarness() as harness:
        yield harness


@pytest_asyncio.fixture
async def sim(sim_harness: SimulatorHarness) -> AsyncIterator[SimulatorHarness]:
    await sim_harness.reset()
    yield sim_harness
