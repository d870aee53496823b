"""Campaign execution: the state machine, the frozen audience, the send owner of ``campaign``
messages and the driver that plans them.

- **Start** freezes the audience (``INSERT … SELECT`` from the contacts' audience statement:
  set-based, later imports never join) with each recipient's sender from the pool (sticky: the
  number that messaged the contact before, when it is in the pool). Blocked contacts are
  skipped with their reason at once; suppressions by keyed hash are checked a page at a time.
- **The driver** (``drive``; a job per campaign, deferred by every outcome and every minute)
  plans a bounded batch per sender at human cadence (``messaging.cadence``; the policy's gap
  and the caps left), each text rendered from a variant chosen per recipient
  (``outreach.render``), through ``messaging.plan_message`` — the policy engine decides again
  at the send. It moves the not-yet-sent recipients of a number that can no longer send to
  the pool's healthy numbers (recorded), follows receipts and replies, ends the campaign.
- **The owner** (``owner()``, registered for ``Purpose.CAMPAIGN`` by ``outreach.tasks``) gives
  each send its ``SendContext(outreach=…)`` — the policy's rules, the recipient's place, basis,
  consent and suppression read fresh, the campaign's load, the tenant's sends of the same text,
  the validity — and turns every outcome into the recipient's next status.
- Statuses only move forward (``repository.forward_only``, and a trigger in the database).
  Pause cancels the messages not yet claimed (a claimed one goes out once and is recorded);
  resume plans the rest again: nothing is ever sent twice.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.config import human_seconds
from mirage.contacts import service as contacts
from mirage.instances import service as instances
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, NotFound, ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.kit.live import notify
from mirage.kit.logging import get_logger
from mirage.messaging import cadence
from mirage.messaging import service as messaging
from mirage.models import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    OutgoingMessage,
    OutreachPolicy,
    Purpose,
    RecipientStatus,
    SkipReason,
    Tenant,
)
from mirage.models.outreach import RECIPIENT_RANK
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.outreach import render
from mirage.outreach.repository import (
    CampaignRepository,
    OutreachPolicyRepository,
    RecipientRepository,
)
from mirage.outreach.schemas import FunnelOut
from mirage.policy import (
    ALWAYS,
    CampaignLoad,
    Daypart,
    NumberState,
    Outreach,
    OutreachRules,
    Reason,
    Recipient,
    SendContext,
    TenantLoad,
    decide,
    local_day_start,
)
from mirage.policy.locality import UnknownNumber, locate
from mirage.safety import service as safety
from mirage.safety.score import ENGAGEMENT_WINDOW
from mirage.tenants import settings as tenant_settings

log = get_logger(__name__)

OUTCOME_JOB = "outreach.on_send_outcome"
DRIVE_JOB = "outreach.drive_campaign"
#: Messages planned ahead per sender: a bounded batch, never the whole audience.
BATCH = 5
#: A reply this long after a send is attributed to the campaign.
REPLY_WINDOW = timedelta(days=3)
#: Receipts and replies are looked for this many recipients at a time.
TRACK_BATCH = 2000
#: Recent sends (within ``TRACK_CLOSELY``) have their receipts looked for every
#: ``TRACK_EVERY_S`` human seconds; older ones every minute (``outreach.drive_all``). Both are
#: human waits (how soon people read and answer), compressed alike by the test time scale.
TRACK_EVERY_S = 20
TRACK_CLOSELY = timedelta(minutes=10)
#: Suppression (keyed hashes) is checked at freeze this many recipients at a time.
FREEZE_PAGE = 5000
LIVE_KIND = "campaign"

ILLEGAL = N_("a %(state)s campaign cannot be %(action)s")
NO_SENDERS = N_("choose at least one of the tenant's numbers to send from")
UNKNOWN_SENDER = N_("unknown number: %(id)s")
BAD_SCHEDULE = N_("the end must come after the start")
NOT_OWN_NUMBER = N_("a test send goes to one of the tenant's own numbers")
NO_PHONE = N_("this number has no phone yet (connect it first)")


# --- the state machine (the one place that says what may follow what) -----------------------


class Action(StrEnum):
    START = "start"
    BEGIN = "begin"  # a scheduled campaign's start time came (the driver)
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    COMPLETE = "complete"  # nothing left to send, or its end time came (the driver)


_S = CampaignState
TRANSITIONS: dict[tuple[CampaignState, Action], frozenset[CampaignState]] = {
    (_S.DRAFT, Action.START): frozenset({_S.RUNNING, _S.SCHEDULED}),
    (_S.DRAFT, Action.CANCEL): frozenset({_S.CANCELLED}),
    (_S.SCHEDULED, Action.BEGIN): frozenset({_S.RUNNING}),
    (_S.SCHEDULED, Action.PAUSE): frozenset({_S.PAUSED}),
    (_S.SCHEDULED, Action.CANCEL): frozenset({_S.CANCELLED}),
    (_S.RUNNING, Action.PAUSE): frozenset({_S.PAUSED}),
    (_S.RUNNING, Action.CANCEL): frozenset({_S.CANCELLED}),
    (_S.RUNNING, Action.COMPLETE): frozenset({_S.COMPLETED}),
    (_S.PAUSED, Action.RESUME): frozenset({_S.RUNNING, _S.SCHEDULED}),
    (_S.PAUSED, Action.CANCEL): frozenset({_S.CANCELLED}),
    (_S.PAUSED, Action.COMPLETE): frozenset({_S.COMPLETED}),
}
STATE_LABELS = {
    _S.DRAFT: N_("draft"),
    _S.SCHEDULED: N_("scheduled"),
    _S.RUNNING: N_("running"),
    _S.PAUSED: N_("paused"),
    _S.COMPLETED: N_("completed"),
    _S.CANCELLED: N_("cancelled"),
}
ACTION_LABELS = {
    Action.START: N_("started"),
    Action.BEGIN: N_("started"),
    Action.PAUSE: N_("paused"),
    Action.RESUME: N_("resumed"),
    Action.CANCEL: N_("cancelled"),
    Action.COMPLETE: N_("completed"),
}


def allowed(state: CampaignState, action: Action) -> frozenset[CampaignState]:
    return TRANSITIONS.get((CampaignState(state), action), frozenset())


def transition(campaign: Campaign, action: Action, target: CampaignState) -> None:
    """Move ``campaign`` to ``target`` by ``action``, or a 409 naming why not."""
    if target not in allowed(campaign.state, action):
        raise Conflict(
            ILLEGAL,
            params={
                "state": Message(STATE_LABELS[CampaignState(campaign.state)]),
                "action": Message(ACTION_LABELS[action]),
            },
            state=str(campaign.state),
            action=action.value,
        )
    campaign.state = target


# --- control ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartPlan:
    sender_ids: list[uuid.UUID]
    start_at: datetime | None = None
    end_by: datetime | None = None


async def _locked(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    require(principal, "write", role=Role.OPERATOR)
    campaign = await RecipientRepository(session).lock_campaign(campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


async def _check_pool(session: AsyncSession, sender_ids: Sequence[uuid.UUID]) -> None:
    if not sender_ids:
        raise ValidationFailed(NO_SENDERS, field="sender_ids")
    for sender_id in sender_ids:
        if await instances.find(session, sender_id) is None:
            raise ValidationFailed(
                UNKNOWN_SENDER, params={"id": str(sender_id)}, field="sender_ids"
            )


async def start_campaign(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    plan: StartPlan,
    now: datetime,
) -> Campaign:
    """Freeze the audience and start (or schedule) the campaign."""
    campaign = await _locked(session, principal, campaign_id)
    pool = list(dict.fromkeys(plan.sender_ids))
    await _check_pool(session, pool)
    if plan.start_at and plan.end_by and plan.end_by <= plan.start_at:
        raise ValidationFailed(BAD_SCHEDULE, field="end_by")
    if plan.end_by and plan.end_by <= now:
        raise ValidationFailed(BAD_SCHEDULE, field="end_by")
    later = plan.start_at is not None and plan.start_at > now
    transition(campaign, Action.START, _S.SCHEDULED if later else _S.RUNNING)
    campaign.sender_ids = pool
    campaign.start_at = plan.start_at
    campaign.end_by = plan.end_by
    campaign.started_at = now
    campaign.frozen_count = await freeze(session, principal, campaign)
    await session.flush()
    await _audit(session, principal, "campaign.start", campaign)
    await _kick(session, campaign, at=plan.start_at if later else None)
    return campaign


async def freeze(session: AsyncSession, principal: Principal, campaign: Campaign) -> int:
    """The audience copied into recipients (one statement), then the keyed-hash suppressions
    checked a page at a time. Returns how many recipients were frozen."""
    repo = RecipientRepository(session)
    audience = await contacts.audience_statement(
        session, principal, campaign.include_tag_ids, campaign.exclude_tag_ids
    )
    started = time.perf_counter()
    count = await repo.freeze(campaign.tenant_id, campaign.id, audience, campaign.sender_ids)
    inserted = time.perf_counter()
    after: uuid.UUID | None = None
    while True:
        page = await repo.open_phones(campaign.id, after, FREEZE_PAGE)
        if not page:
            break
        blocked = await contacts.suppressed_numbers(session, [p for _i, p in page])
        if blocked:
            await repo.advance(
                [i for i, p in page if p in blocked], RecipientStatus.SKIPPED, SkipReason.SUPPRESSED
            )
        after = page[-1][0]
    log.info(
        "campaign.frozen",
        campaign_id=str(campaign.id),
        recipients=count,
        insert_s=round(inserted - started, 3),
        suppressions_s=round(time.perf_counter() - inserted, 3),
    )
    return count


async def pause(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, now: datetime
) -> Campaign:
    campaign = await _locked(session, principal, campaign_id)
    transition(campaign, Action.PAUSE, _S.PAUSED)
    await _withdraw(session, campaign, "campaign paused")
    await _audit(session, principal, "campaign.pause", campaign)
    await notify(session, campaign.tenant_id, LIVE_KIND, campaign.id)
    return campaign


async def resume(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, now: datetime
) -> Campaign:
    campaign = await _locked(session, principal, campaign_id)
    later = campaign.start_at is not None and campaign.start_at > now
    transition(campaign, Action.RESUME, _S.SCHEDULED if later else _S.RUNNING)
    await _audit(session, principal, "campaign.resume", campaign)
    await _kick(session, campaign, at=campaign.start_at if later else None)
    return campaign


async def cancel(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, now: datetime
) -> Campaign:
    campaign = await _locked(session, principal, campaign_id)
    transition(campaign, Action.CANCEL, _S.CANCELLED)
    await _withdraw(session, campaign, "campaign cancelled")
    await RecipientRepository(session).close_open(campaign.id, "cancelled")
    campaign.finished_at = now
    await _audit(session, principal, "campaign.cancel", campaign)
    await notify(session, campaign.tenant_id, LIVE_KIND, campaign.id)
    return campaign


async def _withdraw(
    session: AsyncSession,
    campaign: Campaign,
    why: str,
    senders: Sequence[uuid.UUID] | None = None,
) -> None:
    """Cancel the campaign's messages not claimed yet (first: the send job locks a message
    before its recipient, so do we) and free their recipients to be planned again."""
    repo = RecipientRepository(session)
    waiting = await repo.planned_messages(campaign.id, senders)
    cancelled = await messaging.cancel_planned(session, waiting, why)
    await repo.release(sorted(cancelled))


async def test_send(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    sender_id: uuid.UUID,
    to_instance_id: uuid.UUID,
    now: datetime,
) -> OutgoingMessage:
    """Send the campaign's first variant (variables at their fallbacks) from ``sender_id`` to
    one of the tenant's own numbers, through the pipeline and the policy."""
    require(principal, "write", role=Role.OPERATOR)
    campaign = await CampaignRepository(session).get(campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    sender = await instances.find(session, sender_id)
    if sender is None:
        raise ValidationFailed(UNKNOWN_SENDER, params={"id": str(sender_id)}, field="sender_id")
    target = await instances.find(session, to_instance_id)
    if target is None:
        raise ValidationFailed(NOT_OWN_NUMBER, field="to_instance_id")
    phone = target.phone or (target.owner_jid or "").split("@")[0]
    if not phone:
        raise ValidationFailed(NO_PHONE, field="to_instance_id")
    templates = [render.parse(v) for v in campaign.variants]
    _index, rendered = render.render_message(
        templates, render.contact_values(None, {}), campaign.id, to_instance_id
    )
    rng = random.Random()
    msg = OutgoingMessage(
        tenant_id=campaign.tenant_id,
        purpose=Purpose.CAMPAIGN,
        instance_id=sender.id,
        to_number=phone,
        text=rendered.text,
        turn=-1,  # a test send: no recipient
        planned_at=now,
        typing_ms=int(cadence.typing_time(rendered.text, rng) * 1000),
    )
    await messaging.plan_message(session, msg)
    await _audit(session, principal, "campaign.test_send", campaign)
    return msg


async def _kick(session: AsyncSession, campaign: Campaign, at: datetime | None = None) -> None:
    """Have the driver look at the campaign (now, or at ``at``)."""
    await jobs.defer(session, DRIVE_JOB, schedule_at=at, campaign_id=str(campaign.id))
    await notify(session, campaign.tenant_id, LIVE_KIND, campaign.id)


async def _audit(
    session: AsyncSession, principal: Principal, action: str, campaign: Campaign
) -> None:
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action=action,
        target_type="campaign",
        target_id=campaign.id,
        name=campaign.name,
    )


