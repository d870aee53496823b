"""How webhooks are sent: bounded tasks per receiver, kept-alive connections, counted overflow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mirage.simulator import http1
from mirage.simulator.testing import SimulatorHarness, eventually


async def test_a_hanging_receiver_gets_at_most_the_pool_and_the_rest_overflows(
    sim: SimulatorHarness,
) -> None:
    await sim.reset(webhookConcurrency=2, webhookQueueLimit=3)
    sim.recorder.gate = asyncio.Event()
    for name in ("a", "b", "c", "d", "e"):
        await sim.create(name, events=["INSTANCE_CREATE"])

    async def two_in_flight() -> bool:
        return (await sim.control.stats())["webhooks"]["senders"] == 2

    await eventually(two_in_flight, what="both delivery tasks busy")
    stats = (await sim.control.stats())["webhooks"]
    # Two being sent, one queued, two refused: memory stays bounded while the receiver hangs.
    assert stats["unsettled"] == 3 and stats["queued"] == 1 and stats["overflowed"] == 2
    log = await sim.control.webhook_log(event="instance.create")
    assert [e["state"] for e in log] == ["pending"] * 3 + ["overflowed"] * 2
    assert {e["attempts"] for e in log[3:]} == {0}

    sim.recorder.gate.set()
    await sim.recorder.wait_for(lambda r: len(r.accepted()) == 3, what="the accepted three")
    assert sorted(d.instance or "" for d in sim.recorder.accepted()) == ["a", "b", "c"]

    async def settled() -> bool:
        return (await sim.control.stats())["webhooks"]["unsettled"] == 0

    await eventually(settled, what="the queue to drain")
    await sim.create("f", events=["INSTANCE_CREATE"])  # accepted again once there is room
    await sim.recorder.wait_event("f", "instance.create")
    assert (await sim.control.stats())["webhooks"]["delivered"] == 4


async def test_events_reuse_a_bounded_set_of_connections(sim: SimulatorHarness) -> None:
    await sim.reset(webhookConcurrency=4)
    await sim.pair("a")
    b = await sim.pair("b")
    for i in range(30):
        sent = await sim.http.post(
            "/message/sendText/a", json={"number": b["number"], "text": f"{i}"}
        )
        assert sent.status_code == 201
    await sim.recorder.wait_for(
        lambda r: len(r.accepted(instance="b", event="messages.upsert")) == 30, what="30 upserts"
    )
    stats = (await sim.control.stats())["webhooks"]
    assert stats["destinations"] == 1 and stats["senders"] <= 4
    assert stats["attempts"] == stats["emitted"] == stats["delivered"]


# ---------------------------------------------------------------------- the HTTP/1.1 client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook?x=1"

    yield start
    for server in servers:
        server.close()


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


async def test_a_receiver_that_drops_kept_alive_connections_gets_each_event_once(
    sim: SimulatorHarness, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    heads: list[bytes] = []

    async def one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        heads.append((await _read_request(reader))[0])
        # Says keep-alive, then closes anyway (what a keep-alive timeout looks like): the
        # next event on this socket must go out again on a fresh one, not count as a failure.
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    url = await serve(one_per_connection)
    await sim.reset(webhookConcurrency=1)
    body = {"instanceName": "a", "integration": "WHATSAPP-BAILEYS", "qrcode": False}
    body["webhook"] = {"url": url, "events": ["CONNECTION_UPDATE", "INSTANCE_CREATE"]}
    assert (await sim.http.post("/instance/create", json=body)).status_code == 201
    for _ in range(3):
        await sim.http.get("/instance/connect/a")
        await sim.http.delete("/instance/logout/a")
        await sim.http.post("/instance/restart/a")

    async def settled() -> bool:
        stats = (await sim.control.stats())["webhooks"]
        return stats["emitted"] > 1 and stats["unsettled"] == 0

    await eventually(settled, what="every event settled")
    log = await sim.control.webhook_log(instance="a")
    assert {(e["state"], e["attempts"]) for e in log} == {("delivered", 1)}
    assert len(heads) == len(log)
    assert heads[0].startswith(b"POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")


async def test_client_reads_chunked_and_interim_answers(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not reader.at_eof():
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(
                b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"4;ext=1\r\nbusy\r\n0\r\nX-Trailer: 1\r\n\r\n"
            )
            await writer.drain()

    target = http1.parse_url(await serve(chunked))
    conn = await http1.Connection.open(target)
    head = http1.request_head(target, [], 2)
    assert await conn.post(head, b"{}") == (503, True)
    assert await conn.post(head, b"{}") == (503, True)  # the same connection, fully read
    conn.close()


def test_header_injection_is_refused() -> None:
    target = http1.parse_url("http://example.test/x")
    with pytest.raises(http1.LocalProtocolError):
        http1.request_head(target, [("X-Evil", "a\r\nInjected: 1")], 0)
    assert target.host_header == "example.test"
    assert http1.parse_url("https://h.test:8443/p").host_header == "h.test:8443"
