"""The send pipeline: re-check the policy at send time, claim, send (with 'composing' for
the typing time), record the outcome — at most once, even if the worker dies mid-send.

Three short transactions, never one held across the network call:
  1. decide + claim (status ``sending``), committed before the gateway is called;
  2. the gateway call (``sendText`` with ``delay`` = typing time: composing, then the text);
  3. record the result and move the round on.
A job that finds its message already ``sending`` (its worker died) never re-sends blindly:
it looks for the gateway's own record of the send (the SEND_MESSAGE webhook) instead.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.conversations import engine
from mirage.conversations.repository import (
    ConversationRepository,
    DecisionRepository,
    OutgoingRepository,
)
from mirage.conversations.windows import windows_of
from mirage.db.engine import session_scope
from mirage.instances import service as instances
from mirage.instances.gateway import get_gateway
from mirage.kit.clock import human_seconds, utcnow
from mirage.kit.logging import get_logger
from mirage.models import Instance, OutgoingMessage, PolicyDecision, SystemFlag, Tenant
from mirage.policy import (
    ALWAYS,
    Decision,
    NumberState,
    SendContext,
    TenantLoad,
    TenantPolicy,
    decide,
    local_day_start,
)
from mirage.providers import (
    CircuitOpen,
    GatewayDown,
    GatewayError,
    NotConnected,
    SendOutcomeUnknown,
)
from mirage.tenants import settings as tenant_settings

log = get_logger(__name__)
# How long a claimed send may stay unconfirmed before we stop waiting for its webhook.
CONFIRM_GRACE = timedelta(minutes=3)
RECHECK_AFTER = timedelta(seconds=20)


@dataclass(frozen=True)
class Step:
    """What the job does next: nothing, or run again at ``at``."""

    outcome: str
    again_at: datetime | None = None


async def global_kill_switch(session: AsyncSession) -> bool:
    flag = await session.get(SystemFlag, "kill_switch")
    return bool(flag and flag.value is True)


async def policy_inputs(
    session: AsyncSession, msg: OutgoingMessage, instance: Instance, now: datetime
) -> tuple[bool, TenantPolicy, NumberState, TenantLoad, SendContext]:
    """Everything the pure engine needs, read fresh: settings changes apply at once."""
    tenant = await session.get(Tenant, msg.tenant_id)
    assert tenant is not None
    row = await tenant_settings.get_or_create(session, msg.tenant_id)
    zone = ZoneInfo(tenant.timezone)
    policy = TenantPolicy(
        timezone=tenant.timezone,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        hourly_cap_per_number=row.hourly_cap_per_number,
        daily_cap_per_number=row.daily_cap_per_number,
        burst_per_hour=row.burst_per_hour,
        min_gap_seconds=row.min_gap_seconds,
        delay_min_s=row.delay_min_s,
        delay_max_s=row.delay_max_s,
        kill_switch=row.kill_switch,
    )
    outgoing = OutgoingRepository(session)
    day_start = local_day_start(now.astimezone(zone).date(), zone)
    hour, day, last = await outgoing.send_counts(
        instance.id, hour_ago=now - timedelta(hours=1), day_start=day_start
    )
    number = NumberState(
        connected=instance.connected,
        health=instance.health,
        paused=False,
        first_connected_at=instance.first_connected_at,
        sent_last_hour=hour,
        sent_today=day,
        last_sent_at=last,
    )
    load = TenantLoad(
        sent_last_hour=await outgoing.tenant_sent_since(now - timedelta(hours=1)),
        last_sent_at=await outgoing.tenant_last_sent(),
    )
    conversation = (
        await ConversationRepository(session).get(msg.conversation_id)
        if msg.conversation_id
        else None
    )
    ctx = SendContext(
        conversation_active=conversation is None or conversation.state == "active",
        windows=windows_of(conversation.windows).weekly if conversation else ALWAYS,
    )
    return await global_kill_switch(session), policy, number, load, ctx


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
    outgoing_id: uuid.UUID, now: datetime, rng: random.Random
) -> tuple[Step | None, OutgoingMessage | None]:
    """Transaction 1. Returns a final step, or the claimed message to send."""
    async with session_scope() as session:
        outgoing = OutgoingRepository(session)
        msg = await outgoing.get(outgoing_id, for_update=True)
        if msg is None or msg.status in ("sent", "failed", "cancelled", "unknown"):
            return Step("nothing-to-do"), None
        instance = await session.get(Instance, msg.instance_id)
        if instance is None:
            msg.status = "cancelled"
            return Step("number-gone"), None
        if msg.status == "sending":
            return await _reconcile(session, msg, instance, now, rng), None
        if msg.planned_at > now + timedelta(seconds=1):
            return Step("early", msg.planned_at), None
        kill, policy, number, load, ctx = await policy_inputs(session, msg, instance, now)
        decision = decide(now, global_kill=kill, policy=policy, number=number, tenant=load, ctx=ctx)
        if decision.action == "defer":
            await _record(session, msg, decision)
            at = decision.until or now + timedelta(minutes=5)
            msg.planned_at = at
            await engine.message_deferred(session, msg, decision)
            return Step(f"deferred:{decision.reason}", at), None
        if decision.action == "deny":
            await _record(session, msg, decision)
            msg.status = "cancelled"
            msg.last_error = f"denied: {decision.reason}"
            await engine.message_denied(session, msg, decision, now, rng)
            return Step(f"denied:{decision.reason}"), None
        msg.status = "sending"
        msg.claimed_at = now
        msg.attempts += 1
        await engine.message_sending(session, msg, now)
        session.expunge(msg)
        return None, msg


async def _reconcile(
    session: AsyncSession,
    msg: OutgoingMessage,
    instance: Instance,
    now: datetime,
    rng: random.Random,
) -> Step:
    """A send was claimed but its outcome never recorded (worker died, or the gateway timed
    out): trust only the gateway's own record of it; never send a second copy."""
    to_jids = [f"{msg.to_number}@s.whatsapp.net"]
    since = (msg.claimed_at or msg.created_at) - timedelta(seconds=5)
    record = await OutgoingRepository(session).find_sent_record(
        instance.id, to_jids, msg.text, since
    )
    if record is not None:
        await _mark_sent(session, msg, record.provider_message_id, now, rng)
        return Step("confirmed-from-webhook")
    if msg.claimed_at is not None and now - msg.claimed_at > CONFIRM_GRACE:
        msg.status = "unknown"
        msg.last_error = "outcome unknown: no record of the send arrived; not re-sent"
        await engine.message_failed(session, msg, "send outcome unknown", now, rng)
        return Step("unknown")
    return Step("awaiting-confirmation", now + RECHECK_AFTER)


