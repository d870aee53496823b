"""``safety.service.warmup_stages`` (a table of numbers' warm-up stages, read at once) agrees
with ``warmup_stage`` of each number: sends on past days, a day that left green, a number that
never connected, one that connected today, one of another tenant (left out)."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.kit.clock import utcnow
from mirage.models import Instance
from mirage.safety import service as safety
from tests.conftest import TenantFixture, make_tenant, sql

ZONE = ZoneInfo("America/Sao_Paulo")


async def _number(conninfo: str, t: TenantFixture, connected: datetime | None) -> uuid.UUID:
    i = uuid.uuid4()
    await sql(
        conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc, first_connected_at) values (%s, %s, %s, %s, 'x', 'x', %s)",
        i,
        t.tenant_id,
        f"n-{i.hex[:8]}",
        f"stage-{i.hex}",
        connected,
    )
    return i


async def _sent(conninfo: str, t: TenantFixture, instance: uuid.UUID, at: datetime) -> None:
    await sql(
        conninfo,
        "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
        "planned_at, status, sent_at) values (gen_random_uuid(), %s, %s, '5511999990000', "
        "'oi', 0, %s, 'sent', %s)",
        t.tenant_id,
        instance,
        at,
        at,
    )


async def test_the_batch_read_agrees_with_each_number(
    database: object, bootstrap_conninfo: str
) -> None:
    db = bootstrap_conninfo
    t, other = await make_tenant(mfa=False), await make_tenant(mfa=False)
    now = utcnow()
    noon = datetime.combine(now.astimezone(ZONE).date(), time(12), ZONE)
    climbing = await _number(db, t, noon - timedelta(days=6))
    locked = await _number(db, t, noon - timedelta(days=5))
    never = await _number(db, t, None)
    today = await _number(db, t, now)
    foreign = await _number(db, other, noon - timedelta(days=6))
    for back in (5, 4, 3, 1):
        await _sent(db, t, climbing, noon - timedelta(days=back))
        await _sent(db, t, locked, noon - timedelta(days=back))
        await _sent(db, other, foreign, noon - timedelta(days=back))
    await sql(
        db,
        "insert into number_signals (id, tenant_id, instance_id, kind, code, at) "
        "values (gen_random_uuid(), %s, %s, 'time_lock', 463, %s)",
        t.tenant_id,
        locked,
        noon - timedelta(days=3),
    )
    ids = [climbing, locked, never, today, foreign]
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        batch = await safety.warmup_stages(session, ids, now, ZONE)
        each = {}
        for i in ids[:4]:
            inst = await session.get(Instance, i)
            assert inst is not None
            each[i] = await safety.warmup_stage(session, inst, now, ZONE)
    assert batch == each
    # climbing: idle (−6), up, up, up, idle, up; locked: up, up, down (the 463 on −3), idle, up.
    assert (batch[climbing], batch[locked], batch[never], batch[today]) == (4, 2, None, 0)
    assert foreign not in batch  # another tenant's number: not visible (row-level security)