# --- the send owner ------------------------------------------------------------------------


def rules_of(policy: OutreachPolicy) -> OutreachRules:
    """A stored policy as the engine applies it."""
    return OutreachRules(
        contact_start=policy.contact_start,
        contact_end=policy.contact_end,
        weekdays=frozenset(policy.weekdays),
        dayparts=frozenset(Daypart(p) for p in policy.dayparts),
        skip_holidays=policy.skip_holidays,
        number_hourly_cap=policy.number_hourly_cap,
        number_daily_cap=policy.number_daily_cap,
        campaign_hourly_cap=policy.campaign_hourly_cap,
        campaign_daily_cap=policy.campaign_daily_cap,
        min_gap_seconds=policy.min_gap_seconds or 0,
        duplicate_limit=policy.duplicate_limit,
        duplicate_window_seconds=policy.duplicate_window_minutes * 60,
    )


def recipient_of(phone_e164: str, member: contacts.AudienceMember | None) -> Recipient:
    """The engine's recipient: where the number puts them, their basis, consent and
    suppression (a contact deleted since the freeze is treated as suppressed)."""
    try:
        place = locate(phone_e164)
        zones, holidays = place.zones, place.holidays
    except UnknownNumber:
        zones, holidays = ("UTC",), None
    if member is None:
        return Recipient(zones=zones, basis=None, consent="none", suppressed=True)
    return Recipient(
        zones=zones,
        basis=member.legal_basis,
        consent=member.consent_state,
        suppressed=member.suppressed or member.opted_out,
        holidays=holidays,
    )


