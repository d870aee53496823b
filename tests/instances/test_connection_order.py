"""Connection updates arrive unordered: an older one never overwrites a newer one, and a
pairing's "connecting" emitted in the same millisecond as its "open" never undoes it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.instances import service
from mirage.instances.repository import InstanceRepository
from mirage.providers import ConnectionState
from mirage.webhooks.normalize import ConnectionUpdate
from tests.conftest import GatewayWorld, TenantFixture, make_token
from tests.conversations.conftest import connect_number


async def _apply(t: TenantFixture, iid: str, update: ConnectionUpdate) -> tuple[str, bool]:
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = await InstanceRepository(session).get(uuid.UUID(iid), for_update=True)
        assert inst is not None
        if update.event_at is None:
            update = ConnectionUpdate(
                update.state, update.status_reason, None, None, inst.state_event_at
            )
        await service.apply_connection(session, inst, update)
        return inst.state, inst.connected


async def test_same_instant_connecting_never_undoes_open(
    gw: GatewayWorld, client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    token = await make_token(tenant_a)
    auth = {"Authorization": f"Bearer {token}"}
    inst = await connect_number(gw, client, auth, "Ordem", "5511990004321")
    # The "connecting" of the same pairing, delivered after its "open" (same gateway time).
    same = ConnectionUpdate(ConnectionState.CONNECTING, 200, None, None, None)
    assert await _apply(tenant_a, inst["id"], same) == ("open", True)
    # A later "connecting" (a real reconnect) is applied.
    async with session_scope() as session:
        await bind_context(session, tenant_id=tenant_a.tenant_id, user_id=None)
        row = await InstanceRepository(session).get(uuid.UUID(inst["id"]))
        assert row is not None and row.state_event_at is not None
        later = row.state_event_at + timedelta(milliseconds=1)
        earlier = row.state_event_at - timedelta(milliseconds=1)
    assert await _apply(
        tenant_a, inst["id"], ConnectionUpdate(ConnectionState.OPEN, 200, None, None, earlier)
    ) == ("open", True)
    state, connected = await _apply(
        tenant_a, inst["id"], ConnectionUpdate(ConnectionState.CONNECTING, 200, None, None, later)
    )
    assert (state, connected) == ("connecting", False)
