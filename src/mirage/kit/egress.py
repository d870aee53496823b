"""Outgoing HTTP to URLs that tenants control, checked on the address actually connected to.

A text check of the URL cannot see what a name resolves to, and a name can resolve to a
public address when it is saved and to 127.0.0.1 when it is used (DNS rebinding). So the
check lives in the connection itself: `GuardedBackend` resolves the host, refuses the
connection if *any* of its addresses is forbidden by the `AddressPolicy`, and connects to
the address it checked (never resolving twice). TLS still verifies the certificate against
the host name. Every connection of the client goes through it, redirects included.
Environment proxies are ignored: a proxy would resolve the name where we cannot check it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import anyio
import httpcore2
import httpx2

from mirage.kit.http import IDLE_REUSE_S
from mirage.kit.netguard import AddressPolicy, ForbiddenAddress, IPAddress

__all__ = ["GuardedBackend", "Resolver", "guarded_client", "guarded_socket", "system_resolve"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def _address(value: str) -> IPAddress:
    return ipaddress.ip_address(value)


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """An httpcore network backend that only connects to addresses the policy allows."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver | None = None,
        inner: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolve
        self.inner = inner or httpcore2.AnyIOBackend()

    async def _checked_addresses(self, host: str, port: int, limit_s: float | None) -> list[str]:
        try:
            with anyio.fail_after(limit_s):
                found = await self.resolver(host, port)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not found:
            raise httpcore2.ConnectError(f"{host} has no address")
        checked: list[str] = []
        for raw in found:
            try:
                ip = _address(raw)
            except ValueError as exc:
                raise ForbiddenAddress(host, raw, "unparseable") from exc
            # One forbidden address is enough to refuse: a resolver answering with a public
            # and a private address is the classic rebinding set-up.
            self.policy.check_address(host, ip)
            checked.append(str(ip))
        return checked

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await self._checked_addresses(host, port, timeout)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        raise last or ConnectionError("no address to connect to")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise ForbiddenAddress(path, path, "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    timeout: float = 20,
    max_connections: int = 20,
) -> httpx2.AsyncClient:
    """An httpx2 client whose every connection passes `GuardedBackend`. Redirects are not
    followed (an API endpoint has no reason to redirect; a redirect is reported as such)."""
    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=10, keepalive_expiry=IDLE_REUSE_S
    )
    transport = httpx2.AsyncHTTPTransport(trust_env=False, limits=limits)
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=httpx2.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy, resolver=resolver),
    )
    return httpx2.AsyncClient(
        transport=transport, trust_env=False, follow_redirects=False, timeout=timeout
    )


async def guarded_socket(
    host: str,
    port: int,
    policy: AddressPolicy,
    *,
    limit_s: float = 20,
    resolver: Resolver | None = None,
) -> socket.socket:
    """A TCP socket connected to ``host``:``port`` for a protocol that is not HTTP (SMTP): the
    same check as `GuardedBackend` — every address the name resolves to must be allowed, and
    the socket connects to an address that was checked (never resolving twice). The caller
    owns the socket (a TLS layer still verifies the certificate against ``host``)."""
    resolve = resolver or system_resolve
    try:
        async with asyncio.timeout(limit_s):
            found = await resolve(host, port)
    except TimeoutError as exc:
        raise ConnectionError(f"resolving {host} timed out") from exc
    if not found:
        raise ConnectionError(f"{host} has no address")
    addresses: list[IPAddress] = []
    for raw in found:
        try:
            ip = _address(raw)
        except ValueError as exc:
            raise ForbiddenAddress(host, raw, "unparseable") from exc
        policy.check_address(host, ip)
        addresses.append(ip)
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for ip in addresses:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(limit_s):
                await loop.sock_connect(sock, (str(ip), port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc if isinstance(exc, OSError) else ConnectionError(f"{ip} timed out")
            continue
        return sock
    raise last or ConnectionError(f"cannot connect to {host}")
