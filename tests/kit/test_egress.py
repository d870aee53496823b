"""The guarded HTTP client checks the address it connects to, after resolution: a name that
resolves (or re-resolves) to a private address is refused before a byte is sent, and an
allowed name connects to the very address that was checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from mirage.kit.egress import guarded_client
from mirage.kit.netguard import AddressPolicy, ForbiddenAddress


@dataclass
class Recorder:
    """A local HTTP server that records every byte it is sent."""

    port: int = 0
    received: bytearray = field(default_factory=bytearray)
    connections: int = 0
    redirect_to: str | None = None


@pytest.fixture
async def server() -> AsyncIterator[Recorder]:
    rec = Recorder()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rec.connections += 1
        data = await reader.readuntil(b"\r\n\r\n")
        rec.received += data
        body = b'{"ok": true}'
        status = b"307 Temporary Redirect" if rec.redirect_to else b"200 OK"
        location = f"location: {rec.redirect_to}\r\n".encode() if rec.redirect_to else b""
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\n"
            + location
            + b"content-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    rec.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield rec


def resolver_for(table: dict[str, list[str]], calls: list[str]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]

    return resolve


async def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    server: Recorder,
) -> None:
    calls: list[str] = []
    resolve = resolver_for({"llm.example.com": ["127.0.0.1"]}, calls)
    async with guarded_client(AddressPolicy(), resolver=resolve) as client:
        with pytest.raises(ForbiddenAddress, match="loopback"):
            await client.post(
                f"http://llm.example.com:{server.port}/v1/chat/completions",
                headers={"Authorization": "Bearer sk-secret"},
                json={},
            )
    assert calls == ["llm.example.com"]
    assert server.connections == 0 and not server.received


@pytest.mark.parametrize(
    "answer",
    [
        ["93.184.216.34", "127.0.0.1"],  # rebinding: one public, one private
        ["169.254.169.254"],
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
        ["100.64.0.1"],
    ],
)
async def test_any_forbidden_address_in_the_answer_refuses(
    server: Recorder, answer: list[str]
) -> None:
    resolve = resolver_for({"llm.example.com": answer}, [])
    async with guarded_client(AddressPolicy(), resolver=resolve) as client:
        with pytest.raises(ForbiddenAddress):
            await client.get(f"http://llm.example.com:{server.port}/")
    assert server.connections == 0


async def test_an_ip_literal_is_checked_the_same_way(server: Recorder) -> None:
    async with guarded_client(AddressPolicy()) as client:
        with pytest.raises(ForbiddenAddress):
            await client.get(f"http://127.0.0.1:{server.port}/")
        with pytest.raises(ForbiddenAddress):
            await client.get(f"http://localhost:{server.port}/")
    assert server.connections == 0


async def test_an_allowed_name_connects_to_the_address_that_was_checked(
    server: Recorder,
) -> None:
    calls: list[str] = []
    # Each resolution would give a different answer; the client must use the first one only.
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    policy = AddressPolicy.from_setting("127.0.0.0/8")
    async with guarded_client(policy, resolver=resolve) as client:
        r = await client.get(f"http://llm.example.com:{server.port}/v1/models")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert calls == ["llm.example.com"]
    assert (
        b"GET /v1/models" in server.received and b"host: llm.example.com" in server.received.lower()
    )


async def test_redirects_are_not_followed(server: Recorder) -> None:
    server.redirect_to = "http://169.254.169.254/latest/meta-data/"
    policy = AddressPolicy.from_setting("127.0.0.0/8")
    async with guarded_client(policy) as client:
        r = await client.post(f"http://127.0.0.1:{server.port}/v1/chat/completions", json={})
    assert r.status_code == 307 and server.connections == 1
