"""Warm-up and campaigns share each number's caps: the counts the engine gets for a number are
every send of it, whatever its purpose, and a campaign's policy only tightens them."""

from __future__ import annotations

import uuid
from datetime import time, timedelta

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.policy import (
    ALWAYS,
    NumberState,
    Outreach,
    OutreachRules,
    Recipient,
    SendContext,
    TenantLoad,
    TenantPolicy,
    decide,
)
from tests.conftest import make_tenant, sql


async def test_warmup_and_campaign_sends_count_against_one_budget(
    database: object, bootstrap_conninfo: str
) -> None:
    t = await make_tenant()
    inst = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, 'n', %s, 'x', 'x')",
        inst,
        t.tenant_id,
        f"caps-{inst.hex}",
    )
    for purpose in ("warmup", "warmup", "campaign"):
        await sql(
            bootstrap_conninfo,
            "insert into outgoing_messages (id, tenant_id, purpose, instance_id, to_number, "
            "text, turn, status, planned_at, sent_at) values (gen_random_uuid(), %s, %s, %s, "
            "'5511999990000', 'x', 0, 'sent', now(), now())",
            t.tenant_id,
            purpose,
            inst,
        )
    now = utcnow()
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            counts = await messaging.send_counts(session, inst, now)
    assert (counts.last_hour, counts.today) == (3, 3)
    number = NumberState(
        True, "healthy", False, now - timedelta(days=90), counts.last_hour, counts.today, None
    )
    rules = OutreachRules(
        contact_start=time(0),
        contact_end=time(0),
        weekdays=frozenset(range(7)),
        skip_holidays=False,
        number_hourly_cap=3,
    )
    ctx = SendContext(
        conversation_active=True,
        windows=ALWAYS,
        outreach=Outreach(
            rules,
            Recipient(("America/Sao_Paulo",), "consent", "granted", False),
            valid_until=now + timedelta(hours=3),
        ),
    )
    policy = TenantPolicy(quiet_start=None, quiet_end=None, min_gap_seconds=0)
    # Two warm-up sends and one campaign send fill the campaign policy's cap of 3 an hour.
    d = decide(now, global_kill=False, policy=policy, number=number, tenant=TenantLoad(0), ctx=ctx)
    assert (d.action, d.reason) == ("defer", "hourly_cap")
    # Without the policy's tighter cap the tenant's own (30/h) still has room.
    loose = SendContext(
        True,
        ALWAYS,
        Outreach(
            OutreachRules(
                contact_start=time(0),
                contact_end=time(0),
                weekdays=frozenset(range(7)),
                skip_holidays=False,
            ),
            Recipient(("America/Sao_Paulo",), "consent", "granted", False),
            valid_until=now + timedelta(hours=3),
        ),
    )
    d = decide(
        now, global_kill=False, policy=policy, number=number, tenant=TenantLoad(0), ctx=loose
    )
    assert d.action == "allow", d
