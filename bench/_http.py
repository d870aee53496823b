"""A tiny keep-alive HTTP/1.1 load generator on raw asyncio streams.

httpx costs more CPU per request than the servers under test; this one does not, so the
figures measure the server, not the client. Bounded: a fixed number of requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return 0.0
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run_load(
    host: str,
    port: int,
    requests: list[bytes],
    *,
    concurrency: int,
    ok: Callable[[int], bool] = lambda s: 200 <= s < 300,
) -> LoadResult:
    queue = list(reversed(requests))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue:
                raw = queue.pop()
                t0 = time.perf_counter()
                writer.write(raw)
                status = await _read_response(reader)
                latencies.append((time.perf_counter() - t0) * 1000)
                if not ok(status):
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(len(requests), errors, time.perf_counter() - start, latencies)


def post(path: str, body: bytes, headers: dict[str, str], host: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
