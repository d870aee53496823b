"""Simulator throughput: sendText between paired instances at a target rate, with acks and
webhooks, and what 1,000 idle instances cost.

    .venv/bin/python bench/simulator_throughput.py [--rate 200] [--duration 20]
        [--idle 1000] [--active 100] [--repeat 1] [--profile sim.prof]

Three processes, so that only the simulator is measured:

* the simulator (``mirage.simulator.run`` in a subprocess, default timings: acks at +0.3 s,
  +1 s, READ 4 s after delivery);
* a minimal webhook receiver (raw asyncio HTTP/1.1, keep-alive, this script with
  ``--receiver``): it answers 200 and records each event's lag, receipt time minus the
  envelope's ``date_time`` (millisecond precision);
* the driver (this process): pairs ``idle + active`` instances (``time_scale`` 0 while
  pairing, then back to 1), measures the simulator's idle CPU, then sends ``sendText`` with
  ``delay: 0`` from random active instances to other active instances at ``--rate`` for
  ``--duration`` seconds on raw keep-alive connections, open loop.

Each message makes five webhooks: ``send.message``, ``messages.update`` SERVER_ACK,
DELIVERY_ACK and READ on the sender, ``messages.upsert`` on the receiver.

Prints achieved sends/s, sendText p50/p99, webhooks delivered/s and their lag p50/p99, the
simulator's CPU % and RSS while driven and while idle, and CPU milliseconds per message (the
figure that moves least with the machine's load). The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from mirage.kit.http import limits as pool_limits

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-sim-key"
EVENTS = ["CONNECTION_UPDATE", "SEND_MESSAGE", "MESSAGES_UPDATE", "MESSAGES_UPSERT"]
WEBHOOKS_PER_MESSAGE = 5
TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(data: list[float], p: float) -> float:
    if not data:
        return 0.0
    data = sorted(data)
    return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]


# ---------------------------------------------------------------------------- the receiver

_EVENT = re.compile(rb'"event":"([^"]+)"')
_DATE = re.compile(rb'"date_time":"([^"]+)"')
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class _Receiver(asyncio.Protocol):
    """Keep-alive HTTP/1.1 server that parses only what it needs (Content-Length bodies)."""

    lags: list[float] = []  # noqa: RUF012 - process-wide tallies of the receiver process
    events: Counter[str] = Counter()  # noqa: RUF012
    total = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self._handle(head.split(b" ", 2), body)

    def _handle(self, line: list[bytes], body: bytes) -> None:
        if line[0] == b"GET":
            out = json.dumps(self._stats()).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(out)}\r\n\r\n".encode()
            self.transport.write(head + out)
            if b"reset" in line[1]:
                _Receiver.lags = []
                _Receiver.events = Counter()
            return
        now = time.time()
        _Receiver.total += 1
        ev = _EVENT.search(body)
        dt = _DATE.search(body)
        if ev:
            _Receiver.events[ev.group(1).decode()] += 1
        if dt:
            sent = datetime.fromisoformat(dt.group(1).decode().replace("Z", "+00:00"))
            _Receiver.lags.append((now - sent.timestamp()) * 1000)
        self.transport.write(_OK)

    @staticmethod
    def _stats() -> dict[str, Any]:
        lags = _Receiver.lags
        return {
            "total": _Receiver.total,
            "window": len(lags),
            "events": dict(_Receiver.events),
            "lag_p50_ms": _pct(lags, 50),
            "lag_p99_ms": _pct(lags, 99),
            "lag_max_ms": max(lags, default=0.0),
        }


def receiver_main(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Receiver, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# ---------------------------------------------------------------------------- measurements


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class DriveResult:
    sends: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


def _post(path: str, body: bytes, port: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"apikey: {API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def drive(
    port: int,
    active: list[tuple[str, str]],
    rate: float,
    duration: float,
    connections: int,
    read_timeout_s: float = 30.0,
) -> DriveResult:
    """Open loop: a send is due every 1/rate s; ``connections`` keep-alive sockets carry them."""
    rng = random.Random(7)
    due: asyncio.Queue[float | None] = asyncio.Queue()
    result = DriveResult()

    async def producer() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        total = int(rate * duration)
        while n < total:
            target = start + n / rate
            now = loop.time()
            if target > now:
                await asyncio.sleep(target - now)
            due.put_nowait(target)
            n += 1
        for _ in range(connections):
            due.put_nowait(None)

    async def worker(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seq = 0
        try:
            while (slot := await due.get()) is not None:
                del slot
                a, b = rng.sample(range(len(active)), 2)
                name, _ = active[a]
                body = json.dumps(
                    {"number": active[b][1], "text": f"bench {i}-{seq}", "delay": 0}
                ).encode()
                seq += 1
                t0 = time.perf_counter()
                writer.write(_post(f"/message/sendText/{name}", body, port))
                try:
                    status = await asyncio.wait_for(_read_response(reader), read_timeout_s)
                except TimeoutError:
                    # A stalled simulator: count it and carry on with a fresh socket.
                    result.statuses[0] += 1
                    result.errors += 1
                    result.latencies_ms.append(read_timeout_s * 1000)
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.statuses[status] += 1
                if status == 201:
                    result.sends += 1
                else:
                    result.errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(producer(), *(worker(i) for i in range(connections)))
    result.seconds = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------------------- setup


def _die_with_parent() -> None:
    """Children are killed when the bench dies, so no simulator is left running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_receiver(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, __file__, "--receiver", str(port)]
    return subprocess.Popen(cmd, cwd=ROOT, preexec_fn=_die_with_parent)


