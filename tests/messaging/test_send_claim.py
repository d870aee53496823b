"""The send claim is explicit, whoever owns the message.

A message of every owner type — a warm-up message with no round, and a message of another
purpose (a campaign's, whose owner the test registers) — goes through the real pipeline (the
in-process worker, the simulator): the gateway is called only once the claim (`sending`,
`claimed_at`) is committed, the message ends `sent` with its claim kept, the caps count it,
and its owner hears the outcome through the job it registered by name."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.models import OutgoingMessage, Purpose
from mirage.policy import ALWAYS, SendContext
from tests.conftest import GatewayWorld, eventually
from tests.conversations.conftest import WarmPair

CAMPAIGN_OUTCOME_JOB = "tests.messaging.campaign_outcome"


@jobs.app.task(name=CAMPAIGN_OUTCOME_JOB, queue="default")
async def _campaign_outcome(
    *,
    tenant_id: str,
    outgoing_id: str,
    outcome: str,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> str:
    return outcome


async def _always(session: Any, msg: OutgoingMessage) -> SendContext:
    return SendContext(conversation_active=True, windows=ALWAYS)


class ClaimSpy:
    """The real gateway, which first looks at the database (from another connection) to see
    what is committed about the message it is asked to send."""

    def __init__(self, real: Any, conninfo: str, text: str) -> None:
        self.real, self.conninfo, self.text = real, conninfo, text
        self.seen: list[tuple[str, object]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def send_text(self, instance: str, number: str, text: str, **kw: Any) -> Any:
        if text == self.text:
            async with await psycopg.AsyncConnection.connect(self.conninfo) as conn:
                cur = await conn.execute(
                    "select status, claimed_at from outgoing_messages where text = %s", (text,)
                )
                row = await cur.fetchone()
            assert row is not None
            self.seen.append((row[0], row[1]))
        return await self.real.send_text(instance, number, text, **kw)


@pytest.mark.parametrize("purpose", [Purpose.WARMUP, Purpose.CAMPAIGN])
async def test_a_message_without_a_round_is_claimed_before_the_send_and_counted(
    gw: GatewayWorld,
    warm: WarmPair,
    bootstrap_conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
    purpose: Purpose,
) -> None:
    if purpose == Purpose.CAMPAIGN:  # campaigns do not exist yet: a stand-in owner
        messaging.owner_of(Purpose.CAMPAIGN)  # the real owner loads first: the stand-in stays
        monkeypatch.setitem(
            messaging._OWNERS,
            Purpose.CAMPAIGN,
            messaging.Owner(outcome_job=CAMPAIGN_OUTCOME_JOB, policy_context=_always),
        )
    outcome_job = messaging.owner_of(purpose).outcome_job
    sender, receiver = warm.numbers
    text = f"Oi, tudo bem? {uuid.uuid4().hex[:8]}"
    spy = ClaimSpy(messaging.get_gateway(), bootstrap_conninfo, text)
    monkeypatch.setattr(messaging, "get_gateway", lambda: spy)

    tenant_id = warm.tenant.tenant_id
    with tenant_context(tenant_id):
        async with session_scope() as session:
            msg = await messaging.plan_message(
                session,
                OutgoingMessage(
                    tenant_id=tenant_id,
                    purpose=purpose,
                    instance_id=uuid.UUID(sender["id"]),
                    to_number=receiver["phone"],
                    text=text,
                    turn=1,
                    planned_at=utcnow(),
                ),
            )
            msg_id = msg.id

    def row() -> tuple[Any, ...]:
        with psycopg.connect(bootstrap_conninfo) as conn:
            found = conn.execute(
                "select status, claimed_at, sent_at, attempts, provider_message_id, purpose, "
                "round_id from outgoing_messages where id = %s",
                (msg_id,),
            ).fetchone()
        assert found is not None
        return tuple(found)

    async def sent() -> bool:
        return bool(row()[0] == "sent")

    await eventually(sent, timeout_s=30, what="the message sent")
    # The gateway was called once, after the claim was committed.
    assert len(spy.seen) == 1, spy.seen
    status_at_send, claimed_at_send = spy.seen[0]
    assert status_at_send == "sending" and claimed_at_send is not None
    status, claimed_at, sent_at, attempts, provider_id, stored_purpose, round_id = row()
    assert (status, stored_purpose, round_id) == ("sent", purpose.value, None)
    assert claimed_at == claimed_at_send and sent_at is not None and sent_at >= claimed_at
    assert attempts == 1 and provider_id
    # The caps count it (a fresh number: this is its only send).
    with tenant_context(tenant_id):
        async with session_scope() as session:
            counts = await messaging.send_counts(session, uuid.UUID(sender["id"]), utcnow())
    assert (counts.last_hour, counts.today) == (1, 1)
    assert counts.last_sent_at == sent_at

    # Its owner heard the outcome, by the job name it registered, with ids and words only.
    async def reported() -> object:
        with psycopg.connect(bootstrap_conninfo) as conn:
            found = conn.execute(
                "select args from procrastinate_jobs where task_name = %s "
                "and args->>'outgoing_id' = %s",
                (outcome_job, str(msg_id)),
            ).fetchone()
        return found[0] if found else None

    args = await eventually(reported, timeout_s=10, what="the outcome job")
    assert args["outcome"] == "sent" and args["tenant_id"] == str(tenant_id)


async def test_a_message_whose_purpose_has_no_owner_is_refused_before_it_is_stored(
    warm: WarmPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(messaging._OWNERS, Purpose.CAMPAIGN, raising=False)
    tenant_id = warm.tenant.tenant_id
    with pytest.raises(LookupError), tenant_context(tenant_id):
        async with session_scope() as session:
            await messaging.plan_message(
                session,
                OutgoingMessage(
                    tenant_id=tenant_id,
                    purpose=Purpose.CAMPAIGN,
                    instance_id=uuid.UUID(warm.numbers[0]["id"]),
                    to_number=warm.numbers[1]["phone"],
                    text="sem dono",
                    turn=1,
                    planned_at=utcnow(),
                ),
            )
