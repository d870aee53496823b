"""Every pooled HTTP client reuses an idle connection only well inside the server's keep-alive
timeout (mirage.kit.http). With httpx's default (5 s, like Node's and uvicorn's own server
timeout) a request could go out on a connection the server was closing at that instant: a
reset with no answer — for a send, an outcome nobody can know (a full run's warm-up round
ended "unknown" on it). Checked on the code, so every client written later is covered: in
`src/`, the tests, the benches and the scripts."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import uvicorn

from mirage.kit.http import IDLE_REUSE_S, SERVER_KEEP_ALIVE_S, limits
from mirage.providers import EvolutionGateway
from mirage.simulator.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[2]
TREES = ("src/mirage", "tests", "bench", "scripts")
HTTP_MODULES = {"httpx", "httpx2"}
POOL_MODULES = {"httpcore", "httpcore2"}
# A client talks over a socket pool unless it is given a transport (ASGI, mock, or one built
# with these limits); a transport or a pool is built with them.
CLIENTS = {"AsyncClient", "Client"}
TRANSPORTS = {"AsyncHTTPTransport", "HTTPTransport"}
POOLS = {"AsyncConnectionPool", "ConnectionPool"}


def _violations(path: Path) -> list[str]:
    out = []
    text = path.read_text()
    if "httpx" not in text and "httpcore" not in text:
        return []
    for node in ast.walk(ast.parse(text, str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if not isinstance(owner, ast.Name):
            continue
        kwargs = {k.arg for k in node.keywords}
        name, where = node.func.attr, f"{path.relative_to(ROOT)}:{node.lineno}"
        if owner.id in HTTP_MODULES:
            if name in CLIENTS and not kwargs & {"limits", "transport"}:
                out.append(f"{where}: {owner.id}.{name}() without limits=mirage.kit.http.limits()")
            elif name in TRANSPORTS and "limits" not in kwargs:
                out.append(f"{where}: {owner.id}.{name}() without limits")
            elif name == "Limits" and "keepalive_expiry" not in kwargs:
                out.append(f"{where}: {owner.id}.Limits() without keepalive_expiry")
        elif owner.id in POOL_MODULES and name in POOLS and "keepalive_expiry" not in kwargs:
            out.append(f"{where}: {owner.id}.{name}() without keepalive_expiry")
    return out


def test_every_http_client_reuses_idle_connections_only_inside_the_servers_timeout() -> None:
    files = [p for tree in TREES for p in sorted((ROOT / tree).rglob("*.py"))]
    assert len(files) > 300  # the trees were found
    found = [v for p in files for v in _violations(p)]
    assert found == [], "\n".join(found)


def test_the_idle_reuse_is_below_the_keep_alive_timeout_of_the_servers_we_talk_to() -> None:
    # uvicorn serves the simulator and Mirage's API; Evolution API is Node (keepAliveTimeout
    # 5 s by default). A margin of seconds: an event loop runs late on a loaded machine.
    assert uvicorn.Config(app=None).timeout_keep_alive - 2 >= IDLE_REUSE_S
    assert IDLE_REUSE_S <= 5 - 2
    assert limits().keepalive_expiry == IDLE_REUSE_S


def test_mirages_own_servers_keep_idle_connections_longer_than_clients_reuse_them() -> None:
    """The other end of the race: `mirage api` and `mirage demo` close an idle connection only
    after httpx's default reuse (5 s) and a load balancer's (60 s) — the client closes first.
    Every uvicorn server in `src/` but the simulator's (which keeps uvicorn's 5 s, like
    Evolution's Node server) sets it."""
    httpx_default, load_balancer = 5.0, 60.0
    assert max(httpx_default, load_balancer, IDLE_REUSE_S) < SERVER_KEEP_ALIVE_S
    servers = []
    for path in sorted((ROOT / "src/mirage").rglob("*.py")):
        text = path.read_text()
        if "simulator" in path.parts or "uvicorn" not in text:
            continue
        for node in ast.walk(ast.parse(text, str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "uvicorn"
                and node.func.attr in ("run", "Config")
            ):
                keep = [k.value for k in node.keywords if k.arg == "timeout_keep_alive"]
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                servers.append(where)
                assert keep and isinstance(keep[0], ast.Name), where
                assert keep[0].id == "SERVER_KEEP_ALIVE_S", where
    assert len(servers) >= 2, servers  # mirage api, mirage demo


async def test_the_gateway_client_opens_a_new_connection_after_the_idle_time() -> None:
    """On the real client and a real server: a connection idle past `IDLE_REUSE_S` is not
    reused (the server would still keep it: reusing it would count one peer, not two)."""
    peers: set[tuple[str, int]] = set()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        peers.add(scope["client"])
        await receive()
        body = b'{"instance": {"instanceName": "x", "state": "open"}}'
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # uvicorn's default keep-alive (5 s): the server would still keep the idle connection.
    async with BackgroundServer(app) as url:
        gateway = EvolutionGateway(url, "key")
        try:
            await gateway.connection_state("x")
            await gateway.connection_state("x")
            assert len(peers) == 1  # reused at once
            await asyncio.sleep(IDLE_REUSE_S + 0.2)
            await gateway.connection_state("x")
            assert len(peers) == 2  # idle too long: a new connection
        finally:
            await gateway.aclose()
