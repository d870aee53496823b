"""The single opt-out confirmation: the one message a person who has just opted out receives.

When an inbound certain opt-out newly suppresses a number (``outreach.inbound.act``), the
number that received it owes that person one message: the outreach policy's confirmation
text. It goes through the send pipeline like any message (its own purpose,
``Purpose.OPTOUT_CONFIRMATION``, with this module as its owner), so the policy engine decides
it at the send: it is the one send the engine lets through to a suppressed person, with its
own reason code, outside the calendar and the caps (it answers what they just wrote), but
never past a kill switch or by a number that cannot send.

"Once, never again" is the database's rule: a partial unique index allows one confirmation
row per (tenant, number) ever, and ``messaging.plan_message_once`` inserts with
``ON CONFLICT DO NOTHING``: a redelivered webhook, a second PARAR, two webhooks racing, a
retried job — none can plan a second one. The engine checks again at the send (no other
confirmation sent to the number, still opted out, within its validity).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.config import human_seconds
from mirage.contacts import service as contacts
from mirage.kit.logging import get_logger
from mirage.messaging import cadence
from mirage.messaging import service as messaging
from mirage.models import OutgoingMessage, Purpose
from mirage.outreach.repository import OutreachPolicyRepository
from mirage.outreach.schemas import DEFAULT_CONFIRMATION
from mirage.policy import ALWAYS, OptOutConfirmation, SendContext

log = get_logger(__name__)

OUTCOME_JOB = "outreach.on_confirmation_outcome"
#: The confirmation answers the person's message: a day later it would be noise (a number
#: disconnected that long sends nothing to them at all).
VALIDITY = timedelta(days=1)


async def owe(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    instance_id: uuid.UUID,
    phone_e164: str,
    now: datetime,
) -> OutgoingMessage | None:
    """Plan the confirmation from ``instance_id`` (the number the opt-out came to), in the
    caller's transaction, after a person's reading and typing time. None when this number
    already had one (ever): nothing is planned."""
    text = await OutreachPolicyRepository(session).confirmation_text_for(phone_e164, instance_id)
    text = text or DEFAULT_CONFIRMATION
    rng = random.Random()
    read_s = cadence.reading_time("x", rng)
    msg = OutgoingMessage(
        tenant_id=tenant_id,
        purpose=Purpose.OPTOUT_CONFIRMATION,
        instance_id=instance_id,
        to_number=phone_e164.lstrip("+"),
        text=text,
        turn=0,
        planned_at=now + timedelta(seconds=human_seconds(read_s)),
        read_ms=int(read_s * 1000),
        typing_ms=int(cadence.typing_time(text, rng) * 1000),
    )
    planned = await messaging.plan_message_once(session, msg)
    log.info(
        "optout.confirmation",
        planned=planned is not None,
        instance_id=str(instance_id),
        outgoing_id=str(planned.id) if planned is not None else None,
    )
    return planned


async def send_context(session: AsyncSession, msg: OutgoingMessage) -> SendContext:
    """The confirmation's part of the policy's input, read fresh at each decision."""
    return SendContext(
        conversation_active=True,
        windows=ALWAYS,
        confirmation=OptOutConfirmation(
            still_opted_out=await contacts.is_suppressed(session, "+" + msg.to_number),
            others_sent=await messaging.confirmations_to(session, msg.to_number, msg.id),
            valid_until=msg.created_at + VALIDITY,
        ),
    )


def owner() -> messaging.Owner:
    """The owner of ``optout_confirm`` messages (registered by ``outreach.tasks``)."""
    return messaging.Owner(outcome_job=OUTCOME_JOB, policy_context=send_context)


async def on_outcome(
    session: AsyncSession,
    outgoing_id: uuid.UUID,
    outcome: messaging.SendOutcome,
    reason: str | None,
) -> str:
    """Nothing waits on a confirmation: its outcome is logged (the message row and the policy
    decisions keep the record); a deferred one is tried again by the pipeline itself."""
    msg = await messaging.get_message(session, outgoing_id)
    log.info(
        "optout.confirmation_outcome",
        outgoing_id=str(outgoing_id),
        outcome=outcome.value,
        reason=reason,
        status=None if msg is None else str(msg.status),
    )
    return f"{outcome}:{reason or ''}"
