"""Inbound opt-outs act, through the real webhook receiver.

A certain opt-out suppresses the number tenant-wide at once (contact or not) and a send
already planned to it is refused by the policy at send time; a probable one puts it on the
list for review (the API shows it; an operator confirms it, an admin lifts it); VOLTAR opts
back in; the tenant's own numbers never trigger anything; redelivery acts once; the tenant's
keywords count; and an ordinary message keeps the one-statement path."""

from __future__ import annotations

import uuid
from datetime import time, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from mirage.contacts import service as contacts
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.messaging.repository import OutgoingRepository
from mirage.models import Instance, OutgoingMessage, OutgoingStatus, Purpose
from mirage.policy import ALWAYS, Outreach, OutreachRules, Recipient, SendContext
from mirage.webhooks import service as webhooks
from tests.conftest import TenantFixture, make_token, sql
from tests.webhooks.support import _envelope, _instance, _post, _token

pytestmark = pytest.mark.usefixtures("database")

OUTCOME_JOB = "tests.webhooks.campaign_outcome"


@jobs.app.task(name=OUTCOME_JOB, queue="default")
async def _campaign_outcome(
    *,
    tenant_id: str,
    outgoing_id: str,
    outcome: str,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> str:
    return outcome


def _phone() -> str:
    return f"+55119{uuid.uuid4().int % 10**8:08d}"


def _message(msg_id: str, text: str, jid: str, **key: Any) -> dict[str, Any]:
    return {
        "key": {"remoteJid": jid, "fromMe": False, "id": msg_id, **key},
        "pushName": "Ana",
        "status": "DELIVERY_ACK",
        "message": {"conversation": text},
        "messageType": "conversation",
        "messageTimestamp": 1764151200,
        "source": "android",
    }


async def _say(
    client: httpx.AsyncClient,
    inst: Instance,
    secret: str,
    phone: str,
    text: str,
    msg_id: str | None = None,
    **key: Any,
) -> str:
    msg_id = msg_id or f"IN-{uuid.uuid4().hex[:12]}"
    jid = key.pop("jid", None) or phone.lstrip("+") + "@s.whatsapp.net"
    body = _envelope(inst, "messages.upsert", _message(msg_id, text, jid, **key))
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code == 200, r.text
    return msg_id


def _suppression(conninfo: str, tenant: TenantFixture, phone: str) -> tuple[Any, ...] | None:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "select reason, source, note from suppressions where tenant_id = %s "
            "and phone_hash = %s",
            (tenant.tenant_id, contacts.phone_hash(phone)),
        ).fetchone()


def _stored_id(conninfo: str, tenant: TenantFixture, provider_id: str) -> uuid.UUID:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "select id from messages where tenant_id = %s and provider_message_id = %s",
            (tenant.tenant_id, provider_id),
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


async def _campaign_context(session: Any, msg: OutgoingMessage) -> SendContext:
    """What campaign execution will give the policy: the recipient's suppression read from
    the list at decision time (``contacts.is_suppressed``)."""
    return SendContext(
        conversation_active=True,
        windows=ALWAYS,
        outreach=Outreach(
            rules=OutreachRules(contact_start=time(0), contact_end=time(0)),
            recipient=Recipient(
                zones=("America/Sao_Paulo",),
                basis="consent",
                consent="granted",
                suppressed=await contacts.is_suppressed(session, msg.to_number),
            ),
            valid_until=utcnow() + timedelta(hours=4),
        ),
    )


async def _plan(t: TenantFixture, inst: Instance, to: str) -> uuid.UUID:
    """A planned message with no send job: the test runs its send step itself. (With a job,
    a worker that another test left running in this process could take it first, with the
    real campaign owner, and move it to later before this test decides it.)"""
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            msg = await OutgoingRepository(session).add(
                OutgoingMessage(
                    tenant_id=t.tenant_id,
                    purpose=Purpose.CAMPAIGN,
                    instance_id=inst.id,
                    to_number=to,
                    text=f"Oferta {uuid.uuid4().hex[:6]}",
                    turn=1,
                    planned_at=utcnow(),
                    status=OutgoingStatus.PLANNED,
                ),
            )
            return msg.id