async def _mark_sent(
    session: AsyncSession, msg: OutgoingMessage, provider_id: str, now: datetime, rng: random.Random
) -> None:
    msg.status = "sent"
    msg.sent_at = now
    msg.provider_message_id = provider_id
    msg.last_error = None
    instance = await session.get(Instance, msg.instance_id, with_for_update=True)
    if instance is not None and instance.consecutive_send_failures:
        instance.consecutive_send_failures = 0
        await instances.reassess(session, instance)
    await engine.after_sent(session, msg, now, rng)


async def send_outgoing(outgoing_id: uuid.UUID, *, rng: random.Random | None = None) -> Step:
    """Run one step of a planned message's life; the job re-runs itself at ``again_at``."""
    rng = rng or random.Random()
    now = utcnow()
    step, msg = await _decide_and_claim(outgoing_id, now, rng)
    if step is not None:
        return step
    assert msg is not None
    async with session_scope() as session:
        instance = await session.get(Instance, msg.instance_id)
        assert instance is not None
        name, token = instance.gateway_name, instances.instance_token(instance)
    try:
        # `delay` makes the gateway show "composing" for the typing time, then send.
        result = await get_gateway().send_text(
            name,
            msg.to_number,
            msg.text,
            delay_ms=int(human_seconds(msg.typing_ms / 1000) * 1000),
            token=token,
        )
    except SendOutcomeUnknown as exc:
        log.warning("send.outcome_unknown", outgoing_id=str(outgoing_id), error=str(exc))
        return Step("outcome-unknown", utcnow() + RECHECK_AFTER)
    except (CircuitOpen, GatewayDown) as exc:
        # Provably not sent (refused before reaching the gateway): release and retry later.
        return await _release(outgoing_id, f"{type(exc).__name__}: {exc}", retry=True)
    except (NotConnected, GatewayError) as exc:
        return await _release(outgoing_id, f"{type(exc).__name__}: {exc}", retry=False)
    async with session_scope() as session:
        stored = await OutgoingRepository(session).get(outgoing_id, for_update=True)
        if stored is not None and stored.status == "sending":
            await _mark_sent(session, stored, result.message_id, utcnow(), rng)
    return Step("sent")


async def _release(outgoing_id: uuid.UUID, error: str, *, retry: bool) -> Step:
    rng = random.Random()
    async with session_scope() as session:
        msg = await OutgoingRepository(session).get(outgoing_id, for_update=True)
        if msg is None or msg.status != "sending":
            return Step("moved-on")
        msg.last_error = error[:300]
        instance = await session.get(Instance, msg.instance_id, with_for_update=True)
        if instance is not None:
            instance.consecutive_send_failures += 1
            instance.last_send_failure_at = utcnow()
            await instances.reassess(session, instance)
        if retry and msg.attempts < 5:
            msg.status = "planned"
            msg.planned_at = utcnow() + timedelta(seconds=30 * msg.attempts)
            return Step("retry", msg.planned_at)
        msg.status = "failed"
        await engine.message_failed(session, msg, error, utcnow(), rng)
        return Step("failed")


__all__ = ["Step", "send_outgoing"]