async def _campaign_load(
    session: AsyncSession, campaign: Campaign, zone: ZoneInfo, now: datetime
) -> CampaignLoad:
    hour, day, last = await RecipientRepository(session).load(
        campaign.id, now - timedelta(hours=1), local_day_start(now.astimezone(zone).date(), zone)
    )
    return CampaignLoad(sent_last_hour=hour, sent_today=day, last_sent_at=last)


async def send_context(session: AsyncSession, msg: OutgoingMessage) -> SendContext:
    """The campaign's part of the policy's input, read fresh at each decision."""
    repo = RecipientRepository(session)
    recipient = await repo.by_outgoing(msg.id)
    if recipient is None:
        # A test send goes only to one of the tenant's own numbers; anything else is refused.
        own = msg.turn == -1 and await repo.tenant_number(msg.to_number) is not None
        return SendContext(conversation_active=own, windows=ALWAYS)
    campaign = await CampaignRepository(session).get(recipient.campaign_id)
    policy = await OutreachPolicyRepository(session).get(campaign.policy_id) if campaign else None
    if campaign is None or policy is None:
        return SendContext(conversation_active=False, windows=ALWAYS)
    member = (await contacts.members(session, [recipient.contact_id])).get(recipient.contact_id)
    now = utcnow()
    zone = ZoneInfo(await tenant_zone(session, campaign.tenant_id))
    rules = rules_of(policy)
    return SendContext(
        conversation_active=campaign.state == CampaignState.RUNNING,
        windows=ALWAYS,
        outreach=Outreach(
            rules=rules,
            recipient=recipient_of(recipient.phone_e164, member),
            valid_until=recipient.valid_until or now,
            campaign=await _campaign_load(session, campaign, zone, now),
            same_text_sent=await messaging.same_text_sent(
                session, msg.text, now - timedelta(seconds=rules.duplicate_window_seconds)
            ),
        ),
    )


