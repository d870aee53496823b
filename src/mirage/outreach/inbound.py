"""Inbound opt-outs that act: what the webhook receiver does with a message the detector flags.

Two steps, so that an ordinary message costs nothing more than its storage:

1. ``screen`` (pure, in Python, before any query): an inbound text message from a person
   (not a group, not our own send) that the detector (``outreach.optout``) calls a certain or
   probable opt-out, or that is an opt-in keyword (VOLTAR, START). Anything else — nearly
   every message — is ``None`` and the receiver keeps its one-statement path.
2. ``act`` (in the receiver's transaction, with the stored message's id), for a screened
   message only:

   - from one of the tenant's own numbers (warm-up between its numbers): nothing, ever;
   - certain: the number is suppressed tenant-wide at once as an opt-out (contact or not),
     the contact's ledger records the opt-out with the message's id and the rule; the policy
     engine reads the list at every send, so planned and queued sends to it are refused;
   - probable: the number goes on the list as ``review`` (automatic sends stop; a person
     confirms or lifts it on the suppression list);
   - opt-in keyword: the contact opts back in (``contacts.record_inbound_keyword``).

A new opt-out is owed its single confirmation: ``act`` plans it, in the same transaction, from
the number the opt-out came to (``outreach.confirmation``: once per number, ever, enforced
by a unique index; the policy engine lets it through outside the calendar and the caps).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.contacts import service as contacts
from mirage.contacts.phones import wa_jid_candidates
from mirage.instances import service as instances
from mirage.kit.clock import utcnow
from mirage.outreach import confirmation, execution
from mirage.outreach.optout import Tier, Verdict, examine


@dataclass(frozen=True)
class Screened:
    """A message worth acting on: the detector's verdict, or the opt-in keyword it is."""

    verdict: Verdict
    opt_in: str | None
    phone_e164: str
    jids: tuple[str, ...]


class Action(StrEnum):
    OPTED_OUT = "opted_out"  # certain: suppressed as an opt-out
    FLAGGED = "flagged"  # probable: suppressed as `review`
    OPTED_IN = "opted_in"  # VOLTAR/START lifted an opt-out (or a review)
    OWN_NUMBER = "own_number"  # the fleet talking to itself: ignored
    NOTHING = "nothing"  # already so (a redelivery, a second PARAR, an opt-in with no opt-out)


@dataclass(frozen=True)
class Outcome:
    action: Action
    verdict: Verdict
    #: A new opt-out: the one confirmation message is owed (``act`` plans it).
    confirmation_owed: bool = False
    #: The confirmation planned now (None: not owed, or this number already had one).
    confirmation_id: uuid.UUID | None = None


def screen(
    text: str | None,
    jids: Iterable[str | None],
    extra_keywords: Iterable[str] = (),
) -> Screened | None:
    """Pure and cheap (no I/O): whether an inbound message needs ``act``. ``jids``: the
    remote JID and its alternative (``@lid`` chats carry the phone JID there)."""
    if not text:
        return None
    verdict, word = examine(text, extra_keywords)
    if verdict.tier is Tier.NONE and word is None:
        return None  # nearly every message: nothing more to do
    given = tuple(j for j in jids if j)
    phone = next((p for p in map(contacts.phone_of_jid, given) if p is not None), None)
    if phone is None:  # a group, a channel, a broadcast, an address with no number
        return None
    return Screened(verdict, word, phone, given)


def _digits(screened: Screened) -> Sequence[str]:
    found = {j.split("@", 1)[0].split(":", 1)[0] for j in screened.jids}
    found.update(j.split("@", 1)[0] for j in wa_jid_candidates(screened.phone_e164))
    return sorted(found)


async def act(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    instance_id: uuid.UUID,
    message_id: uuid.UUID | None,
    screened: Screened,
) -> Outcome:
    """What a screened message changes (under the tenant's context, in the caller's
    transaction: the message and its effect commit together)."""
    verdict = screened.verdict
    if await instances.is_own_account(session, _digits(screened)):
        return Outcome(Action.OWN_NUMBER, verdict)
    if verdict.tier is Tier.CERTAIN:
        newly = await contacts.record_opt_out(
            session,
            tenant_id=tenant_id,
            phone_e164=screened.phone_e164,
            message_id=message_id,
            detail=verdict.rule,
        )
        if not newly:
            return Outcome(Action.NOTHING, verdict)
        await execution.attribute_opt_out(session, tenant_id, screened.phone_e164, utcnow())
        planned = await confirmation.owe(
            session,
            tenant_id=tenant_id,
            instance_id=instance_id,
            phone_e164=screened.phone_e164,
            now=utcnow(),
        )
        return Outcome(Action.OPTED_OUT, verdict, True, planned.id if planned else None)
    if verdict.tier is Tier.PROBABLE:
        note = f"{verdict.rule} (message {message_id})" if message_id else str(verdict.rule)
        added = await contacts.record_review(
            session, tenant_id=tenant_id, phone_e164=screened.phone_e164, note=note
        )
        return Outcome(Action.FLAGGED if added else Action.NOTHING, verdict)
    outcome = await contacts.record_inbound_keyword(
        session,
        tenant_id=tenant_id,
        phone_e164=screened.phone_e164,
        message_text=screened.opt_in or "",
        message_id=message_id,
    )
    changed = outcome is contacts.KeywordOutcome.OPTED_IN
    return Outcome(Action.OPTED_IN if changed else Action.NOTHING, verdict)
