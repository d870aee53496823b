"""X-Forwarded-For is believed only from MIRAGE_TRUSTED_PROXIES (default: nobody), and then
only up to the right-most address that is not a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from starlette.requests import Request
from typer.testing import CliRunner

from mirage.auth.deps import client_ip
from mirage.config import get_settings
from mirage.kit.netguard import forwarded_client, parse_networks
from mirage.kit.ratelimit import RateLimiter

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")
addresses = st.ip_addresses().map(str)


@given(peer=addresses, header=st.lists(st.text(max_size=60), max_size=4))
def test_without_trusted_proxies_the_peer_is_the_client(peer: str, header: list[str]) -> None:
    assert forwarded_client(peer, header, ()) == peer


@given(peer=addresses, chain=st.lists(addresses, max_size=5))
@example(peer="::ffff:8.8.8.8", chain=["1.2.3.4"])
def test_an_untrusted_peer_cannot_speak_for_anyone(peer: str, chain: list[str]) -> None:
    ip = ipaddress.ip_address(peer)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    assume(not any(ip.version == n.version and ip in n for n in PROXIES))
    assert forwarded_client(peer, [", ".join(chain)], PROXIES) == peer


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        # The client can write anything to the left; the right-most untrusted entry counts.
        ("10.0.0.2", ["1.1.1.1, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.7, 10.0.0.9"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1", "203.0.113.7:5123"], "203.0.113.7"),
        ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.3, 10.0.0.4"], "10.0.0.3"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("198.51.100.9", ["127.0.0.1"], "198.51.100.9"),
    ],
)
def test_right_most_untrusted_address(peer: str, header: list[str], expected: str) -> None:
    assert forwarded_client(peer, header, PROXIES) == expected


def _request(peer: str, xff: str | None) -> Request:
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    return Request({"type": "http", "client": (peer, 4242), "headers": headers})


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(get_settings(), "trusted_proxies", "127.0.0.0/8")
    yield


def test_client_ip_ignores_forwarded_for_by_default() -> None:
    assert get_settings().trusted_proxies == ""
    assert client_ip(_request("127.0.0.1", "203.0.113.7")) == "127.0.0.1"


def test_client_ip_believes_a_trusted_proxy(trusted: None) -> None:
    assert client_ip(_request("127.0.0.1", "6.6.6.6, 203.0.113.7")) == "203.0.113.7"
    assert client_ip(_request("198.51.100.1", "203.0.113.7")) == "198.51.100.1"


class SpyLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(None)
        self.keys: list[tuple[str, ...]] = []

    async def hit(self, limit: str, *keys: str) -> Any:
        self.keys.append(keys)
        return await super().hit(limit, *keys)

    async def hit_tiers(self, limits: str, *keys: str) -> Any:
        self.keys.append(keys)
        return await super().hit_tiers(limits, *keys)


@pytest.fixture
def spy(app: Any) -> Iterator[SpyLimiter]:
    limiter, before = SpyLimiter(), app.state.rate_limiter
    app.state.rate_limiter = limiter
    yield limiter
    app.state.rate_limiter = before


async def _signin(client: httpx.AsyncClient, xff: str) -> None:
    await client.get("/signin")
    csrf = client.cookies.get("mirage_csrf")
    await client.post(
        "/signin",
        data={"email": "nobody@example.com", "password": "x", "csrf_token": csrf},
        headers={"X-Forwarded-For": xff},
    )


async def test_a_spoofed_forwarded_for_from_localhost_does_not_change_the_rate_limit_key(
    client: httpx.AsyncClient, spy: SpyLimiter
) -> None:
    await _signin(client, "203.0.113.7")
    ip_keys = {k[1] for k in spy.keys if k[0] == "login-ip"}
    peer = client._transport.client[0]  # type: ignore[attr-defined]  # the test client's address
    assert peer.startswith("127.") and ip_keys == {peer}


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_rate_limit_key(
    client: httpx.AsyncClient, spy: SpyLimiter, trusted: None
) -> None:
    await _signin(client, "6.6.6.6, 203.0.113.7")
    ip_keys = {k[1] for k in spy.keys if k[0] == "login-ip"}
    assert ip_keys == {"203.0.113.7"}


def test_the_api_command_passes_the_trusted_proxies_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    from mirage import cli as cli_module
    from mirage.cli import cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    # The command configures logging; under CliRunner that would point it at a closed stream.
    monkeypatch.setattr(cli_module, "configure_logging", lambda *a, **kw: None)
    assert CliRunner().invoke(cli, ["api"]).exit_code == 0
    assert calls[-1]["proxy_headers"] is False and calls[-1]["forwarded_allow_ips"] == []
    monkeypatch.setattr(get_settings(), "trusted_proxies", "10.0.0.0/8,192.0.2.1")
    assert CliRunner().invoke(cli, ["api"]).exit_code == 0
    assert calls[-1]["proxy_headers"] is True
    assert calls[-1]["forwarded_allow_ips"] == ["10.0.0.0/8", "192.0.2.1/32"]
