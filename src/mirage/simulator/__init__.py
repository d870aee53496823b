"""An Evolution-API-v2-compatible gateway over a simulated WhatsApp network (``mirage sim``).

Public entry points:

* ``create_app(config) -> FastAPI`` — the ASGI app (Evolution paths + ``/_sim`` control plane);
* ``serve(host, port, api_key, ...)`` — async, for embedding (``mirage demo``);
* ``run(host, port, api_key, ...)`` — blocking, for ``mirage sim``;
* ``SimulatorConfig`` — the knobs; ``SimulatorClient`` — an async client for ``/_sim``.
"""

from mirage.simulator.app import create_app, run, serve
from mirage.simulator.client import SimulatorClient, SimulatorControlError
from mirage.simulator.config import EVOLUTION_VERSION, SimulatorConfig
from mirage.simulator.server import BackgroundServer, reserve_socket, socket_url

__all__ = [
    "EVOLUTION_VERSION",
    "BackgroundServer",
    "SimulatorClient",
    "SimulatorConfig",
    "SimulatorControlError",
    "create_app",
    "reserve_socket",
    "run",
    "serve",
    "socket_url",
]
