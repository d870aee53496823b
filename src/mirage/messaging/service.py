"""The send pipeline, for every purpose: re-check the policy at send time, claim, send (with
'composing' for the typing time), record the outcome — at most once, even if the worker dies
mid-send — and tell the message's owner what happened.

Owners (a warm-up round today, a campaign tomorrow) create messages through ``plan_message``
with their ``Purpose`` and register under it (``register_owner``, at import time): the policy
context of their messages, what must happen atomically with the claim, and the name of the
job that receives every outcome. Messaging never imports an owner.

Three short transactions, never one held across the network call:
  1. decide + claim (status ``sending``, flushed explicitly), committed before the gateway is
     called;
  2. the gateway call (``sendText`` with ``delay`` = typing time: composing, then the text);
  3. record the result, and defer the owner's outcome job in that same transaction.
A job that finds its message already ``sending`` (its worker died) never re-sends blindly:
it looks for the gateway's own record of the send (the SEND_MESSAGE webhook) instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.config import get_settings, human_seconds
from mirage.db.engine import get_database, session_scope
from mirage.instances import service as instances
from mirage.instances.gateway import get_gateway
from mirage.kit import jobs, live
from mirage.kit.clock import utcnow
from mirage.kit.inflight import InFlight
from mirage.kit.logging import get_logger
from mirage.messaging.repository import (
    DecisionRepository,
    OutgoingRepository,
    PolicyCounts,
    SendCounts,
)
from mirage.models import (
    Instance,
    OutgoingMessage,
    OutgoingStatus,
    PolicyDecision,
    Purpose,
    Tenant,
)
from mirage.models.messaging import FINAL_STATUSES
from mirage.policy import (
    QUARANTINED,
    SENDING_HEALTH,
    Decision,
    NumberState,
    Reason,
    SendContext,
    TenantLoad,
    TenantPolicy,
    decide,
    holds_number,
    local_day_start,
    number_caps,
)
from mirage.policy.bands import NO_OUTREACH
from mirage.providers import (
    CircuitOpen,
    GatewayDown,
    GatewayError,
    NotConnected,
    SendOutcomeUnknown,
)
from mirage.safety import service as safety
from mirage.safety.score import SignalKind
from mirage.tenants import overview as overview_parts
from mirage.tenants import settings as tenant_settings

log = get_logger(__name__)
# How long a claimed send may stay unconfirmed before we stop waiting for its webhook.
CONFIRM_GRACE = timedelta(minutes=3)
RECHECK_AFTER = timedelta(seconds=20)
# A number's claimed send this long past its typing time holds nothing back any more (its
# worker is gone; the gateway's own timeout is shorter).
STALE_CLAIM = timedelta(seconds=60)
SEND_JOB = "messaging.send_message"
MAX_ATTEMPTS = 5
# A deferral without a time of its own (the number is not connected): look again this soon.
# The owner decides how long it is willing to wait (a round ends after its hold limit).
RETRY_UNTIMED = timedelta(minutes=1)
# A planned message this far past its time with no job to send it is given one again.
REAP_PLANNED_AFTER = timedelta(minutes=2)
# A parked message whose number has another planned message due within this has that
# message's job to carry the number's queue on (see OutgoingRepository.stale).
REAP_DRIVER_HORIZON = timedelta(hours=1)
# A finished send tries at most this many of its number's parked messages that the policy
# holds back for reasons of their own (a contact's hours...) before leaving the rest parked.
FOLLOW_UP_TRIES = 20


# --- owners ------------------------------------------------------------------------------


class SendOutcome(StrEnum):
    """What a send came to, as the owner's outcome job receives it (``outcome=``)."""

    SENT = "sent"
    DEFERRED = "deferred"  # the policy moved it to later (``reason=``); it will be tried again
    DENIED = "denied"  # the policy refused it (``reason=``); cancelled
    FAILED = "failed"  # the gateway refused it; ``last_error`` says why
    UNKNOWN = "unknown"  # claimed, never confirmed by the gateway: not re-sent