def start_simulator(port: int, profile: str | None) -> subprocess.Popen[bytes]:
    code = (
        "from mirage.simulator import run; "
        f"run('127.0.0.1', {port}, {API_KEY!r}, log_level='warning')"
    )
    if profile:  # written when the simulator stops (SIGINT at the end of the run)
        code = f"import cProfile; cProfile.run({code!r}, {profile!r})"
    cmd = [sys.executable, "-c", code]
    return subprocess.Popen(cmd, cwd=ROOT, preexec_fn=_die_with_parent)


async def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(limits=pool_limits()) as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"{url}: process exited with {proc.returncode}")
            try:
                await client.get(url, timeout=1)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def pair_all(
    http: httpx.AsyncClient, hook: str, names: list[str], concurrency: int = 32
) -> dict[str, str]:
    numbers: dict[str, str] = {}
    queue = list(reversed(names))

    async def one(name: str) -> None:
        body = {
            "instanceName": name,
            "integration": "WHATSAPP-BAILEYS",
            "qrcode": False,
            "webhook": {
                "url": hook,
                "byEvents": False,
                "base64": False,
                "headers": {},
                "events": EVENTS,
            },
        }
        resp = await http.post("/instance/create", json=body)
        resp.raise_for_status()
        (await http.get(f"/instance/connect/{name}")).raise_for_status()
        resp = await http.post(f"/_sim/instances/{name}/scan", json={})
        resp.raise_for_status()
        numbers[name] = resp.json()["number"]

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return numbers


async def receiver_stats(http: httpx.AsyncClient, url: str, reset: bool = False) -> Any:
    return (await http.get(url + ("/stats?reset" if reset else "/stats"))).json()


async def settle(http: httpx.AsyncClient, url: str, quiet_s: float, limit_s: float) -> None:
    """Wait until the receiver has seen nothing new for ``quiet_s`` (at most ``limit_s``)."""
    last = -1
    quiet_since = time.monotonic()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        total = (await receiver_stats(http, url))["total"]
        if total != last:
            last, quiet_since = total, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        await asyncio.sleep(0.25)


