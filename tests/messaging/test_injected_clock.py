"""The injected clock reaches the whole stack: pinned at an instant inside the tenant's quiet
hours, the real worker's send decision defers the message to the end of the quiet hours in the
tenant's zone — whatever the machine's own clock says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import pinned, utcnow
from mirage.messaging import service as messaging
from mirage.models import OutgoingMessage, Purpose
from tests.conftest import GatewayWorld, eventually, sql
from tests.conversations.conftest import FAST_SETTINGS, WarmPair
from tests.messaging.test_send_claim import CAMPAIGN_OUTCOME_JOB, _always


async def test_a_pinned_clock_puts_the_workers_decision_inside_quiet_hours(
    gw: GatewayWorld,
    warm: WarmPair,
    bootstrap_conninfo: str,
    client: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messaging.owner_of(Purpose.CAMPAIGN)  # the real owner loads first: the stand-in stays
    monkeypatch.setitem(
        messaging._OWNERS,
        Purpose.CAMPAIGN,
        messaging.Owner(outcome_job=CAMPAIGN_OUTCOME_JOB, policy_context=_always),
    )
    r = await client.put(  # type: ignore[attr-defined]
        "/api/v1/settings",
        headers=warm.auth,
        json={**FAST_SETTINGS, "quiet_start": "22:00", "quiet_end": "07:00"},
    )
    assert r.status_code == 200, r.text
    # 02:30 in São Paulo (UTC-3) on a past day: inside the quiet hours.
    night = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
    sender, receiver = warm.numbers
    tenant_id = warm.tenant.tenant_id
    try:
        with pinned(night):
            assert utcnow() == night
            with tenant_context(tenant_id):
                async with session_scope() as session:
                    msg = await messaging.plan_message(
                        session,
                        OutgoingMessage(
                            tenant_id=tenant_id,
                            purpose=Purpose.CAMPAIGN,
                            instance_id=uuid.UUID(sender["id"]),
                            to_number=receiver["phone"],
                            text=f"boa noite {uuid.uuid4().hex[:6]}",
                            turn=1,
                            planned_at=utcnow(),
                        ),
                    )
                    msg_id = msg.id

            async def decided() -> object:
                with psycopg.connect(bootstrap_conninfo) as conn:
                    row = conn.execute(
                        "select action, reason, until from policy_decisions "
                        "where outgoing_message_id = %s",
                        (msg_id,),
                    ).fetchone()
                return row

            action, reason, until = await eventually(
                decided, timeout_s=20, what="the worker's decision"
            )
        assert (action, reason) == ("defer", "quiet_hours")
        # 07:00 in São Paulo that morning = 10:00 UTC.
        assert until == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    finally:
        await sql(
            bootstrap_conninfo,
            "update outgoing_messages set status = 'cancelled' where id = %s and "
            "status = 'planned'",
            msg_id,
        )
        await client.put("/api/v1/settings", headers=warm.auth, json=FAST_SETTINGS)  # type: ignore[attr-defined]