PolicyContext = Callable[[AsyncSession, OutgoingMessage], Awaitable[SendContext]]
ClaimHook = Callable[[AsyncSession, OutgoingMessage, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Owner:
    """What the owner of a purpose gives the pipeline.

    - ``outcome_job``: the registered name of the owner's job, deferred in the transaction
      that records each outcome, with ``outgoing_id``, ``outcome`` (a ``SendOutcome``) and,
      for policy outcomes, ``reason`` — ids and words only; it re-reads the message.
    - ``policy_context``: the owner's part of the policy's input (is the conversation still
      active, its windows), read fresh in the deciding transaction.
    - ``on_claim``: run in the claim's own transaction, before the gateway is called. The
      one thing that cannot wait for a job: the gateway may deliver — and a reply arrive —
      before it even answers.
    """

    outcome_job: str
    policy_context: PolicyContext
    on_claim: ClaimHook | None = None


_OWNERS: dict[Purpose, Owner] = {}


def register_owner(purpose: Purpose, owner: Owner) -> None:
    """Called by an owner when its module is imported (next to its outcome job)."""
    _OWNERS[purpose] = owner


def owner_of(purpose: Purpose) -> Owner:
    """The owner of ``purpose``. Owners register when their job modules load; a worker loads
    them all at start, anything else loads them on first use. None registered is a bug."""
    if purpose not in _OWNERS:
        jobs.app.perform_import_paths()  # type: ignore[no-untyped-call]
    try:
        return _OWNERS[Purpose(purpose)]
    except KeyError:
        raise LookupError(f"no owner is registered for {purpose!r} messages") from None


async def _report(
    session: AsyncSession, msg: OutgoingMessage, outcome: SendOutcome, reason: str | None = None
) -> None:
    await _report_for(session, msg.purpose, msg.id, outcome, reason)


async def _report_for(
    session: AsyncSession,
    purpose: Purpose,
    outgoing_id: uuid.UUID,
    outcome: SendOutcome,
    reason: str | None = None,
) -> None:
    """The message's outcome to its owner, as its registered job (deferred in this
    transaction: it runs only if the outcome is committed)."""
    await jobs.defer(
        session,
        owner_of(purpose).outcome_job,
        outgoing_id=str(outgoing_id),
        outcome=outcome.value,
        reason=reason,
    )


# --- what owners call --------------------------------------------------------------------


async def plan_message(session: AsyncSession, msg: OutgoingMessage) -> OutgoingMessage:
    """Store a planned message and schedule its send at ``planned_at`` (same transaction)."""
    owner_of(msg.purpose)  # fail before anything is written, not at send time
    msg.status = OutgoingStatus.PLANNED
    await OutgoingRepository(session).add(msg)
    await _schedule(session, msg, msg.planned_at)
    return msg


async def plan_message_once(session: AsyncSession, msg: OutgoingMessage) -> OutgoingMessage | None:
    """``plan_message`` for a message a unique index allows only once (the opt-out
    confirmation): None, with nothing written, when one already exists — however many
    webhooks race to plan it."""
    owner_of(msg.purpose)
    msg.status = OutgoingStatus.PLANNED
    stored = await OutgoingRepository(session).add_unless_exists(msg)
    if stored is not None:
        await _schedule(session, stored, stored.planned_at)
    return stored


async def confirmations_to(session: AsyncSession, to_number: str, exclude: uuid.UUID) -> int:
    """Opt-out confirmations other than ``exclude`` that were sent or claimed to this number."""
    return await OutgoingRepository(session).confirmations_to(to_number, exclude)


async def _schedule(session: AsyncSession, msg: OutgoingMessage, at: datetime | None) -> None:
    # No queue lock: one send per number at a time is the claim's rule (``_decide_and_claim``),
    # so a message deferred to tomorrow never holds back the number's other messages.
    msg.parked_at = None  # it has a job of its own now
    await jobs.defer(session, SEND_JOB, schedule_at=at, outgoing_id=str(msg.id))


async def schedule_step(session: AsyncSession, outgoing_id: uuid.UUID, at: datetime) -> None:
    """Run the send job again at ``at`` (a deferred, retried or unconfirmed send)."""
    msg = await OutgoingRepository(session).get(outgoing_id)
    if msg is not None:
        await _schedule(session, msg, at)


async def get_message(
    session: AsyncSession, outgoing_id: uuid.UUID, *, for_update: bool = False
) -> OutgoingMessage | None:
    return await OutgoingRepository(session).get(outgoing_id, for_update=for_update)


async def messages_for_round(session: AsyncSession, round_id: uuid.UUID) -> list[OutgoingMessage]:
    return list(await OutgoingRepository(session).for_round(round_id))


async def cancel_planned_for_round(session: AsyncSession, round_id: uuid.UUID) -> None:
    await OutgoingRepository(session).cancel_planned_for_round(round_id)


async def cancel_planned(
    session: AsyncSession, outgoing_ids: Sequence[uuid.UUID], why: str
) -> set[uuid.UUID]:
    """Cancel those of an owner's messages that are still only planned; returns them. A
    message already claimed (or sent) is left alone: it is never sent twice nor lost."""
    return await OutgoingRepository(session).cancel_planned(outgoing_ids, why)


async def same_text_sent(session: AsyncSession, body: str, since: datetime) -> tuple[datetime, ...]:
    """When the tenant sent this exact text since ``since`` (the duplicate guard's input)."""
    return tuple(await OutgoingRepository(session).same_text_since(body, since))


async def first_replies(
    session: AsyncSession, asks: Sequence[tuple[uuid.UUID, str, datetime]]
) -> dict[int, datetime]:
    """For each (number id, the other side's E.164 or digits, since): when that person first
    wrote to the number after ``since``, keyed by the ask's index. One statement."""
    jids = [(i, f"{n.lstrip('+')}@s.whatsapp.net", at) for i, n, at in asks]
    return await OutgoingRepository(session).first_inbound(jids)


async def next_planned(session: AsyncSession, conversation_id: uuid.UUID) -> OutgoingMessage | None:
    return await OutgoingRepository(session).next_planned(conversation_id)


async def recent_texts(session: AsyncSession) -> list[str]:
    return await OutgoingRepository(session).recent_texts()


async def delivery_statuses(session: AsyncSession, provider_ids: Sequence[str]) -> dict[str, str]:
    return await OutgoingRepository(session).statuses(provider_ids)


async def decisions_for_round(session: AsyncSession, round_id: uuid.UUID) -> list[PolicyDecision]:
    return list(await DecisionRepository(session).for_round(round_id))


async def latest_decision(session: AsyncSession, outgoing_id: uuid.UUID) -> PolicyDecision | None:
    return await DecisionRepository(session).latest_for(outgoing_id)


async def recent_decisions(session: AsyncSession, limit: int = 50) -> list[PolicyDecision]:
    return list(await DecisionRepository(session).recent(limit))


async def send_counts(session: AsyncSession, instance_id: uuid.UUID, now: datetime) -> SendCounts:
    """What a number has sent in the rolling hour and on the tenant's local day (the caps)."""
    instance = await session.get(Instance, instance_id)
    tenant = await session.get(Tenant, instance.tenant_id) if instance else None
    if tenant is None:
        raise LookupError("no such number")
    return await _counts(session, instance_id, ZoneInfo(tenant.timezone), now)


async def _counts(
    session: AsyncSession, instance_id: uuid.UUID, zone: ZoneInfo, now: datetime
) -> SendCounts:
    return await OutgoingRepository(session).send_counts(
        instance_id,
        hour_ago=now - timedelta(hours=1),
        day_start=local_day_start(now.astimezone(zone).date(), zone),
    )


async def overview_sends(
    session: AsyncSession, now: datetime, zone: ZoneInfo, instance_ids: Sequence[uuid.UUID]
) -> overview_parts.SendsToday:
    """The overview's part (registered by the app): what the tenant's numbers sent on its
    local day and in the rolling hour — the caps' own counts — in total and for the listed
    numbers. One statement."""
    rows = await OutgoingRepository(session).sent_since(
        instance_ids,
        day_start=local_day_start(now.astimezone(zone).date(), zone),
        hour_ago=now - timedelta(hours=1),
    )
    return overview_parts.SendsToday(
        today=sum(d for _i, d, _h in rows),
        last_hour=sum(h for _i, _d, h in rows),
        by_number={i: (d, h) for i, d, h in rows if i is not None},
    )


async def usage(
    session: AsyncSession, numbers: Sequence[Instance], now: datetime | None = None
) -> dict[uuid.UUID, instances.NumberUsage]:
    """The ``NumberUsage`` of a page of the session's tenant's numbers (instances.service),
    read in bulk: one statement for their send counts (the caps' own, ``_number_counts``),
    one for their signals, one for the days they sent on, and the tenant's settings from the
    cache, whatever the page's size. A campaign's outreach policy may lower a number's caps
    for that campaign's sends: not applied here (it is per campaign)."""
    if not numbers:
        return {}
    now = now or utcnow()
    tenant_id = numbers[0].tenant_id
    settings = await tenant_settings.current(session, tenant_id)
    policy = tenant_settings.as_policy(settings.row, settings.timezone)
    zone = ZoneInfo(settings.timezone)
    counts = await OutgoingRepository(session).numbers_counts(
        [i.id for i in numbers],
        hour_ago=now - timedelta(hours=1),
        day_start=local_day_start(now.astimezone(zone).date(), zone),
    )
    found = await safety.standings(session, numbers, now, zone)
    out: dict[uuid.UUID, instances.NumberUsage] = {}
    for instance in numbers:
        sent, standing = counts[instance.id], found[instance.id]
        state = NumberState(
            connected=instance.connected,
            health=instance.health,
            paused=instance.paused,
            first_connected_at=instance.first_connected_at,
            sent_last_hour=sent.last_hour,
            sent_today=sent.today,
            last_sent_at=sent.last_sent_at,
            band=standing.risk.band.value,
            new_contacts_today=sent.new_contacts_today,
            warmup_stage=standing.stage,
        )
        caps = number_caps(now, policy, state)
        out[instance.id] = instances.NumberUsage(
            risk_score=standing.risk.score,
            risk_band=standing.risk.band.value,
            stage=standing.stage,
            sent_today=sent.today,
            sent_last_hour=sent.last_hour,
            daily_cap=caps.daily_effective,
            hourly_cap=caps.hourly,
            tightened=caps.tightened,
        )
    return out


def can_send(instance: Instance) -> bool:
    """The one definition of "this number can send now", as far as the number itself goes:
    connected (socket open, account known), not paused by an operator, and a health verdict
    that sends (the policy denies the others). Caps, gaps and hours are time-dependent rules
    the policy engine applies at each send."""
    return instance.connected and not instance.paused and instance.health in SENDING_HEALTH


async def can_send_campaigns(session: AsyncSession, instance: Instance, now: datetime) -> bool:
    """`can_send`, and a risk band that lets campaign messages out (green or yellow): a
    campaign moves the queue of a number in the orange band or worse to healthy ones."""
    if not can_send(instance):
        return False
    return await safety.band_for(session, instance, now) not in NO_OUTREACH


def why_cannot_send(instance: Instance) -> str | None:
    """The number's own reason it cannot send (the policy's reason code), or None."""
    if instance.health == QUARANTINED:
        return Reason.NUMBER_QUARANTINED.value
    if instance.health not in SENDING_HEALTH:
        return Reason.NUMBER_UNHEALTHY.value
    if instance.paused:
        return Reason.NUMBER_PAUSED.value
    if not instance.connected:
        return Reason.NUMBER_NOT_CONNECTED.value
    return None


# --- the pipeline ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the job does next: nothing, or run again at ``at``. ``holds_number``: the
    number's other parked messages would meet the same fate now (it is typing another send,
    or the policy's reason concerns the whole number), so none is tried after this one."""

    outcome: str
    again_at: datetime | None = None
    holds_number: bool = False
    #: The number whose send this step settled (a claim confirmed or given up on): its next
    #: parked message may go now.
    freed: uuid.UUID | None = None


@dataclass(frozen=True)
class Claim:
    """A claimed message: the plain values the gateway call needs. No ORM object outlives the
    claim's transaction."""

    outgoing_id: uuid.UUID
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    gateway_name: str
    to_number: str
    text: str
    typing_ms: int
    token: str = field(repr=False)


@dataclass(frozen=True)
class PolicyInputs:
    global_kill: bool
    policy: TenantPolicy
    number: NumberState
    tenant: TenantLoad
    ctx: SendContext


async def global_kill_switch(session: AsyncSession) -> bool:
    return await tenant_settings.global_kill_switch(session)


async def decision_counts(
    session: AsyncSession, msg: OutgoingMessage, instance: Instance, now: datetime
) -> PolicyCounts:
    """The counts the decision on ``msg`` reads, fresh, in one statement (its number's other
    sends being typed included). Days start at midnight in the tenant's zone."""
    settings = await tenant_settings.current(session, msg.tenant_id)
    zone = ZoneInfo(settings.timezone)
    return await OutgoingRepository(session).policy_counts(
        instance.id,
        hour_ago=now - timedelta(hours=1),
        day_start=local_day_start(now.astimezone(zone).date(), zone),
        deciding=msg.id,
    )


async def policy_inputs(
    session: AsyncSession,
    msg: OutgoingMessage,
    instance: Instance,
    now: datetime,
    counts: PolicyCounts,
) -> PolicyInputs:
    """Everything the pure engine needs. The counts are read fresh (``decision_counts``); the
    settings and kill switches come from the cache that every committed change empties
    (kit.cache): changes apply to the very next decision."""
    settings = await tenant_settings.current(session, msg.tenant_id)
    policy = tenant_settings.as_policy(settings.row, settings.timezone)
    zone = ZoneInfo(settings.timezone)
    band, stage = await safety.band_and_stage(session, instance, now, zone)
    mine = counts.number
    number = NumberState(
        connected=instance.connected,
        health=instance.health,
        paused=instance.paused,
        first_connected_at=instance.first_connected_at,
        sent_last_hour=mine.last_hour,
        sent_today=mine.today,
        last_sent_at=mine.last_sent_at,
        band=band,
        new_contacts_today=mine.new_contacts_today,
        warmup_stage=stage,
    )
    load = TenantLoad(
        sent_last_hour=counts.tenant_last_hour, last_sent_at=counts.tenant_last_sent_at
    )
    ctx = await owner_of(msg.purpose).policy_context(session, msg)
    return PolicyInputs(await global_kill_switch(session), policy, number, load, ctx)


async def _record(session: AsyncSession, msg: OutgoingMessage, decision: Decision) -> None:
    await DecisionRepository(session).add(
        PolicyDecision(
            tenant_id=msg.tenant_id,
            instance_id=msg.instance_id,
            conversation_id=msg.conversation_id,
            round_id=msg.round_id,
            outgoing_message_id=msg.id,
            action=decision.action,
            reason=str(decision.reason),
            until=decision.until,
            detail=decision.detail[:300],
        )
    )


async def _decide_and_claim(
    outgoing_id: uuid.UUID | None, now: datetime, *, next_of: uuid.UUID | None = None
) -> Step | Claim:
    """Transaction 1: a step (a later one scheduled in this transaction), or the claim —
    committed when this returns. Either for ``outgoing_id`` (its job), or for the next parked
    message of the number ``next_of`` (taken by the send of that number that just finished)."""
    async with session_scope() as session:
        outgoing = OutgoingRepository(session)
        if next_of is not None:
            # Under the number's claim lock: a job deciding to park its message meanwhile
            # (it saw the finished send still typing) commits first, so it is found here.
            await outgoing.lock_number(next_of)
            outgoing_id = await outgoing.take_parked(next_of, now)
        if outgoing_id is None:
            return Step("queue-empty", holds_number=True)
        msg = await outgoing.get(outgoing_id, for_update=True)
        if msg is None or msg.status in FINAL_STATUSES:
            return Step("nothing-to-do")
        # The number's status, from the cache every committed change of it empties.
        instance = await instances.status(session, msg.instance_id)
        if instance is None:
            msg.status = OutgoingStatus.CANCELLED
            return Step("number-gone")
        if msg.status == OutgoingStatus.SENDING:
            return await _reconcile(session, msg, instance, now)
        if msg.planned_at > now + timedelta(seconds=1):
            await _schedule(session, msg, msg.planned_at)
            return Step("early", msg.planned_at)
        if next_of != instance.id:  # taken under it already
            await outgoing.lock_number(instance.id)
        counts = await decision_counts(session, msg, instance, now)
        if _typing(counts.in_flight, now):
            # The number is typing another message: this one parks, with no job of its own;
            # the send now being typed, once finished, takes the number's next parked message
            # (``_follow_up``). A number with k queued messages costs one wake per send, not
            # k job runs per send; the reaper wakes parked messages whose number went quiet.
            msg.parked_at = now
            return Step("number-busy", holds_number=True)
        msg.parked_at = None
        inputs = await policy_inputs(session, msg, instance, now, counts)
        decision = decide(
            now,
            global_kill=inputs.global_kill,
            policy=inputs.policy,
            number=inputs.number,
            tenant=inputs.tenant,
            ctx=inputs.ctx,
        )
        whole_number = holds_number(str(decision.reason), outreach=inputs.ctx.outreach is not None)
        if decision.action == "defer":
            await _record(session, msg, decision)
            at = decision.until or now + RETRY_UNTIMED
            msg.planned_at = at
            await _schedule(session, msg, at)
            await _report(session, msg, SendOutcome.DEFERRED, decision.reason)
            return Step(f"deferred:{decision.reason}", at, holds_number=whole_number)
        if decision.action == "deny":
            await _record(session, msg, decision)
            msg.status = OutgoingStatus.CANCELLED
            msg.last_error = f"denied: {decision.reason}"
            await _report(session, msg, SendOutcome.DENIED, decision.reason)
            return Step(f"denied:{decision.reason}", holds_number=whole_number)
        # The claim: written now, explicitly, and committed when this transaction ends —
        # before the gateway is called, whoever owns the message.
        msg.status = OutgoingStatus.SENDING
        msg.claimed_at = now
        msg.attempts += 1
        await outgoing.save()
        on_claim = owner_of(msg.purpose).on_claim
        if on_claim is not None:
            await on_claim(session, msg, now)
        return Claim(
            outgoing_id=msg.id,
            tenant_id=msg.tenant_id,
            instance_id=instance.id,
            gateway_name=instance.gateway_name,
            to_number=msg.to_number,
            text=msg.text,
            typing_ms=msg.typing_ms,
            token=instances.instance_token(instance),
        )


def _typing(in_flight: Sequence[tuple[datetime, int]], now: datetime) -> bool:
    """Whether the number is typing another send now. A claim far past its typing time (its
    worker died) does not count: the reaper reconciles it."""
    return any(
        claimed + timedelta(seconds=human_seconds(typing_ms / 1000)) + STALE_CLAIM > now
        for claimed, typing_ms in in_flight
    )


async def _reconcile(
    session: AsyncSession, msg: OutgoingMessage, instance: Instance, now: datetime
) -> Step:
    """A send was claimed but its outcome never recorded (worker died, or the gateway timed
    out): trust only the gateway's own record of it; never send a second copy."""
    to_jids = [f"{msg.to_number}@s.whatsapp.net"]
    since = (msg.claimed_at or msg.created_at) - timedelta(seconds=5)
    record = await OutgoingRepository(session).find_sent_record(
        instance.id, to_jids, msg.text, since
    )
    if record is not None:
        await _mark_sent(session, msg, record.provider_message_id, now)
        return Step("confirmed-from-webhook", freed=instance.id)
    if msg.claimed_at is not None and now - msg.claimed_at > CONFIRM_GRACE:
        msg.status = OutgoingStatus.UNKNOWN
        msg.last_error = "outcome unknown: no record of the send arrived; not re-sent"
        # "Connected but cannot send": the gateway never acknowledged it (no SERVER_ACK).
        await safety.record(session, instance, SignalKind.NOT_ACKED, detail=str(msg.id))
        await _report(session, msg, SendOutcome.UNKNOWN)
        return Step("unknown", freed=instance.id)
    await _schedule(session, msg, now + RECHECK_AFTER)
    return Step("awaiting-confirmation", now + RECHECK_AFTER)


async def _mark_sent(
    session: AsyncSession, msg: OutgoingMessage, provider_id: str, now: datetime
) -> None:
    msg.status = OutgoingStatus.SENT
    msg.sent_at = now
    msg.provider_message_id = provider_id
    msg.last_error = None
    await _sent_resets_failures(session, msg.instance_id)
    # The Numbers page shows today's sends against the caps: its row follows each send.
    await live.notify(session, msg.tenant_id, "instance", msg.instance_id)
    await _report(session, msg, SendOutcome.SENT)


async def _sent_resets_failures(session: AsyncSession, instance_id: uuid.UUID) -> None:
    """A send went out: the number's streak of failed sends ends. Whether it has one comes
    from the cached status (every committed change of the number empties it), so the usual
    case — no streak — costs no statement; the number's sends go one at a time, so a failure
    is committed, and announced, long before the next send of the number is recorded."""
    cached = await instances.status(session, instance_id)
    if cached is None or not cached.consecutive_send_failures:
        return
    instance = await session.get(Instance, instance_id, with_for_update=True)
    if instance is not None and instance.consecutive_send_failures:
        instance.consecutive_send_failures = 0
        await instances.reassess(session, instance)


_SENDS: InFlight | None = None


def in_flight_sends() -> InFlight:
    """The process's sends now held by the gateway (typing), bounded (``send_in_flight``);
    their database work uses at most the pool's steady size at once, so the job slots always
    have the overflow half (a worker's pool: slots + 2, and as many again)."""
    global _SENDS
    if _SENDS is None:
        _SENDS = InFlight(get_settings().send_in_flight, db_share=get_database().pool_size())
    return _SENDS


async def send_step(outgoing_id: uuid.UUID) -> Step:
    """The send job: decide and claim, then hand the gateway call — which waits out the
    typing time — to the process's in-flight sends, so the job (its worker slot and its
    database connection) is free at once. Thousands of numbers can be typing on one worker."""
    claim = await _decide_and_claim(outgoing_id, utcnow())
    if isinstance(claim, Step):
        freed = claim.freed
        if freed is not None:  # a dead worker's claim, settled: the number's queue moves on
            await in_flight_sends().spawn(lambda: _drive(None, freed), name=f"queue:{freed}")
        return claim
    await in_flight_sends().spawn(
        lambda: _drive(claim, claim.instance_id), name=f"send:{claim.outgoing_id}"
    )
    return Step("handed-off")


async def _drive(claim: Claim | None, instance_id: uuid.UUID) -> None:
    """Deliver the claim (if any), then — the number being free again — its next parked
    message, and so on while the number has due ones: one piece of in-flight work drives a
    number's queue, with no job run per message."""
    db = in_flight_sends().database()  # around each transaction, never the gateway call
    current = claim
    if current is None:
        async with db:
            current = await _follow_up(instance_id)
    while current is not None:
        step = await _deliver(current, db)
        async with db:
            if step.again_at is not None:
                async with session_scope() as session:
                    await schedule_step(session, current.outgoing_id, step.again_at)
            log.info("send.delivered", outgoing_id=str(current.outgoing_id), outcome=step.outcome)
            current = await _follow_up(current.instance_id)


async def _follow_up(instance_id: uuid.UUID) -> Claim | None:
    """The number's next parked message: claimed (returned, to deliver), or decided otherwise
    — then the one after it, unless the reason holds the whole number (which the deferred
    message's own job, at its new time, carries on from). A stopping process hands the next
    message to a job instead, for a worker that stays."""
    for _ in range(FOLLOW_UP_TRIES):
        if in_flight_sends().closing:
            async with session_scope() as session:
                repo = OutgoingRepository(session)
                await repo.lock_number(instance_id)
                next_id = await repo.take_parked(instance_id, utcnow())
                if next_id is not None:
                    await schedule_step(session, next_id, utcnow())
            return None
        got = await _decide_and_claim(None, utcnow(), next_of=instance_id)
        if isinstance(got, Claim):
            return got
        if got.holds_number:
            return None
    return None


async def _deliver(claim: Claim, db: asyncio.Semaphore) -> Step:
    """Transactions 2 and 3: the gateway call (``delay`` = typing), then its result (under
    the in-flight work's database share ``db``)."""
    outgoing_id = claim.outgoing_id
    try:
        # `delay` makes the gateway show "composing" for the typing time, then send.
        result = await get_gateway().send_text(
            claim.gateway_name,
            claim.to_number,
            claim.text,
            delay_ms=int(human_seconds(claim.typing_ms / 1000) * 1000),
            token=claim.token,
        )
    except SendOutcomeUnknown as exc:
        log.warning("send.outcome_unknown", outgoing_id=str(outgoing_id), error=str(exc))
        return Step("outcome-unknown", utcnow() + RECHECK_AFTER)
    except (CircuitOpen, GatewayDown) as exc:
        # Provably not sent (refused before reaching the gateway): release and retry later.
        async with db:
            return await _release(outgoing_id, f"{type(exc).__name__}: {exc}", retry=True)
    except (NotConnected, GatewayError) as exc:
        async with db:
            return await _release(outgoing_id, f"{type(exc).__name__}: {exc}", retry=False)
    async with db, session_scope() as session:
        # One statement: only a send still claimed is marked (a reconciliation may have
        # recorded it meanwhile, from the gateway's own record).
        sent = await OutgoingRepository(session).mark_sent(
            outgoing_id,
            result.message_id,
            utcnow(),
            # The number's row on the Numbers page follows its sends (today's against the
            # caps): announced by the same statement.
            announce=live.notify_expression(claim.tenant_id, "instance", claim.instance_id),
        )
        if sent is not None:
            await _sent_resets_failures(session, sent.instance_id)
            await _report_for(session, sent.purpose, outgoing_id, SendOutcome.SENT)
    return Step("sent")


async def redecide_deferred(session: AsyncSession, now: datetime) -> int:
    """The tenant's cadence settings changed: every send the policy had moved to later is
    decided again now. It goes out if the new rules allow it (quiet hours shortened, a cap
    raised), or is deferred anew by them; the job at the old time then finds nothing to do."""
    msgs = await OutgoingRepository(session).deferred(now)
    for msg in msgs:
        msg.planned_at = now
        await _schedule(session, msg, None)
    return len(msgs)


# --- the reaper ----------------------------------------------------------------------------


async def reap(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Give every overdue message of the tenant a send step again if no job will run one: a
    job aborted by a shutdown, failed for good, or lost. A ``sending`` message's step then
    asks the gateway's record (sent, or ``unknown`` after the grace) — never re-sends it; a
    ``planned`` one gets its policy decision. Returns the messages rescheduled."""
    outgoing = OutgoingRepository(session)
    stale = await outgoing.stale(
        planned_before=now - REAP_PLANNED_AFTER,
        claimed_before=now - CONFIRM_GRACE,
        woken_before=now + REAP_DRIVER_HORIZON,
    )
    if not stale:
        return []
    with_job = await outgoing.with_live_job([str(m.id) for m in stale], SEND_JOB)
    rescheduled = []
    for msg in stale:
        if str(msg.id) not in with_job:
            log.warning("send.reaped", outgoing_id=str(msg.id), status=str(msg.status))
            await _schedule(session, msg, None)  # at once
            rescheduled.append(msg.id)
    return rescheduled


async def _release(outgoing_id: uuid.UUID, error: str, *, retry: bool) -> Step:
    async with session_scope() as session:
        msg = await OutgoingRepository(session).get(outgoing_id, for_update=True)
        if msg is None or msg.status != OutgoingStatus.SENDING:
            return Step("moved-on")
        msg.last_error = error[:300]
        instance = await session.get(Instance, msg.instance_id, with_for_update=True)
        if instance is not None:
            instance.consecutive_send_failures += 1
            instance.last_send_failure_at = utcnow()
            await instances.reassess(session, instance)
            if not retry:
                # The number's own failure (a gateway that is down or a circuit that is open
                # says nothing about the number: those are retried, not held against it).
                kind, code = safety.classify_error(error)
                await safety.record(session, instance, kind, code=code, detail=error)
        if retry and msg.attempts < MAX_ATTEMPTS:
            msg.status = OutgoingStatus.PLANNED
            msg.planned_at = utcnow() + timedelta(seconds=30 * msg.attempts)
            return Step("retry", msg.planned_at)
        msg.status = OutgoingStatus.FAILED
        await _report(session, msg, SendOutcome.FAILED)
        return Step("failed")


__all__ = [
    "Owner",
    "Purpose",
    "SendOutcome",
    "Step",
    "can_send",
    "plan_message",
    "register_owner",
    "send_counts",
]
