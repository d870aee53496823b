"""Outreach engagement weighs on the sender's risk: campaign messages sent in a row with no
one replying (every 20th: ``unanswered``), a week's reply ratio under 10% (every 30th send:
``low_replies``), and a person the operator records as having blocked or reported the number
(``blocked`` on the number whose campaign message last reached them)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.models import (
    CampaignRecipient,
    Instance,
    NumberSignal,
    OutgoingMessage,
    OutgoingStatus,
    Purpose,
)
from mirage.outreach import execution
from mirage.providers import ConnectionState
from mirage.safety.score import (
    LOW_REPLY_EVERY,
    LOW_REPLY_RATIO,
    UNANSWERED_STREAK,
    SignalKind,
    outreach_signals,
)
from tests.conftest import TenantFixture, eventually, make_tenant, make_token, sql

# --- the rule (pure) --------------------------------------------------------------------------


@given(st.integers(0, 500))
def test_a_run_without_replies_owes_one_unanswered_signal_per_twenty(n: int) -> None:
    """Sends 1..n in a row, nobody answering: exactly n // 20 ``unanswered`` signals."""
    owed = [
        kind
        for streak in range(1, n + 1)
        for kind, _ in outreach_signals(streak, sent=streak, replied=streak)
    ]
    assert owed.count(SignalKind.UNANSWERED) == n // UNANSWERED_STREAK


@given(st.integers(0, 400), st.integers(0, 400))
def test_low_replies_only_with_enough_sends_and_a_ratio_under_the_floor(
    sent: int, replied: int
) -> None:
    replied = min(replied, sent)
    kinds = [k for k, _ in outreach_signals(0, sent, replied)]
    expected = (
        sent >= LOW_REPLY_EVERY and sent % LOW_REPLY_EVERY == 0 and replied < LOW_REPLY_RATIO * sent
    )
    assert (SignalKind.LOW_REPLIES in kinds) == expected
    assert SignalKind.UNANSWERED not in kinds


def test_the_details_say_how_many() -> None:
    assert outreach_signals(40, 30, 2) == [
        (SignalKind.UNANSWERED, {"count": 40}),
        (SignalKind.LOW_REPLIES, {"replied": 2, "sent": 30}),
    ]
    assert outreach_signals(19, 30, 3) == []  # 10% answered: at the floor, not under it


# --- through the campaign owner, on a real database --------------------------------------------


async def _campaign(app: Any, t: TenantFixture, name: str = "C") -> uuid.UUID:
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        policy = await client.post(
            "/api/v1/outreach-policies", headers=auth, json={"name": f"P {name}"}
        )
        r = await client.post(
            "/api/v1/campaigns",
            headers=auth,
            json={"name": name, "policy_id": policy.json()["id"], "variants": ["Oi"]},
        )
        assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["id"])


async def _sender(t: TenantFixture) -> uuid.UUID:
    iid = uuid.uuid4()
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            session.add(
                Instance(
                    id=iid,
                    tenant_id=t.tenant_id,
                    display_name=f"Vendas {iid.hex[:6]}",
                    gateway_name=f"eng-{iid.hex}",
                    token_enc="x",
                    webhook_secret_enc="x",
                    state=ConnectionState.OPEN,
                    owner_jid="5511900000009@s.whatsapp.net",
                    needs_pairing=False,
                )
            )
    return iid