async def message_claimed(session: AsyncSession, msg: OutgoingMessage, now: datetime) -> None:
    """In the claim's transaction: the send counts against the campaign's caps from now."""
    recipient = await RecipientRepository(session).by_outgoing(msg.id)
    if recipient is not None:
        await RecipientRepository(session).set_values([recipient.id], claimed_at=now)


def owner() -> messaging.Owner:
    """The campaign as the owner of ``campaign`` messages."""
    return messaging.Owner(
        outcome_job=OUTCOME_JOB, policy_context=send_context, on_claim=message_claimed
    )


# Denials that free the recipient to be planned again (the campaign paused, its number can no
# longer send: failover moves it), not a final failure.
_RETRYABLE = {
    Reason.CONVERSATION_PAUSED.value,
    Reason.NUMBER_QUARANTINED.value,
    Reason.NUMBER_UNHEALTHY.value,
    Reason.NUMBER_PAUSED.value,
    Reason.NUMBER_CRITICAL.value,
    Reason.BAND_NO_OUTREACH.value,
    Reason.BAND_REPLIES_ONLY.value,
}
_SKIPS = {
    Reason.SUPPRESSED.value: SkipReason.SUPPRESSED,
    Reason.NO_BASIS.value: SkipReason.NO_BASIS,
    Reason.CONSENT_REVOKED.value: SkipReason.NO_BASIS,
}


