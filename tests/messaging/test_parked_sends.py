"""A number's queue: a message whose number is typing another parks, with no job of its own;
the send that finishes takes the number's next parked message itself; the reaper wakes only
parked messages that nothing of their number will wake; a stopping worker hands the next one
to a job."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.messaging.repository import OutgoingRepository
from mirage.models import OutgoingMessage, Purpose
from mirage.policy import ALWAYS, NEVER, SendContext, holds_number
from tests.conftest import GatewayWorld, eventually
from tests.conversations.conftest import WarmPair
from tests.messaging.test_send_claim import CAMPAIGN_OUTCOME_JOB


def _rows(conninfo: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description else []


async def _plan(warm: WarmPair, texts: list[str], at_offset: timedelta) -> list[uuid.UUID]:
    sender, receiver = warm.numbers
    tenant_id = warm.tenant.tenant_id
    ids = []
    with tenant_context(tenant_id):
        async with session_scope() as session:
            for n, text in enumerate(texts):
                msg = await messaging.plan_message(
                    session,
                    OutgoingMessage(
                        tenant_id=tenant_id,
                        purpose=Purpose.CAMPAIGN,
                        instance_id=uuid.UUID(sender["id"]),
                        to_number=receiver["phone"],
                        text=text,
                        turn=1,
                        # Distinct planned times: the queue's order is theirs.
                        planned_at=utcnow() + at_offset + timedelta(milliseconds=n),
                        typing_ms=2000,
                    ),
                )
                ids.append(msg.id)
    return ids


@pytest.fixture
def closed_windows_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Campaign messages whose text starts with "fora" are outside their windows (a reason
    of their own: the number's other messages may still go)."""

    async def context(session: Any, msg: OutgoingMessage) -> SendContext:
        return SendContext(
            conversation_active=True, windows=NEVER if msg.text.startswith("fora") else ALWAYS
        )

    messaging.owner_of(Purpose.CAMPAIGN)  # the real owner loads first: the stand-in stays
    monkeypatch.setitem(
        messaging._OWNERS,
        Purpose.CAMPAIGN,
        messaging.Owner(outcome_job=CAMPAIGN_OUTCOME_JOB, policy_context=context),
    )


def test_which_reasons_hold_the_whole_number() -> None:
    # The number's own state, the tenant's quiet hours and burst: every message alike.
    assert holds_number("number_not_connected", outreach=True)
    assert holds_number("quiet_hours", outreach=False)
    # Caps and gaps: alike for a message without a campaign's rules (which only tighten).
    assert holds_number("min_gap", outreach=False)
    assert not holds_number("min_gap", outreach=True)
    # A message's own calendar or consent never holds the others back.
    assert not holds_number("outside_window", outreach=False)
    assert not holds_number("suppressed", outreach=True)


async def test_a_message_held_back_for_its_own_reason_lets_the_next_parked_one_go(
    gw: GatewayWorld, warm: WarmPair, bootstrap_conninfo: str, closed_windows_owner: None
) -> None:
    sender = warm.numbers[0]
    await gw.sim.control.set_instance_faults(sender["gateway_name"], latencyMs=1500)
    try:
        tag = uuid.uuid4().hex[:6]
        first, held, last = await _plan(
            warm, [f"primeira {tag}", f"fora da janela {tag}", f"última {tag}"], timedelta(0)
        )

        async def last_sent() -> object:
            rows = _rows(
                bootstrap_conninfo, "select status from outgoing_messages where id = %s", last
            )
            return rows == [("sent",)] or None

        await eventually(last_sent, timeout_s=40, what="the last one sent", interval_s=0.1)
    finally:
        await gw.sim.control.clear_instance_faults(sender["gateway_name"])
    status, planned_at, parked_at = _rows(
        bootstrap_conninfo,
        "select status, planned_at, parked_at from outgoing_messages where id = %s",
        held,
    )[0]
    # The held one is deferred to its window's opening, with a job of its own for then…
    assert status == "planned" and parked_at is None and planned_at > utcnow()
    jobs = _rows(
        bootstrap_conninfo,
        "select count(*) from procrastinate_jobs where task_name = %s "
        "and args->>'outgoing_id' = %s and status = 'todo'",
        messaging.SEND_JOB,
        str(held),
    )
    assert jobs == [(1,)]
    # …and the one behind it did not wait for it.
    assert _rows(
        bootstrap_conninfo, "select status from outgoing_messages where id = %s", first
    ) == [("sent",)]


