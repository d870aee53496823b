"""The single opt-out confirmation, through the real webhook receiver: a new certain opt-out
plans exactly one confirmation (the policy's text) from the number that received it; a
redelivery, a second PARAR, concurrent webhooks and another number get nothing more — the
database refuses a second row —; the owner reads whether it is still owed at each send."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg
import pytest

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.messaging import service as messaging
from mirage.models import Purpose
from mirage.outreach import confirmation
from mirage.outreach.schemas import DEFAULT_CONFIRMATION
from tests.conftest import TenantFixture, make_token, sql
from tests.webhooks.support import _instance
from tests.webhooks.test_inbound_optout import _phone, _say

# The confirmation is planned a tenth of a second ahead (the suite's time scale): the session
# worker, if running, would send or cancel it while the test reads the "planned" rows.
pytestmark = pytest.mark.usefixtures("database", "no_background_jobs")


async def _confirmations(conninfo: str, t: TenantFixture) -> list[tuple[str, str, str, str]]:
    rows = await sql(
        conninfo,
        "select to_number, instance_id::text, text, status from outgoing_messages "
        "where tenant_id = %s and purpose = 'optout_confirm' order by to_number",
        t.tenant_id,
    )
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


async def test_one_confirmation_per_person_ever_from_the_number_that_heard_it(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    messaging.owner_of(Purpose.OPTOUT_CONFIRMATION)  # the real owner, loaded once
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    mine = "Ok, você saiu da lista da Loja Sol. Para voltar, responda VOLTAR."
    r = await client.post(
        "/api/v1/outreach-policies",
        headers=auth,
        json={"name": f"P {uuid.uuid4().hex[:6]}", "confirmation_text": mine},
    )
    assert r.status_code == 201, r.text
    inst, secret = await _instance(tenant_a)
    other, other_secret = await _instance(tenant_a)
    person, racer = _phone(), _phone()

    await _say(client, inst, secret, person, "vou parar no mercado")  # innocent: nothing
    assert await _confirmations(bootstrap_conninfo, tenant_a) == []
    msg_id = await _say(client, inst, secret, person, "PARAR")
    rows = await _confirmations(bootstrap_conninfo, tenant_a)
    assert rows == [(person.lstrip("+"), str(inst.id), mine, "planned")]

    # A redelivery, a second opt-out, one to another of the tenant's numbers: nothing more.
    await _say(client, inst, secret, person, "PARAR", msg_id=msg_id)
    await _say(client, inst, secret, person, "me tira da lista")
    await _say(client, other, other_secret, person, "STOP")
    # Back in and out again: still the one confirmation, ever.
    await _say(client, inst, secret, person, "VOLTAR")
    await _say(client, inst, secret, person, "SAIR")
    # Two opt-outs of another person racing on two numbers: one confirmation between them.
    await asyncio.gather(
        _say(client, inst, secret, racer, "PARAR"),
        _say(client, other, other_secret, racer, "quero sair da lista"),
    )
    rows = await _confirmations(bootstrap_conninfo, tenant_a)
    assert [(to, status) for to, _i, _t, status in rows] == sorted(
        [(person.lstrip("+"), "planned"), (racer.lstrip("+"), "planned")]
    )

    # The rule is the database's, not a check: a second row for the person is refused.
    with pytest.raises(psycopg.errors.UniqueViolation):
        await sql(
            bootstrap_conninfo,
            "insert into outgoing_messages (id, tenant_id, purpose, instance_id, to_number, "
            "text, turn, planned_at) values (gen_random_uuid(), %s, 'optout_confirm', %s, "
            "%s, 'again', 0, now())",
            tenant_a.tenant_id,
            other.id,
            person.lstrip("+"),
        )


async def test_the_owner_reads_at_each_send_whether_it_is_still_owed(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    messaging.owner_of(Purpose.OPTOUT_CONFIRMATION)
    inst, secret = await _instance(tenant_a)
    person = _phone()
    await _say(client, inst, secret, person, "Não quero mais receber")
    rows = await sql(
        bootstrap_conninfo,
        "select id, text from outgoing_messages where tenant_id = %s "
        "and purpose = 'optout_confirm' and to_number = %s",
        tenant_a.tenant_id,
        person.lstrip("+"),
    )
    ((outgoing_id, text),) = rows
    assert text == DEFAULT_CONFIRMATION  # the tenant has no outreach policy

    async def context() -> tuple[bool, int]:
        with tenant_context(tenant_a.tenant_id):
            async with session_scope() as session:
                msg = await messaging.get_message(session, outgoing_id)
                assert msg is not None
                ctx = await confirmation.send_context(session, msg)
        assert ctx.confirmation is not None and ctx.outreach is None
        return ctx.confirmation.still_opted_out, ctx.confirmation.others_sent

    assert await context() == (True, 0)
    await _say(client, inst, secret, person, "voltar")  # opted back in before it went out
    assert await context() == (False, 0)