async def on_send_outcome(
    session: AsyncSession,
    outgoing_id: uuid.UUID,
    outcome: messaging.SendOutcome,
    reason: str | None,
    now: datetime,
) -> str:
    """A send's outcome becomes its recipient's next status (forward only; idempotent)."""
    repo = RecipientRepository(session)
    recipient = await repo.by_outgoing(outgoing_id, for_update=True)
    if recipient is None:
        return "no-recipient"  # a test send, or a message released meanwhile
    msg = await messaging.get_message(session, outgoing_id)
    if msg is None:
        return "no-message"
    ids = [recipient.id]
    out = messaging.SendOutcome
    if outcome == out.SENT:
        moved = await repo.advance(
            ids,
            RecipientStatus.SENT,
            sent_at=msg.sent_at or now,
            provider_message_id=msg.provider_message_id,
        )
        if moved and msg.instance_id is not None:
            # The sender's engagement weighs on its risk (unanswered runs, a low reply ratio).
            streak, sent, replied = await repo.sender_engagement(
                recipient.tenant_id, msg.instance_id, now - ENGAGEMENT_WINDOW
            )
            await safety.outreach_sent(
                session, msg.instance_id, streak=streak, sent=sent, replied=replied, now=now
            )
    elif outcome == out.DEFERRED:
        await repo.advance(ids, RecipientStatus.DEFERRED, reason, planned_at=msg.planned_at)
    elif outcome == out.DENIED:
        if reason in _RETRYABLE:
            await repo.release([outgoing_id])
        elif reason == Reason.EXPIRED.value:
            await repo.advance(ids, RecipientStatus.EXPIRED, reason)
        elif reason in _SKIPS:
            await repo.advance(ids, RecipientStatus.SKIPPED, _SKIPS[reason])
        else:
            await repo.advance(ids, RecipientStatus.FAILED, reason)
    elif outcome == out.FAILED:
        error = msg.last_error or ""
        if "NumberNotOnWhatsApp" in error or "not on WhatsApp" in error:
            await repo.advance(ids, RecipientStatus.SKIPPED, SkipReason.NOT_ON_WHATSAPP)
        else:
            await repo.advance(ids, RecipientStatus.FAILED, "gateway")
    else:  # unknown: claimed, never confirmed; never re-sent
        await repo.advance(ids, RecipientStatus.FAILED, "unknown")
    await notify(session, recipient.tenant_id, LIVE_KIND, recipient.campaign_id)
    if outcome != out.DEFERRED:
        await _drive_soon(session, recipient.campaign_id)
    return f"{outcome}:{reason or ''}"


async def recipient_reported(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID, reason: str, now: datetime
) -> str:
    """A person told the tenant they blocked or reported it: the number whose campaign message
    last reached them takes a ``blocked`` signal (number safety)."""
    sender = await RecipientRepository(session).last_sender_to(tenant_id, contact_id)
    if sender is None:
        return "no-sender"  # never reached by a campaign: no number of ours to blame
    await safety.reported_by_recipient(session, sender, reason, now)
    return f"blocked:{sender}"


