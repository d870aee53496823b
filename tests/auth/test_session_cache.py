"""The dashboard's session cache (auth.cache): fast, and revocation still reaches it.

At once on this process for anything written through the app (sign-out, a demotion, a
removal); within the TTL for changes made elsewhere (another process, psql)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from mirage.auth import cache as auth_cache
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import crypto
from mirage.models import Membership
from tests.conftest import TenantFixture, sign_in, sql

ADD_NUMBER_FORM = 'name="display_name"'


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    fake = FakeClock()
    previous = auth_cache.sessions.clock
    auth_cache.sessions.clock = fake
    yield fake
    auth_cache.sessions.clock = previous
    auth_cache.sessions.clear()


def _key(client: httpx.AsyncClient) -> str:
    cookie = client.cookies.get("mirage_session")
    assert cookie
    return crypto.sha256_hex(cookie)


async def test_a_page_fills_the_cache_and_sign_out_empties_it_at_once(
    client: httpx.AsyncClient, tenant_a: TenantFixture, clock: FakeClock
) -> None:
    csrf = await sign_in(client, tenant_a)
    cookie = client.cookies.get("mirage_session")
    assert (await client.get("/instances")).status_code == 200
    assert auth_cache.sessions.get(_key(client)) is not None
    assert (await client.post("/signout", data={"csrf_token": csrf})).status_code == 303
    client.cookies.set("mirage_session", cookie)  # the old cookie, replayed at once
    r = await client.get("/instances")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


async def test_a_demotion_through_the_app_applies_to_the_next_page(
    client: httpx.AsyncClient, tenant_a: TenantFixture, clock: FakeClock
) -> None:
    await sign_in(client, tenant_a)
    assert ADD_NUMBER_FORM in (await client.get("/instances")).text
    with tenant_context(tenant_a.tenant_id, tenant_a.user_id):
        async with session_scope() as session:
            await session.execute(
                update(Membership)
                .where(Membership.user_id == tenant_a.user_id)
                .values(role="viewer")
            )
    # No time passed: the commit itself emptied the cache.
    assert ADD_NUMBER_FORM not in (await client.get("/instances")).text


async def test_changes_made_elsewhere_apply_within_the_ttl(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
    clock: FakeClock,
) -> None:
    await sign_in(client, tenant_a)
    assert (await client.get("/instances")).status_code == 200
    await sql(
        bootstrap_conninfo,
        "update user_sessions set revoked_at = now() where user_id = %s",
        tenant_a.user_id,
    )
    clock.now += auth_cache.TTL_S + 0.01
    r = await client.get("/instances")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


async def test_a_session_is_not_used_past_its_expiry_even_when_cached(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
    clock: FakeClock,
) -> None:
    from datetime import timedelta

    await sign_in(client, tenant_a)
    assert (await client.get("/instances")).status_code == 200
    cached = auth_cache.sessions.get(_key(client))
    assert cached is not None
    # The session's expiry passes (as time would) while its answer is cached.
    await sql(
        bootstrap_conninfo,
        "update user_sessions set expires_at = now() - interval '1 second' where user_id = %s",
        tenant_a.user_id,
    )
    cached.session.expires_at -= timedelta(days=2)
    r = await client.get("/instances")
    assert r.status_code == 303


def test_an_answer_read_before_a_clear_is_not_stored_after_it() -> None:
    cache: auth_cache.TtlCache[str] = auth_cache.TtlCache(5.0, clock=lambda: 0.0)
    generation = cache.generation  # a request starts reading ...
    cache.clear()  # ... a revocation commits meanwhile ...
    cache.put("k", "stale", generation)  # ... and its (stale) answer is dropped
    assert cache.get("k") is None
    cache.put("k", "fresh", cache.generation)
    assert cache.get("k") == "fresh"