async def test_a_certain_opt_out_suppresses_the_number_and_a_planned_send_is_denied(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real campaign owner registers when its job module loads: load it first, so that it
    # cannot replace this stand-in mid-test (the webhook's opt-out path may load it).
    messaging.owner_of(Purpose.CAMPAIGN)
    monkeypatch.setitem(
        messaging._OWNERS,
        Purpose.CAMPAIGN,
        messaging.Owner(outcome_job=OUTCOME_JOB, policy_context=_campaign_context),
    )
    inst, secret = await _instance(tenant_a)
    leaving, staying = _phone(), _phone()  # neither is a contact: suppression by number
    to_leaving = await _plan(tenant_a, inst, leaving)
    to_staying = await _plan(tenant_a, inst, staying)

    await _say(client, inst, secret, staying, "vou parar no mercado, te falo depois")
    msg_id = await _say(client, inst, secret, leaving, "Não quero mais receber essas mensagens")
    assert _suppression(bootstrap_conninfo, tenant_a, leaving) == (
        "opt_out",
        "inbound",
        "pt.nao_quero_receber",
    )
    assert _suppression(bootstrap_conninfo, tenant_a, staying) is None
    assert _stored_id(bootstrap_conninfo, tenant_a, msg_id)  # the message itself is stored

    # The sends planned before the opt-out: the one to that number is refused at send time.
    with tenant_context(tenant_a.tenant_id):
        denied = await messaging.send_step(to_leaving)
        other = await messaging.send_step(to_staying)
    assert denied.outcome == "denied:suppressed"
    assert other.outcome != "denied:suppressed"  # (waits: the number is not connected)
    with psycopg.connect(bootstrap_conninfo) as conn:
        row = conn.execute(
            "select m.status, m.last_error, d.reason from outgoing_messages m join "
            "policy_decisions d on d.outgoing_message_id = m.id where m.id = %s",
            (to_leaving,),
        ).fetchone()
    assert row == ("cancelled", "denied: suppressed", "suppressed")


async def test_a_contact_opting_out_gets_a_ledger_entry_with_the_message_and_rule(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    phone = _phone()
    r = await client.post(
        "/api/v1/contacts",
        headers=auth,
        json={"phone": phone, "legal_basis": "consent", "provenance_source": "evento"},
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    inst, secret = await _instance(tenant_a)
    # An @lid chat: the number is in the alternative JID.
    angry, lid, alt = (
        "PARA DE ME MANDAR MENSAGEM!!! 😡",
        "98765432101234@lid",
        phone[1:] + "@s.whatsapp.net",
    )
    msg_id = await _say(client, inst, secret, phone, angry, jid=lid, remoteJidAlt=alt)
    contact = (await client.get(f"/api/v1/contacts/{cid}", headers=auth)).json()
    assert contact["opted_out_at"] and contact["suppressed"]
    events = (await client.get(f"/api/v1/contacts/{cid}/consent-events", headers=auth)).json()
    opt_outs = [e for e in events if e["kind"] == "opt_out"]
    assert len(opt_outs) == 1
    assert opt_outs[0]["source"] == "inbound" and opt_outs[0]["detail"] == "pt.para_de_mandar"
    assert opt_outs[0]["message_id"] == str(_stored_id(bootstrap_conninfo, tenant_a, msg_id))

    # Redelivery of the same message and a second opt-out: no second ledger entry.
    await _say(client, inst, secret, phone, angry, msg_id=msg_id, jid=lid, remoteJidAlt=alt)
    await _say(client, inst, secret, phone, "STOP")
    events = (await client.get(f"/api/v1/contacts/{cid}/consent-events", headers=auth)).json()
    assert sum(1 for e in events if e["kind"] == "opt_out") == 1

    # VOLTAR opts back in (the contact's word, the only way back); a late redelivery of the
    # old opt-out does not undo it.
    await _say(client, inst, secret, phone, "voltar")
    contact = (await client.get(f"/api/v1/contacts/{cid}", headers=auth)).json()
    assert contact["opted_out_at"] is None and not contact["suppressed"]
    await _say(client, inst, secret, phone, angry, msg_id=msg_id, jid=lid, remoteJidAlt=alt)
    assert _suppression(bootstrap_conninfo, tenant_a, phone) is None


async def test_a_probable_opt_out_is_flagged_for_review_then_confirmed_or_lifted(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    inst, secret = await _instance(tenant_a)
    first, second = _phone(), _phone()
    msg_id = await _say(client, inst, secret, first, "me deixa em paz")
    await _say(client, inst, secret, second, "leave me alone")
    stored = _stored_id(bootstrap_conninfo, tenant_a, msg_id)
    assert _suppression(bootstrap_conninfo, tenant_a, first) == (
        "review",
        "inbound",
        f"pt.deixa_em_paz (message {stored})",
    )
    # Nothing automatic goes to it: it is on the list the policy reads.
    with tenant_context(tenant_a.tenant_id):
        async with session_scope() as session:
            assert await contacts.is_suppressed(session, first)

    listed = (
        await client.get("/api/v1/suppressions", headers=auth, params={"phone": first})
    ).json()["items"]
    assert [s["reason"] for s in listed] == ["review"]
    r = await client.post(f"/api/v1/suppressions/{listed[0]['id']}/confirm", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["reason"] == "opt_out"
    # Confirmed: now an opt-out, which no operator can lift.
    r = await client.post(
        f"/api/v1/suppressions/{listed[0]['id']}/remove", headers=auth, json={"reason": "x"}
    )
    assert r.status_code == 409
    r = await client.post(f"/api/v1/suppressions/{listed[0]['id']}/confirm", headers=auth)
    assert r.status_code == 409

    other = (
        await client.get("/api/v1/suppressions", headers=auth, params={"phone": second})
    ).json()["items"]
    assert other[0]["reason"] == "review" and other[0]["note"].startswith("en.leave_me_alone")
    r = await client.post(
        f"/api/v1/suppressions/{other[0]['id']}/remove",
        headers=auth,
        json={"reason": "a friend joking"},
    )
    assert r.status_code == 204
    assert _suppression(bootstrap_conninfo, tenant_a, second) is None

    # A probable opt-out then a certain one: the review becomes an opt-out.
    third = _phone()
    await _say(client, inst, secret, third, "não tenho interesse")
    assert _suppression(bootstrap_conninfo, tenant_a, third)[0] == "review"  # type: ignore[index]
    await _say(client, inst, secret, third, "SAIR")
    assert _suppression(bootstrap_conninfo, tenant_a, third) == (
        "opt_out",
        "inbound",
        "keyword.sair",
    )


async def test_the_tenants_own_numbers_groups_and_ordinary_messages_trigger_nothing(
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inst, secret = await _instance(tenant_a)
    mate, _ = await _instance(tenant_a)
    mate_phone = _phone()
    # The other number of the fleet, known by its WhatsApp account (a device suffix on it).
    await sql(
        bootstrap_conninfo,
        "update instances set owner_jid = %s where id = %s",
        mate_phone.lstrip("+") + ":7@s.whatsapp.net",
        mate.id,
    )
    acted: list[str] = []
    real = webhooks._store_and_act

    async def spy(identity: Any, params: Any, jids: Any, screened: Any) -> Any:
        acted.append(screened.verdict.tier.value)
        return await real(identity, params, jids, screened)

    monkeypatch.setattr(webhooks, "_store_and_act", spy)

    # Warm-up chatter between the tenant's numbers: never an opt-out, whatever it says.
    await _say(client, inst, secret, mate_phone, "PARAR")
    await _say(client, inst, secret, mate_phone, "me deixa em paz kkkk")
    assert _suppression(bootstrap_conninfo, tenant_a, mate_phone) is None
    # A group is not a person asking to stop.
    someone = _phone()
    await _say(client, inst, secret, someone, "SAIR", jid="120363041234567890@g.us",
               participant=someone.lstrip("+") + "@s.whatsapp.net")  # fmt: skip
    assert _suppression(bootstrap_conninfo, tenant_a, someone) is None
    assert acted == ["certain", "probable"]  # the group never left the one-statement path

    # Ordinary messages (innocent look-alikes included) stay on the one-statement path.
    for text in ("oi, tudo bem?", "vou parar no mercado", "pode cancelar a reunião?", "stop by"):
        await _say(client, inst, secret, someone, text)
    assert acted == ["certain", "probable"]
    assert _suppression(bootstrap_conninfo, tenant_a, someone) is None


async def test_the_tenants_own_keywords_count_as_soon_as_a_policy_has_them(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    inst, secret = await _instance(tenant_a)
    phone = _phone()
    await _say(client, inst, secret, phone, "Xô!")  # the identity (and keywords) now cached
    assert _suppression(bootstrap_conninfo, tenant_a, phone) is None
    r = await client.post(
        "/api/v1/outreach-policies",
        headers=auth,
        json={"name": f"P {uuid.uuid4().hex[:6]}", "optout_keywords": ["xô", "não quero"]},
    )
    assert r.status_code == 201, r.text
    await _say(client, inst, secret, phone, "XO!!")
    assert _suppression(bootstrap_conninfo, tenant_a, phone) == (
        "opt_out",
        "inbound",
        "tenant.keyword",
    )