async def run_bench(args: argparse.Namespace) -> dict[str, float]:
    sim_port, hook_port = _free_port(), _free_port()
    sim_url, hook_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{hook_port}"
    receiver = start_receiver(hook_port)
    sim = start_simulator(sim_port, args.profile)
    try:
        await wait_up(hook_url + "/stats", receiver)
        await wait_up(sim_url + "/", sim)
        async with httpx.AsyncClient(
            limits=pool_limits(), base_url=sim_url, headers={"apikey": API_KEY}, timeout=300
        ) as http:
            (await http.put("/_sim/config", json={"timeScale": 0})).raise_for_status()
            names = [f"idle-{i:04d}" for i in range(args.idle)]
            names += [f"active-{i:03d}" for i in range(args.active)]
            t0 = time.perf_counter()
            numbers = await pair_all(http, hook_url + "/hooks", names)
            pair_s = time.perf_counter() - t0
            (await http.put("/_sim/config", json={"timeScale": 1})).raise_for_status()
            await settle(http, hook_url, 1.0, 30)
            print(
                f"paired {len(numbers)} instances in {pair_s:.1f} s; "
                f"simulator RSS {rss_mb(sim.pid):.0f} MB"
            )

            c0, w0 = cpu_seconds(sim.pid), time.perf_counter()
            await asyncio.sleep(args.idle_seconds)
            idle_cpu = (cpu_seconds(sim.pid) - c0) / (time.perf_counter() - w0) * 100
            idle_rss = rss_mb(sim.pid)
            print(
                f"idle: {args.idle + args.active} open instances, simulator CPU "
                f"{idle_cpu:.2f} % over {args.idle_seconds:.0f} s, RSS {idle_rss:.0f} MB"
            )

            active = [(n, numbers[n]) for n in names[args.idle :]]
            await receiver_stats(http, hook_url, reset=True)
            before = (await receiver_stats(http, hook_url))["total"]
            c0, w0 = cpu_seconds(sim.pid), time.perf_counter()
            result = await drive(sim_port, active, args.rate, args.duration, args.connections)
            drive_cpu_s = cpu_seconds(sim.pid) - c0
            drive_wall = time.perf_counter() - w0
            print(
                f"drive done in {drive_wall:.1f} s: {result.sends} sends, "
                f"errors {dict(result.statuses)}; simulator CPU {drive_cpu_s:.1f} s"
            )
            during = (await receiver_stats(http, hook_url))["total"] - before
            # The last READs come ~5.3 s after their send.
            await settle(http, hook_url, 2.0, 60)
            total_cpu_s = cpu_seconds(sim.pid) - c0
            hooks = await receiver_stats(http, hook_url)
            peak_rss = rss_mb(sim.pid)
            try:
                stats = (await http.get("/_sim/stats", timeout=30)).json()["webhooks"]
            except httpx.HTTPError as exc:
                stats = {"unresponsive": type(exc).__name__}
    finally:
        for proc in (sim, receiver):
            proc.send_signal(signal.SIGINT)
        for proc in (sim, receiver):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    received = hooks["total"] - before
    expected = result.sends * WEBHOOKS_PER_MESSAGE
    out = {
        "sends_per_s": result.sends / result.seconds,
        "send_p50_ms": _pct(result.latencies_ms, 50),
        "send_p99_ms": _pct(result.latencies_ms, 99),
        "webhooks_per_s": during / drive_wall,
        "lag_p50_ms": hooks["lag_p50_ms"],
        "lag_p99_ms": hooks["lag_p99_ms"],
        "sim_cpu_pct": drive_cpu_s / drive_wall * 100,
        "sim_rss_mb": peak_rss,
        "idle_cpu_pct": idle_cpu,
        "cpu_ms_per_msg": total_cpu_s * 1000 / max(1, result.sends),
        "webhooks_complete": received / max(1, expected),
        "errors": result.errors,
    }
    print(
        f"drive: {result.sends} sends in {result.seconds:.1f} s = {out['sends_per_s']:.1f}/s "
        f"(target {args.rate:.0f}/s), errors {result.errors} {dict(result.statuses)}; "
        f"sendText p50 {out['send_p50_ms']:.1f} ms p99 {out['send_p99_ms']:.1f} ms"
    )
    print(
        f"webhooks: {during} during the drive = {out['webhooks_per_s']:.0f}/s; "
        f"{received}/{expected} after draining ({out['webhooks_complete']:.3f}); "
        f"lag p50 {out['lag_p50_ms']:.0f} ms p99 {out['lag_p99_ms']:.0f} ms "
        f"max {hooks['lag_max_ms']:.0f} ms; simulator counters {stats}"
    )
    print(
        f"simulator: CPU {out['sim_cpu_pct']:.0f} % while driven, "
        f"{out['cpu_ms_per_msg']:.2f} CPU ms per message (drive + drain), RSS {peak_rss:.0f} MB"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=200.0, help="target sendText per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    parser.add_argument("--idle", type=int, default=1000, help="paired instances left idle")
    parser.add_argument("--active", type=int, default=100, help="paired instances that send")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=128, help="driver keep-alive sockets")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", help="cProfile the simulator into this file")
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.receiver)
        return
    runs = []
    for i in range(args.repeat):
        print(f"--- run {i + 1}/{args.repeat}; load average {os.getloadavg()}")
        runs.append(asyncio.run(run_bench(args)))
    med = {k: _pct([r[k] for r in runs], 50) for k in runs[0]}
    print(f"load average after: {os.getloadavg()}")
    print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in med.items()))


if __name__ == "__main__":
    main()