async def attribute_opt_out(
    session: AsyncSession, tenant_id: uuid.UUID, phone_e164: str, now: datetime
) -> int:
    """A person just opted out: the campaigns whose message reached them within the reply
    window count it (their funnels, live). Returns how many campaigns."""
    ids = await RecipientRepository(session).mark_opted_out(phone_e164, now - REPLY_WINDOW, now)
    for campaign_id in ids:
        await notify(session, tenant_id, LIVE_KIND, campaign_id)
    return len(ids)


async def _drive_soon(
    session: AsyncSession, campaign_id: uuid.UUID, *, now_too: bool = True
) -> None:
    """The sender has room again: plan its next (at most one waiting drive per campaign); and
    look for receipts a little later (at most one waiting look)."""
    later = utcnow() + timedelta(seconds=max(1.0, human_seconds(TRACK_EVERY_S)))
    steps: list[tuple[str, datetime | None]] = [(f"track:{campaign_id}", later)]
    if now_too:
        steps.insert(0, (f"drive:{campaign_id}", None))
    for lock, at in steps:
        try:
            async with session.begin_nested():
                await jobs.defer(
                    session,
                    DRIVE_JOB,
                    schedule_at=at,
                    queueing_lock=lock,
                    campaign_id=str(campaign_id),
                )
        except AlreadyEnqueued:
            pass


# --- the driver -----------------------------------------------------------------------------


