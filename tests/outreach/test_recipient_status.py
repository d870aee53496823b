"""A recipient's status never goes backwards — whatever order outcomes, receipts and replies
arrive in — and the database itself refuses a backward update. The campaign state machine
allows only its listed transitions (409 problem+json otherwise)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.models import CampaignRecipient, CampaignState, RecipientStatus
from mirage.models.outreach import RECIPIENT_RANK, UNSENT_FINAL
from mirage.outreach import execution
from mirage.outreach.repository import RecipientRepository
from tests.conftest import TenantFixture, make_tenant, make_token

SENT_RANK = RECIPIENT_RANK[RecipientStatus.SENT]


def may_move(current: RecipientStatus, target: RecipientStatus) -> bool:
    """The rule, stated once more independently of the code under test."""
    if target == current:
        return target == RecipientStatus.DEFERRED
    if target in UNSENT_FINAL:
        return RECIPIENT_RANK[current] < SENT_RANK
    return RECIPIENT_RANK[target] > RECIPIENT_RANK[current]


@pytest.fixture(scope="module")
async def campaign(app: Any) -> tuple[TenantFixture, uuid.UUID]:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        policy = (
            await client.post("/api/v1/outreach-policies", headers=auth, json={"name": "P"})
        ).json()
        r = await client.post(
            "/api/v1/campaigns",
            headers=auth,
            json={"name": "C", "policy_id": policy["id"], "variants": ["Oi"]},
        )
        assert r.status_code == 201, r.text
    return t, uuid.UUID(r.json()["id"])


async def _new_recipient(t: TenantFixture, campaign_id: uuid.UUID) -> uuid.UUID:
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            row = CampaignRecipient(
                tenant_id=t.tenant_id,
                campaign_id=campaign_id,
                contact_id=uuid.uuid4(),
                phone_e164="+5511999990000",
            )
            session.add(row)
            await session.flush()
            return row.id


async def _status(t: TenantFixture, recipient_id: uuid.UUID) -> RecipientStatus:
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            stmt = select(CampaignRecipient.status).where(CampaignRecipient.id == recipient_id)
            return RecipientStatus((await session.execute(stmt)).scalar_one())


statuses = st.sampled_from(list(RecipientStatus))


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(history=st.lists(st.tuples(statuses, st.booleans()), min_size=1, max_size=10))
async def test_status_never_goes_backwards_over_random_histories(
    campaign: tuple[TenantFixture, uuid.UUID], history: list[tuple[RecipientStatus, bool]]
) -> None:
    t, campaign_id = campaign
    rid = await _new_recipient(t, campaign_id)
    current = RecipientStatus.PLANNED
    for target, raw in history:
        with tenant_context(t.tenant_id):
            async with session_scope() as session:
                if raw:
                    # A careless writer (plain SQL, no guard): the database itself refuses a
                    # move that is not forward.
                    stmt = text("update campaign_recipients set status = :s where id = :i")
                    try:
                        async with session.begin_nested():
                            await session.execute(stmt, {"s": target.value, "i": rid})
                        refused = False
                    except DBAPIError:
                        refused = True
                    assert refused == (target != current and not may_move(current, target))
                else:
                    moved = await RecipientRepository(session).advance([rid], target, "r")
                    assert moved == (1 if may_move(current, target) else 0)
        now = await _status(t, rid)
        assert RECIPIENT_RANK[now] >= RECIPIENT_RANK[current]
        if may_move(current, target):
            assert now == target
        else:
            assert now == current
        current = now


def test_state_machine_lists_every_transition() -> None:
    s = CampaignState
    A = execution.Action
    assert execution.allowed(s.DRAFT, A.START) == {s.RUNNING, s.SCHEDULED}
    assert execution.allowed(s.RUNNING, A.PAUSE) == {s.PAUSED}
    assert execution.allowed(s.PAUSED, A.RESUME) == {s.RUNNING, s.SCHEDULED}
    # Final states allow nothing; a draft cannot be paused or resumed; a running one not
    # started again.
    for action in A:
        assert not execution.allowed(s.CANCELLED, action)
        assert not execution.allowed(s.COMPLETED, action)
    assert not execution.allowed(s.DRAFT, A.PAUSE)
    assert not execution.allowed(s.DRAFT, A.RESUME)
    assert not execution.allowed(s.RUNNING, A.START)
    assert not execution.allowed(s.RUNNING, A.RESUME)
