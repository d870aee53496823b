"""The periodic job folds a new fact on its own: a worker (the test's in-process one) runs
``metrics.refresh`` every 30 s, so a message stored now is counted within the freshness bound."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import GatewayWorld, TenantFixture, eventually, sql


@pytest.mark.timeout(180)
async def test_worker_folds_a_new_message_within_a_minute(
    gw: GatewayWorld, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    instance = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, 'J', %s, 'x', 'x')",
        instance,
        tenant_a.tenant_id,
        f"j-{instance.hex}",
    )
    m = uuid.uuid4()
    await sql(
        bootstrap_conninfo,
        "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
        "from_me, remote_jid, message_type, status, status_rank, status_history) values "
        "(%s, %s, %s, %s, 'inbound', false, 'x@s.whatsapp.net', 'conversation', "
        "'DELIVERY_ACK', 3, '[]')",
        m,
        tenant_a.tenant_id,
        instance,
        m.hex,
    )

    async def counted() -> bool:
        rows = await sql(
            bootstrap_conninfo,
            "select sum(messages) from metrics_message_hours where instance_id = %s",
            instance,
        )
        return rows[0][0] == 1

    # 30 s between runs, plus the worker's polling and a loaded machine.
    await eventually(counted, timeout_s=90, interval_s=1.0, what="the refresh job to fold it")
