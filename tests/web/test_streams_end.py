"""Live streams (SSE) end with the right to see them: after sign-out (at once), after the session
expires, after the member is removed from the tenant or changes role; no tenant row is sent
after that. Streams are discovered: every dashboard GET route that answers with an event
stream, served over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mirage.config import get_settings
from mirage.db.engine import session_scope
from mirage.kit import live
from mirage.kit.http import limits as pool_limits
from tests.conftest import GatewayWorld, eventually, sql
from tests.web.dashboard import Seeded, asgi_get, client_for, get_paths, seed

ROW = (
    "event: instance-",
    "event: conversation-",
    "event: rounds-",
    "event: import-",
    "event: overview",
    "event: funnel-",
    "event: metrics",
)


async def _streams(app: Any, s: Seeded, cookies: dict[str, str]) -> list[str]:
    found = []
    for path in get_paths(s.ids):
        probe = await asgi_get(app, path, cookies)
        if probe.content_type.startswith("text/event-stream"):
            found.append(path)
    assert {"/instances/events", "/conversations-events", "/overview/events"} <= set(found), found
    return found


async def _poke(s: Seeded) -> None:
    """Announce a change of every row the tenant has (each stream picks its own kind)."""
    async with session_scope() as session:
        tenant = uuid.UUID(s.ids["tenant_id"])
        await live.notify(session, tenant, "instance", uuid.UUID(s.ids["instance_id"]))
        await live.notify(session, tenant, "conversation", uuid.UUID(s.ids["conversation_id"]))
        await live.notify(session, tenant, "contact_import", uuid.UUID(s.ids["import_id"]))
        await live.notify(session, tenant, "campaign", uuid.UUID(s.ids["campaign_id"]))
        await live.notify(session, tenant, "metrics", tenant)


@dataclass
class Reader:
    lines: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def rows(self, start: int = 0) -> list[str]:
        return [line for line in self.lines[start:] if line.startswith(ROW)]

    @property
    def ended(self) -> bool:
        return self.task is not None and self.task.done()


@contextlib.asynccontextmanager
async def _open(base_url: str, path: str, cookies: dict[str, str]) -> AsyncIterator[Reader]:
    reader = Reader()
    opened = asyncio.Event()
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())

    async def read() -> None:
        async with (
            httpx.AsyncClient(
                limits=pool_limits(), base_url=base_url, timeout=httpx.Timeout(60)
            ) as c,
            c.stream("GET", path, headers={"Cookie": header}) as r,
        ):
            assert r.headers["content-type"].startswith("text/event-stream")
            opened.set()
            async for line in r.aiter_lines():
                reader.lines.append(line)

    reader.task = asyncio.create_task(read())
    try:
        waiter = asyncio.create_task(opened.wait())
        await asyncio.wait({reader.task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if reader.task.done():
            reader.task.result()  # surface why it did not open
        yield reader
    finally:
        reader.task.cancel()
        await asyncio.gather(reader.task, return_exceptions=True)


async def _delivers(reader: Reader, s: Seeded) -> None:
    # Poked again only if a poke was lost (sent before LISTEN was ready: such a poke is never
    # delivered late), spaced so that a delivered one has long arrived before the next.
    loop = asyncio.get_running_loop()
    poked_at = [-1e9]

    async def got() -> bool:
        if not reader.rows() and loop.time() - poked_at[0] > 5:
            poked_at[0] = loop.time()
            await _poke(s)
        return bool(reader.rows())

    await eventually(got, timeout_s=30, what="a row on the stream before the cut")
    await asyncio.sleep(0)  # (rows of the same poke arrive together: one render, one write)


async def _ends(reader: Reader) -> None:
    async def done() -> bool:
        return reader.ended

    await eventually(done, timeout_s=30, what="the stream to end")


CUTS = ["sign-out", "expiry", "removal", "role-change"]


@pytest.mark.parametrize("cut", CUTS)
async def test_every_stream_ends_with_its_session(
    gw: GatewayWorld, app: Any, bootstrap_conninfo: str, cut: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Re-checked often in tests; for sign-out rarely, to show the sign-out itself ends it.
    recheck = 3600.0 if cut == "sign-out" else 0.2
    monkeypatch.setattr(get_settings(), "stream_recheck_seconds", recheck)
    async with client_for(app) as client:
        s = await seed(client)
        cookies = dict(client.cookies.items())
        for path in await _streams(app, s, cookies):
            if cut == "sign-out":
                s = await seed(client)  # a fresh session for each stream
                cookies = dict(client.cookies.items())
            async with _open(gw.mirage_url, path, cookies) as reader:
                await _delivers(reader, s)
                mark = len(reader.lines)
                if cut == "sign-out":
                    r = await client.post("/signout", data={"csrf_token": s.csrf})
                    assert r.status_code == 303
                else:
                    await _cut(bootstrap_conninfo, cut, s, cookies["mirage_session"])
                await _poke(s)  # a change right after the cut is not delivered
                await _ends(reader)
                assert reader.rows(mark) == [], (path, cut, reader.lines[mark:])
                assert "event: session-ended" in reader.lines[mark:]
            # A new stream with the same cookie is refused while the session is cut.
            if cut != "role-change":  # (a viewer may watch too)
                probe = await asgi_get(app, path, cookies)
                assert not probe.content_type.startswith("text/event-stream"), (path, cut)
            if cut != "sign-out":
                await _restore(bootstrap_conninfo, cut, s, cookies["mirage_session"])


async def _cut(conninfo: str, cut: str, s: Seeded, session_cookie: str) -> None:
    from mirage.kit import crypto

    if cut == "expiry":
        await sql(
            conninfo,
            "update user_sessions set expires_at = now() - interval '1 second'"
            " where token_hash = %s",
            crypto.sha256_hex(session_cookie),
        )
    elif cut == "removal":
        await sql(
            conninfo,
            "delete from memberships where user_id = %s and tenant_id = %s",
            s.tenant.user_id,
            s.ids["tenant_id"],
        )
    elif cut == "role-change":
        await sql(
            conninfo,
            "update memberships set role = 'viewer' where user_id = %s and tenant_id = %s",
            s.tenant.user_id,
            s.ids["tenant_id"],
        )


async def _restore(conninfo: str, cut: str, s: Seeded, session_cookie: str) -> None:
    """Undo the cut so the next discovered stream starts from a signed-in member again."""
    from mirage.kit import crypto

    if cut == "expiry":
        await sql(
            conninfo,
            "update user_sessions set expires_at = now() + interval '1 hour' where token_hash = %s",
            crypto.sha256_hex(session_cookie),
        )
    elif cut == "role-change":
        await sql(
            conninfo,
            "update memberships set role = 'owner' where user_id = %s and tenant_id = %s",
            s.tenant.user_id,
            s.ids["tenant_id"],
        )
    if cut == "removal":
        from mirage.models.tenancy import Role
        from mirage.tenants import service

        async with session_scope() as session:
            await service.add_member(
                session,
                tenant_id=uuid.UUID(s.ids["tenant_id"]),
                user_id=s.tenant.user_id,
                role=Role.OWNER,
            )