async def _reaped(warm: WarmPair) -> set[uuid.UUID]:
    with tenant_context(warm.tenant.tenant_id):
        async with session_scope() as session:
            return set(await messaging.reap(session, utcnow()))


async def test_the_reaper_wakes_a_parked_message_only_when_nothing_of_its_number_will(
    gw: GatewayWorld, warm: WarmPair, bootstrap_conninfo: str, no_background_jobs: None
) -> None:
    tag = uuid.uuid4().hex[:6]
    parked, other = await _plan(warm, [f"estacionada {tag}", f"outra {tag}"], -timedelta(minutes=5))
    # The parked one ran its job (the number was typing) and has none left.
    _rows(
        bootstrap_conninfo,
        "delete from procrastinate_jobs where args->>'outgoing_id' = any(%s)",
        [str(parked), str(other)],
    )
    _rows(
        bootstrap_conninfo,
        "update outgoing_messages set parked_at = now() - interval '5 minutes' where id = %s",
        parked,
    )
    # The number is typing another send (claimed seconds ago): that send will take it.
    _rows(
        bootstrap_conninfo,
        "update outgoing_messages set status = 'sending', claimed_at = now() - interval '5 s' "
        "where id = %s",
        other,
    )
    assert parked not in await _reaped(warm)
    # The send is out; another message of the number is due within the hour with a job of
    # its own (deferred by the number's gap): that one will take it.
    _rows(
        bootstrap_conninfo,
        "update outgoing_messages set status = 'planned', claimed_at = null, "
        "planned_at = now() + interval '10 minutes' where id = %s",
        other,
    )
    assert parked not in await _reaped(warm)
    # Nothing of the number will act for days: the parked one gets a job of its own, now.
    _rows(
        bootstrap_conninfo,
        "update outgoing_messages set planned_at = now() + interval '2 days' where id = %s",
        other,
    )
    assert parked in await _reaped(warm)
    (parked_at,) = _rows(
        bootstrap_conninfo, "select parked_at from outgoing_messages where id = %s", parked
    )[0]
    assert parked_at is None
    with tenant_context(warm.tenant.tenant_id):
        async with session_scope() as session:
            live = await OutgoingRepository(session).with_live_job(
                [str(parked)], messaging.SEND_JOB
            )
    assert live == {str(parked)}


async def test_a_stopping_worker_hands_the_numbers_next_message_to_a_job(
    gw: GatewayWorld, warm: WarmPair, bootstrap_conninfo: str, no_background_jobs: None
) -> None:
    tag = uuid.uuid4().hex[:6]
    (parked,) = await _plan(warm, [f"na fila {tag}"], -timedelta(seconds=5))
    _rows(
        bootstrap_conninfo,
        "delete from procrastinate_jobs where args->>'outgoing_id' = %s",
        str(parked),
    )
    _rows(
        bootstrap_conninfo, "update outgoing_messages set parked_at = now() where id = %s", parked
    )
    sends = messaging.in_flight_sends()
    sends.closing = True
    try:
        with tenant_context(warm.tenant.tenant_id):
            claim = await messaging._follow_up(uuid.UUID(warm.numbers[0]["id"]))
    finally:
        sends.closing = False
    # Not claimed by the stopping process: unparked, with a job for a worker that stays.
    assert claim is None
    status, parked_at = _rows(
        bootstrap_conninfo, "select status, parked_at from outgoing_messages where id = %s", parked
    )[0]
    assert status == "planned" and parked_at is None
    jobs = _rows(
        bootstrap_conninfo,
        "select status from procrastinate_jobs where task_name = %s and args->>'outgoing_id' = %s",
        messaging.SEND_JOB,
        str(parked),
    )
    assert jobs == [("todo",)]