async def _sent(
    t: TenantFixture,
    campaign_id: uuid.UUID,
    sender: uuid.UUID,
    phone: str,
    at_s: float,
    contact_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A recipient whose campaign message from ``sender`` went out ``at_s`` seconds ago (its
    outcome not yet told to the owner): (recipient id, message id)."""
    at = utcnow() - timedelta(seconds=at_s)
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            msg = OutgoingMessage(
                tenant_id=t.tenant_id,
                purpose=Purpose.CAMPAIGN,
                instance_id=sender,
                to_number=phone.lstrip("+"),
                text="Oi",
                turn=0,
                planned_at=at,
                status=OutgoingStatus.SENT,
                sent_at=at,
            )
            session.add(msg)
            await session.flush()
            row = CampaignRecipient(
                tenant_id=t.tenant_id,
                campaign_id=campaign_id,
                contact_id=contact_id or uuid.uuid4(),
                phone_e164=phone,
                sender_id=sender,
                outgoing_id=msg.id,
                claimed_at=at,
            )
            session.add(row)
            await session.flush()
            return row.id, msg.id


async def _tell_sent(t: TenantFixture, outgoing_id: uuid.UUID) -> None:
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            await execution.on_send_outcome(
                session, outgoing_id, messaging.SendOutcome.SENT, None, utcnow()
            )


async def _signals(t: TenantFixture, sender: uuid.UUID) -> list[tuple[str, str | None]]:
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            rows = await session.execute(
                NumberSignal.__table__.select()
                .where(NumberSignal.instance_id == sender)
                .order_by(NumberSignal.seq)
            )
            return [(r.kind, r.detail) for r in rows]


def _phone(_i: int = 0) -> str:
    return f"+55119{uuid.uuid4().int % 10**8:08d}"


# The periodic look at the sends (safety.assess_tenant) would also weigh these 30 campaign
# messages of a day-0 number (over its 5 new contacts): the timeline below is the owner's alone.
@pytest.mark.usefixtures("no_background_jobs")
async def test_unanswered_runs_and_a_low_reply_ratio_raise_the_senders_risk(
    app: Any, database: object
) -> None:
    t = await make_tenant(mfa=False)
    campaign_id = await _campaign(app, t)
    sender, other = await _sender(t), await _sender(t)
    sent: list[tuple[uuid.UUID, uuid.UUID]] = []
    for i in range(30):
        sent.append(await _sent(t, campaign_id, sender, _phone(i), at_s=3000 - i * 60))
        await _tell_sent(t, sent[-1][1])
    await _tell_sent(t, sent[-1][1])  # a redelivered outcome counts nothing twice
    assert await _signals(t, sender) == [
        ("unanswered", "@unanswered_run?count=20"),
        ("band_changed", "@band_change?from_band=green&to_band=yellow"),
        ("low_replies", "@low_replies?replied=0&sent=30"),
    ]
    assert await _signals(t, other) == []  # another number's sends are its own

    # Someone answers: the run starts over; 19 more unanswered sends owe nothing.
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            await session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.id == sent[-1][0])
                .values(replied_at=utcnow() - timedelta(seconds=5))
            )
    for i in range(19):
        _rid, mid = await _sent(t, campaign_id, sender, _phone(i), at_s=4 - i * 0.1)
        await _tell_sent(t, mid)
    kinds = [k for k, _ in await _signals(t, sender)]
    assert kinds.count("unanswered") == 1
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            inst = await session.get(Instance, sender)
            assert inst is not None and inst.risk_band == "yellow"


@pytest.mark.usefixtures("gw")
async def test_a_person_who_blocked_the_number_weighs_on_the_one_that_wrote_to_them(
    app: Any, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant(mfa=False)
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    campaign_id, later = await _campaign(app, t), await _campaign(app, t, "Depois")
    first, last = await _sender(t), await _sender(t)
    person, stranger, quiet = _phone(0), _phone(1), _phone(2)
    contact: dict[str, uuid.UUID] = {}
    for phone in (person, stranger, quiet):  # (a campaign writes only to contacts)
        r = await client.post(
            "/api/v1/contacts",
            headers=auth,
            json={"phone": phone, "legal_basis": "consent", "provenance_source": "loja"},
        )
        assert r.status_code == 201, r.text
        contact[phone] = uuid.UUID(r.json()["id"])
    for camp, sender, phone, ago in (
        (campaign_id, first, person, 7200),
        (later, last, person, 60),  # the same person in a later campaign, on another number
        (campaign_id, first, quiet, 60),
    ):
        _rid, mid = await _sent(t, camp, sender, phone, at_s=ago, contact_id=contact[phone])
        await _tell_sent(t, mid)

    for phone, reason in ((person, "blocked"), (stranger, "complaint"), (quiet, "manual")):
        r = await client.post(
            "/api/v1/suppressions", headers=auth, json={"phone": phone, "reason": reason}
        )
        assert r.status_code == 201, r.text

    async def blamed() -> list[tuple[Any, ...]]:
        return await sql(
            bootstrap_conninfo,
            "select instance_id, detail from number_signals where tenant_id = %s "
            "and kind = 'blocked'",
            t.tenant_id,
        )

    await eventually(lambda: _nonempty(blamed), what="the blocked signal")
    # The jobs of the stranger (never written to) and of the manual entry ran too, or never
    # existed: only the number that last wrote to the person who blocked it is blamed.
    await eventually(lambda: _jobs_done(bootstrap_conninfo), what="the report jobs finished")
    assert await blamed() == [(last, "@reported_blocked")]
    assert [k for k, _ in await _signals(t, first)] == []


async def _nonempty(read: Any) -> bool:
    return bool(await read())


async def _jobs_done(conninfo: str) -> bool:
    rows = await sql(
        conninfo,
        "select count(*) from procrastinate_jobs where task_name = "
        "'outreach.on_recipient_reported' and status in ('todo', 'doing')",
    )
    return rows[0][0] == 0
