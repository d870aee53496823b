"""Sign-in limits cannot be turned into a lock-out: failures from elsewhere stop the attacker
(429 with Retry-After) but not the owner on a device that signed in before; per address and
per (address, account) limits hold for everyone."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mirage.auth import service
from mirage.config import get_settings
from mirage.kit.ratelimit import RateLimiter
from tests.conftest import TenantFixture, make_tenant


@pytest.fixture(autouse=True)
def behind_proxy(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Requests arrive through a trusted proxy (so each can come from its own address), and
    the limits start empty."""
    monkeypatch.setattr(get_settings(), "trusted_proxies", "127.0.0.0/8")
    # Hour-long windows: the outcome cannot depend on how fast the machine runs the test.
    for name, value in (
        ("login_rate_per_ip", "20/hour"),
        ("login_rate_per_ip_account", "5/hour;20/day"),
        ("login_rate_per_account", "10/hour;30/day"),
        ("login_rate_per_device", "10/hour;30/day"),
    ):
        monkeypatch.setattr(get_settings(), name, value)
    before = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter(None)
    yield
    app.state.rate_limiter = before


def _ip() -> str:
    return f"203.0.{random.randrange(256)}.{random.randrange(1, 255)}"


def _browser(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver")


async def _attempt(
    browser: httpx.AsyncClient, email: str, password: str, ip: str
) -> httpx.Response:
    if not browser.cookies.get("mirage_csrf"):
        await browser.get("/signin", headers={"X-Forwarded-For": ip})
    csrf = browser.cookies.get("mirage_csrf")
    r = await browser.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": csrf},
        headers={"X-Forwarded-For": ip},
    )
    if r.status_code == 303:  # signed in; forget the session (as after signing out)
        browser.cookies.delete("mirage_csrf")
        browser.cookies.delete("mirage_session")
    return r


async def test_an_attack_from_elsewhere_does_not_lock_out_the_owner_on_a_known_device(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    owner, owner_ip = _browser(client), _ip()
    assert (await _attempt(owner, tenant_a.email, tenant_a.password, owner_ip)).status_code == 303
    assert owner.cookies.get("mirage_device")

    # An attacker guesses from many addresses: one or two guesses each.
    attacker = _browser(client)
    statuses = []
    for _ in range(14):
        r = await _attempt(attacker, tenant_a.email, "guess", _ip())
        statuses.append(r.status_code)
    assert set(statuses[:9]) == {401}  # the owner's own sign-in counted too
    assert statuses[-1] == 429 and set(statuses[9:]) == {429}
    assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert r.headers["RateLimit-Remaining"] == "0"
    # Even the right password from an unknown device waits while the account is attacked...
    stranger = _browser(client)
    r = await _attempt(stranger, tenant_a.email, tenant_a.password, _ip())
    assert r.status_code == 429
    # ...but the owner's known device with the right password goes through, from any address.
    r = await _attempt(owner, tenant_a.email, tenant_a.password, owner_ip)
    assert r.status_code == 303, r.text[:300]
    r = await _attempt(owner, tenant_a.email, tenant_a.password, _ip())
    assert r.status_code == 303


async def test_per_address_and_account_limit(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    other = await make_tenant()
    browser, ip = _browser(client), _ip()
    statuses = [(await _attempt(browser, tenant_a.email, "bad", ip)).status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429, 429]
    # The same address may still try another account (below the per-address limit)...
    assert (await _attempt(browser, other.email, other.password, ip)).status_code == 303
    # ...and the account itself is still open from elsewhere.
    fresh = _browser(client)
    assert (await _attempt(fresh, tenant_a.email, tenant_a.password, _ip())).status_code == 303


async def test_per_address_limit(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    browser, ip = _browser(client), _ip()
    statuses = []
    for i in range(22):
        r = await _attempt(browser, f"nobody-{i}@example.com", "bad", ip)
        statuses.append(r.status_code)
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429, 429]
    assert int(r.headers["Retry-After"]) >= 1


async def test_a_known_device_is_limited_per_device(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    """A stolen device cookie does not give unlimited guesses: it has its own limit."""
    owner = _browser(client)
    assert (await _attempt(owner, tenant_a.email, tenant_a.password, _ip())).status_code == 303
    statuses = [
        (await _attempt(owner, tenant_a.email, "bad", _ip())).status_code for _ in range(11)
    ]
    assert statuses[:9] == [401] * 9 and statuses[-1] == 429


async def test_the_device_cookie_is_bound_to_the_user_and_signed(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    key = get_settings().resolved_secret_key()
    now = datetime.now(UTC)
    other = await make_tenant()
    device = service.read_known_device(
        key,
        service.known_device_cookie(key, None, other.user_id, now),
        now,
        timedelta(days=1),
    )
    assert device is not None and device.knows(other.user_id)
    assert not device.knows(tenant_a.user_id)
    value = service.known_device_cookie(key, device, tenant_a.user_id, now)
    both = service.read_known_device(key, value, now, timedelta(days=1))
    assert both is not None and both.device_id == device.device_id
    assert both.user_ids == (tenant_a.user_id, other.user_id)
    # Tampered, signed with another key, or too old: not a known device.
    # (The last character changed for sure: replacing it with "0" did nothing one time in 16.)
    tampered = value[:-1] + ("1" if value.endswith("0") else "0")
    assert service.read_known_device(key, tampered, now, timedelta(days=1)) is None
    assert service.read_known_device("other-key", value, now, timedelta(days=1)) is None
    later = now + timedelta(days=2)
    assert service.read_known_device(key, value, later, timedelta(days=1)) is None

    # A device known for another user does not exempt this account from its limit.
    attacker = _browser(client)
    for _ in range(12):
        await _attempt(attacker, tenant_a.email, "guess", _ip())
    carrier = _browser(client)
    carrier.cookies.set("mirage_device", service.known_device_cookie(key, None, other.user_id, now))
    r = await _attempt(carrier, tenant_a.email, tenant_a.password, _ip())
    assert r.status_code == 429