async def tenant_zone(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    tenant = await session.get(Tenant, tenant_id)
    return tenant.timezone if tenant is not None else "America/Sao_Paulo"


def _choice_seed(campaign_id: uuid.UUID, recipient_id: uuid.UUID) -> int:
    return int.from_bytes(hashlib.sha256(campaign_id.bytes + recipient_id.bytes).digest()[:8])


async def drive(session: AsyncSession, campaign_id: uuid.UUID, now: datetime) -> str:
    """One look at a campaign: begin it when due, end it when due or done, move the queue of
    a number that cannot send, plan each sender's next batch, follow receipts and replies."""
    repo = RecipientRepository(session)
    campaign = await repo.lock_campaign(campaign_id)
    if campaign is None:
        return "gone"
    tracked, pending = await track(session, campaign, now)
    if pending:
        await _drive_soon(session, campaign.id, now_too=False)
    if (
        campaign.state == _S.SCHEDULED
        and campaign.start_at is not None
        and campaign.start_at <= now
    ):
        transition(campaign, Action.BEGIN, _S.RUNNING)
    if campaign.state not in (_S.RUNNING,):
        return f"{campaign.state}:tracked={tracked}"
    if campaign.end_by is not None and now >= campaign.end_by:
        await _withdraw(session, campaign, "campaign ended")
        await repo.close_open(campaign.id, "end_by")
        return await _complete(session, campaign, now)
    moved = await failover(session, campaign, now)
    planned = await plan(session, campaign, now)
    if planned == 0 and await repo.open_count(campaign.id) == 0:
        return await _complete(session, campaign, now)
    if planned or moved:
        await notify(session, campaign.tenant_id, LIVE_KIND, campaign.id)
    return f"planned={planned} moved={moved} tracked={tracked}"


async def _complete(session: AsyncSession, campaign: Campaign, now: datetime) -> str:
    transition(campaign, Action.COMPLETE, _S.COMPLETED)
    campaign.finished_at = now
    await notify(session, campaign.tenant_id, LIVE_KIND, campaign.id)
    return "completed"


async def failover(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    """The not-yet-sent recipients of pool numbers that can no longer send move to the pool's
    numbers that can (their messages not yet claimed are withdrawn first). Each healthy
    number's caps still hold: the planner fills only what its caps leave, and the policy
    engine decides every send."""
    healthy: list[uuid.UUID] = []
    down: list[uuid.UUID] = []
    for sender_id in campaign.sender_ids:
        inst = await instances.find(session, sender_id)
        sends = inst is not None and await messaging.can_send_campaigns(session, inst, now)
        (healthy if sends else down).append(sender_id)
    if not down or not healthy:
        return 0
    await _withdraw(session, campaign, "its number can no longer send", down)
    moved = await RecipientRepository(session).reassign(campaign.id, down, healthy, now)
    if moved:
        log.info("campaign.failover", campaign_id=str(campaign.id), moved=moved, down=len(down))
    return moved


async def plan(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    """Each healthy sender's next messages, a bounded batch at human cadence."""
    repo = RecipientRepository(session)
    policy = await OutreachPolicyRepository(session).get(campaign.policy_id)
    if policy is None:
        return 0
    rules = rules_of(policy)
    row = await tenant_settings.get_or_create(session, campaign.tenant_id)
    zone_name = await tenant_zone(session, campaign.tenant_id)
    tenant_policy = tenant_settings.as_policy(row, zone_name)
    hourly_cap = min(tenant_policy.hourly_cap_per_number, rules.number_hourly_cap or 10**9)
    gap_s = max(tenant_policy.min_gap_seconds, rules.min_gap_seconds)
    templates = [render.parse(v) for v in campaign.variants]
    validity = timedelta(minutes=policy.validity_minutes)
    total = 0
    for sender_id in campaign.sender_ids:
        inst = await instances.find(session, sender_id)
        if inst is None or not await messaging.can_send_campaigns(session, inst, now):
            continue
        waiting, last_planned = await repo.in_plan(campaign.id, sender_id)
        counts = await messaging.send_counts(session, sender_id, now)
        room = min(BATCH - waiting, hourly_cap - counts.last_hour - waiting)
        if room <= 0:
            continue
        batch = await repo.to_plan(campaign.id, sender_id, room)
        if not batch:
            continue
        people = await contacts.members(session, [r.contact_id for r in batch])
        at = max(now, last_planned or now, (counts.last_sent_at or now) + timedelta(seconds=gap_s))
        for recipient in batch:
            rng = random.Random(_choice_seed(campaign.id, recipient.id))
            member = people.get(recipient.contact_id)
            who = recipient_of(recipient.phone_e164, member)
            if member is None:
                await repo.advance([recipient.id], RecipientStatus.SKIPPED, SkipReason.INVALID)
                continue
            at += timedelta(
                seconds=gap_s
                + human_seconds(cadence.human_delay(rng, row.delay_min_s, row.delay_max_s))
            )
            # The recipient's own calendar first (the engine, on an idle number): a message
            # is planned for when the recipient may be contacted, so that it does not expire
            # waiting; the engine decides again, with the real counts, at the send.
            probe = decide(
                at,
                global_kill=False,
                policy=tenant_policy,
                number=NumberState(True, "healthy", False, None, 0, 0, None),
                tenant=TenantLoad(0),
                ctx=SendContext(
                    conversation_active=True,
                    windows=ALWAYS,
                    outreach=Outreach(rules, who, valid_until=at + timedelta(days=7)),
                ),
            )
            if probe.action == "deny":
                skip = _SKIPS.get(probe.reason or "")
                if skip is not None:
                    await repo.advance([recipient.id], RecipientStatus.SKIPPED, skip)
                    continue
            elif probe.action == "defer" and probe.until is not None:
                at = max(at, probe.until)
            index, rendered = render.render_message(
                templates,
                render.contact_values(member.name, member.custom_fields),
                campaign.id,
                member.id,
            )
            msg = OutgoingMessage(
                tenant_id=campaign.tenant_id,
                purpose=Purpose.CAMPAIGN,
                instance_id=sender_id,
                to_number=recipient.phone_e164.lstrip("+"),
                text=rendered.text,
                turn=0,
                planned_at=at,
                think_ms=0,
                typing_ms=int(cadence.typing_time(rendered.text, rng) * 1000),
            )
            await messaging.plan_message(session, msg)
            valid_until = at + validity
            if campaign.end_by is not None:
                valid_until = min(valid_until, campaign.end_by)
            await repo.set_values(
                [recipient.id],
                outgoing_id=msg.id,
                planned_at=at,
                valid_until=valid_until,
                variant=index,
            )
            total += 1
    return total


async def track(session: AsyncSession, campaign: Campaign, now: datetime) -> tuple[int, bool]:
    """Receipts (delivered, read: the gateway's acks on the stored messages) and replies (the
    recipient wrote to the sender after the send, within ``REPLY_WINDOW``), forward only.
    Returns how many moved, and whether recent sends may still bring some soon (the driver
    looks again every ``TRACK_EVERY_S`` for ``TRACK_CLOSELY``; every minute after)."""
    repo = RecipientRepository(session)
    rows = await repo.tracked(campaign.id, now - REPLY_WINDOW, TRACK_BATCH)
    if not rows:
        return 0, False
    acks = await messaging.delivery_statuses(
        session, [r.provider_message_id for r in rows if r.provider_message_id]
    )
    replies = await messaging.first_replies(
        session,
        # Since the claim: a quick reply can arrive before the gateway even answers the send.
        [
            (r.sender_id or uuid.UUID(int=0), r.phone_e164, r.claimed_at or r.sent_at or now)
            for r in rows
        ],
    )
    moved = 0
    # A receipt moves a recipient once: the rows it would move are updated together, one
    # statement per status (every look re-reads the acks of every tracked row; a row already
    # there was updated again on each look, one statement per row). The statement's own
    # forward-only rule still decides, should a row have moved since it was read.
    acked: dict[RecipientStatus, list[uuid.UUID]] = {
        RecipientStatus.READ: [],
        RecipientStatus.DELIVERED: [],
    }
    for index, r in enumerate(rows):
        replied = replies.get(index)
        ack = acks.get(r.provider_message_id or "")
        if replied is not None:
            moved += await repo.advance([r.id], RecipientStatus.REPLIED, replied_at=replied)
            continue
        if ack in ("READ", "PLAYED"):
            target = RecipientStatus.READ
        elif ack == "DELIVERY_ACK":
            target = RecipientStatus.DELIVERED
        else:
            continue
        if RECIPIENT_RANK[RecipientStatus(r.status)] < RECIPIENT_RANK[target]:
            acked[target].append(r.id)
    moved += await repo.advance(acked[RecipientStatus.READ], RecipientStatus.READ, read_at=now)
    moved += await repo.advance(
        acked[RecipientStatus.DELIVERED], RecipientStatus.DELIVERED, delivered_at=now
    )
    if moved:
        await notify(session, campaign.tenant_id, LIVE_KIND, campaign.id)
    recent = now - timedelta(seconds=human_seconds(TRACK_CLOSELY.total_seconds()))
    pending = any(
        r.sent_at is not None and r.sent_at > recent and index not in replies
        for index, r in enumerate(rows)
    )
    return moved, pending


# --- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    total: int
    by_status: dict[str, int]
    by_reason: dict[str, dict[str, int]]
    opted_out: int = 0

    def reached(self, status: RecipientStatus | str) -> int:
        """How many got at least this far (sent includes delivered, read and replied…)."""
        status = RecipientStatus(status)
        order = [
            RecipientStatus.SENT,
            RecipientStatus.DELIVERED,
            RecipientStatus.READ,
            RecipientStatus.REPLIED,
        ]
        if status not in order:
            return self.by_status.get(status.value, 0)
        return sum(self.by_status.get(s.value, 0) for s in order[order.index(status) :])


async def funnel(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Funnel:
    require(principal, "read")
    if await CampaignRepository(session).get(campaign_id) is None:
        raise NotFound("campaign not found")
    by_status: dict[str, int] = {}
    by_reason: dict[str, dict[str, int]] = {}
    for status, reason, n in await RecipientRepository(session).funnel(campaign_id):
        by_status[status] = by_status.get(status, 0) + n
        if reason:
            by_reason.setdefault(status, {})[reason] = n
    opted_out = await RecipientRepository(session).opted_out(campaign_id)
    return Funnel(sum(by_status.values()), by_status, by_reason, opted_out)


async def recipients(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    statuses: Sequence[RecipientStatus],
    after: uuid.UUID | None,
    limit: int,
) -> list[CampaignRecipient]:
    require(principal, "read")
    if await CampaignRepository(session).get(campaign_id) is None:
        raise NotFound("campaign not found")
    return list(await RecipientRepository(session).page(campaign_id, statuses, after, limit))


def funnel_out(campaign: Campaign, f: Funnel) -> FunnelOut:
    S = RecipientStatus
    return FunnelOut(
        state=str(campaign.state),
        total=f.total,
        planned=f.reached(S.PLANNED),
        deferred=f.reached(S.DEFERRED),
        sent=f.reached(S.SENT),
        delivered=f.reached(S.DELIVERED),
        read=f.reached(S.READ),
        replied=f.reached(S.REPLIED),
        failed=f.by_reason.get(S.FAILED.value, {}),
        expired=f.by_reason.get(S.EXPIRED.value, {}),
        skipped=f.by_reason.get(S.SKIPPED.value, {}),
        opted_out=f.opted_out,
    )
