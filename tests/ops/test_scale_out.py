"""Several workers on one database share the sends, and none goes out twice
(docs/operations.md#scaling-out).

Two procrastinate workers (one job at a time each) compete for two sends that are due at
the same moment, from two numbers. The owner's claim hook holds each claim open until the
other message is claimed too: a worker running one job at a time can only get past it if the
*other* worker claimed the other message — so the test passes only when the two workers took
one send each, concurrently. Then the same two sends are handed out again (as a stalled job's
re-queue or a reaper step would): the claim already taken makes them no-ops, and the gateway
was asked once per message."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.models import OutgoingMessage, Purpose
from tests.conftest import GatewayWorld, eventually, sql
from tests.conversations.conftest import WarmPair
from tests.conversations.conftest import warm as warm  # the fixture, for this module
from tests.messaging.test_send_claim import CAMPAIGN_OUTCOME_JOB, _always

CLAIM_WAIT_S = 20.0


class CountingGateway:
    """The real gateway, counting the texts it is asked to send."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.texts: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def send_text(self, instance: str, number: str, text: str, **kw: Any) -> Any:
        self.texts[text] += 1
        return await self.real.send_text(instance, number, text, **kw)


@pytest.mark.timeout(120)
async def test_two_workers_take_one_send_each_and_none_goes_twice(
    gw: GatewayWorld, warm: WarmPair, bootstrap_conninfo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed: list[uuid.UUID] = []
    both = asyncio.Event()
    tag = uuid.uuid4().hex[:8]

    async def hold_until_both_claimed(session: Any, msg: OutgoingMessage, now: Any) -> None:
        if tag not in msg.text:
            return  # another test's campaign message (this stand-in owns them all meanwhile)
        claimed.append(msg.id)
        if len(claimed) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), CLAIM_WAIT_S)

    messaging.owner_of(Purpose.CAMPAIGN)  # the real owner loads first: the stand-in stays
    monkeypatch.setitem(
        messaging._OWNERS,
        Purpose.CAMPAIGN,
        messaging.Owner(
            outcome_job=CAMPAIGN_OUTCOME_JOB,
            policy_context=_always,
            on_claim=hold_until_both_claimed,
        ),
    )
    gateway = CountingGateway(messaging.get_gateway())
    monkeypatch.setattr(messaging, "get_gateway", lambda: gateway)

    (ana, bia), tenant_id = warm.numbers, warm.tenant.tenant_id
    pairs = [(ana, bia, f"Oi Bia, tudo certo? {tag}"), (bia, ana, f"Oi Ana, tudo sim! {tag}")]
    await gw.stop_worker()  # only the two workers below take jobs
    workers: list[asyncio.Task[None]] = []
    try:
        with tenant_context(tenant_id):
            async with session_scope() as session:  # both due now, their jobs in one commit
                ids = [
                    (
                        await messaging.plan_message(
                            session,
                            OutgoingMessage(
                                tenant_id=tenant_id,
                                purpose=Purpose.CAMPAIGN,
                                instance_id=uuid.UUID(sender["id"]),
                                to_number=receiver["phone"],
                                text=text,
                                turn=1,
                                planned_at=utcnow(),
                            ),
                        )
                    ).id
                    for sender, receiver, text in pairs
                ]
        workers = [
            asyncio.create_task(
                jobs.app.run_worker_async(
                    name=f"scale-out-{n}",
                    queues=["sends"],
                    concurrency=1,
                    install_signal_handlers=False,
                    fetch_job_polling_interval=0.1,
                    update_heartbeat_interval=2,
                )
            )
            for n in (1, 2)
        ]

        async def status() -> list[str]:
            rows = await sql(
                bootstrap_conninfo,
                "select status from outgoing_messages where id = any(%s) order by text",
                ids,
            )
            return [r[0] for r in rows]

        async def all_sent() -> bool:
            return await status() == ["sent", "sent"]

        await eventually(all_sent, timeout_s=60, what="both messages sent")
        assert sorted(claimed) == sorted(ids), "each message claimed once, by its own worker"

        # The same sends handed out again (a stalled job re-queued, a reaper step): no-ops.
        for outgoing_id in ids:
            await jobs.app.configure_task(messaging.SEND_JOB).defer_async(
                tenant_id=str(tenant_id), outgoing_id=str(outgoing_id)
            )

        async def redelivered_done() -> bool:
            rows = await sql(
                bootstrap_conninfo,
                "select count(*) from procrastinate_jobs where task_name = %s "
                "and args->>'outgoing_id' = any(%s) and status = 'succeeded'",
                messaging.SEND_JOB,
                [str(i) for i in ids],
            )
            return bool(rows[0][0] == 4)

        await eventually(redelivered_done, timeout_s=30, what="the re-delivered send jobs")
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        gw.start_worker()

    assert await status() == ["sent", "sent"]
    # This test's texts (the gateway stand-in sees the whole process's sends).
    mine = Counter({text: n for text, n in gateway.texts.items() if tag in text})
    assert mine == Counter({text: 1 for _, _, text in pairs}), gateway.texts
    rows = await sql(
        bootstrap_conninfo,
        "select attempts, provider_message_id from outgoing_messages where id = any(%s)",
        ids,
    )
    assert [r[0] for r in rows] == [1, 1] and all(r[1] for r in rows), rows
