"""A small keep-alive HTTP/1.1 client for webhook delivery.

The dispatcher POSTs thousands of small JSON bodies per second to a handful of receivers.
httpx costs ~1 ms of CPU per request (pool bookkeeping, anyio, h11); this costs a fraction,
because it does only what delivery needs: one request at a time on a connection it owns, a
status code, and the body read (``Content-Length``, chunked or until close) and thrown away so
the connection can be reused. TLS goes through asyncio's ``ssl`` (certifi's bundle). No
proxies, no redirects (a 3xx is an answer like any other), no compression negotiated.

Errors carry httpx-like names (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``…)
so delivery logs read as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # response headers larger than this are a protocol error
_CHUNK = 64 * 1024


class HTTPError(Exception):
    """Any failure to get an answer (the attempt is retryable)."""


class ConnectError(HTTPError):
    pass


class ConnectTimeout(HTTPError):
    pass


class ReadTimeout(HTTPError):
    pass


class ReadError(HTTPError):
    pass


class RemoteProtocolError(HTTPError):
    pass


class LocalProtocolError(HTTPError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points: the origin a connection is for, and the request target."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@cache
def parse_url(url: str) -> Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise LocalProtocolError(f"unsupported URL {url!r}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise LocalProtocolError(f"invalid port in {url!r}") from exc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, parts.hostname, port, path)


@cache
def _tls() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:
        raise LocalProtocolError("Illegal header value")
    return value


def request_head(target: Target, headers: list[tuple[str, str]], length: int) -> bytes:
    """``POST`` request line and headers (``headers`` must not carry Host/Content-Length)."""
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    lines += [f"{_clean(k)}: {_clean(v)}" for k, v in headers]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="strict")


class Connection:
    """One keep-alive connection, used by one task at a time."""

    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False  # carried a request already (a reused socket may have gone stale)

    @classmethod
    async def open(cls, target: Target) -> Connection:
        tls = _tls() if target.scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                target.host,
                target.port,
                ssl=tls,
                server_hostname=target.host if tls else None,
                limit=MAX_HEAD,
            )
        except TimeoutError as exc:
            raise ConnectTimeout(str(exc) or "timed out connecting") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return cls(reader, writer)

    @property
    def stale(self) -> bool:
        """The peer closed it while it sat idle (or it is already closing)."""
        return self.writer.is_closing() or self.reader.at_eof()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def post(self, head: bytes, body: bytes) -> tuple[int, bool]:
        """Send one request; return ``(status, keep_alive)`` once the answer is fully read.

        Raises ``Unanswered`` (a subclass of ``ReadError``) when a reused connection fails
        before a single byte of the answer came back: the request can go again on a fresh one.
        """
        reused = self.used
        self.used = True
        try:
            self.writer.write(head + body if len(body) < _CHUNK else head)
            if len(body) >= _CHUNK:
                self.writer.write(body)
            await self.writer.drain()
            return await self._answer()
        except Unanswered:
            if reused:
                raise
            raise ReadError("server disconnected without answering") from None
        except asyncio.IncompleteReadError as exc:
            raise RemoteProtocolError("server disconnected mid-answer") from exc
        except asyncio.LimitOverrunError as exc:
            raise RemoteProtocolError("answer headers too large") from exc
        except (ConnectionError, OSError) as exc:
            if reused:
                raise Unanswered(str(exc)) from exc
            raise ReadError(str(exc) or type(exc).__name__) from exc

    async def _answer(self) -> tuple[int, bool]:
        reader = self.reader
        first = True
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if first and not exc.partial:
                    raise Unanswered("server closed the connection") from exc
                raise
            first = False
            lines = head[:-4].split(b"\r\n")
            status_line = lines[0].split(b" ", 2)
            if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
                raise RemoteProtocolError(f"bad status line {lines[0][:80]!r}")
            try:
                status = int(status_line[1])
            except ValueError as exc:
                raise RemoteProtocolError(f"bad status line {lines[0][:80]!r}") from exc
            if 100 <= status < 200:
                continue  # interim answers (100 Continue, 103 Early Hints)
            keep_alive = status_line[0] == b"HTTP/1.1"
            length: int | None = None
            chunked = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    try:
                        length = int(value)
                    except ValueError as exc:
                        raise RemoteProtocolError("bad Content-Length") from exc
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    tokens = value.strip().lower()
                    if b"close" in tokens:
                        keep_alive = False
                    elif b"keep-alive" in tokens:
                        keep_alive = True
            if status in (204, 304):
                return status, keep_alive
            if chunked:
                await self._chunks()
            elif length is not None:
                await self._skip(length)
            else:
                while await reader.read(_CHUNK):  # the body ends when the peer closes
                    pass
                keep_alive = False
            return status, keep_alive

    async def _skip(self, n: int) -> None:
        while n > 0:
            got = await self.reader.readexactly(min(n, _CHUNK))
            n -= len(got)

    async def _chunks(self) -> None:
        reader = self.reader
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise RemoteProtocolError("bad chunk size") from exc
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return
            await self._skip(size + 2)


class Unanswered(ReadError):
    """A reused connection died before answering: safe to send again on a fresh one."""
