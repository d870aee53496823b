"""Numbers: create on the gateway with a signed webhook, pair, act, and keep state and health."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.config import get_settings
from mirage.db.engine import release, session_scope
from mirage.db.tenancy import current_tenant_id
from mirage.instances import gateway, health
from mirage.instances.gateway import get_gateway
from mirage.instances.repository import FleetGroup as FleetGroup  # the overview's type
from mirage.instances.repository import InstanceRepository
from mirage.kit import crypto, jobs, live
from mirage.kit.cache import Cache
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from mirage.kit.i18n import N_
from mirage.kit.logging import get_logger
from mirage.models import Instance
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.policy import WARMUP_RAMP, Health
from mirage.providers import (
    ConnectionState,
    ConnectResult,
    GatewayError,
    InstanceNotFound,
    NotConnected,
    WebhookSpec,
)
from mirage.providers.models import ConnectionUpdate, phone_from_jid
from mirage.safety import service as safety
from mirage.safety.recovery import LADDER, Rung
from mirage.safety.score import SignalKind

log = get_logger(__name__)
TENANT_HEADER = "X-Mirage-Tenant"


@dataclass(frozen=True)
class NumberUsage:
    """What the Numbers page and the API show of a number's sending now: its live risk, the
    warm-up stage it earned, and today's and the hour's sends against the caps the policy
    engine applies to it (the band and health tighten them). Read by the messaging domain
    (``provide_usage``, wired by the app): the caps and their counts are its own."""

    risk_score: int
    risk_band: str
    #: The warm-up stage earned by health (0 … the ramp's steps − 1); None: never connected.
    stage: int | None
    sent_today: int
    sent_last_hour: int
    daily_cap: int
    hourly_cap: int
    #: The caps are halved (degraded health or a yellow, orange or red band).
    tightened: bool


UsageReader = Callable[[AsyncSession, Sequence[Instance]], Awaitable[dict[uuid.UUID, NumberUsage]]]
_usage_reader: UsageReader | None = None


def provide_usage(reader: UsageReader) -> None:
    """Set who reads the numbers' usage (messaging.service.usage; the app wires it)."""
    global _usage_reader
    _usage_reader = reader


async def usage(
    session: AsyncSession, instances: Sequence[Instance]
) -> dict[uuid.UUID, NumberUsage]:
    """``NumberUsage`` of a page of numbers, in a few statements whatever its size (empty
    when no reader was wired: the pages then show the last risk computed)."""
    if _usage_reader is None or not instances:
        return {}
    return await _usage_reader(session, instances)


def _key() -> str:
    return get_settings().resolved_secret_key()


def webhook_secret(instance: Instance) -> str:
    return crypto.decrypt(_key(), instance.webhook_secret_enc)


def instance_token(instance: Instance) -> str:
    return crypto.decrypt(_key(), instance.token_enc)


def webhook_url(instance_id: uuid.UUID) -> str:
    return f"{get_settings().public_url}/webhooks/evolution/{instance_id}"


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    instance_id: uuid.UUID,
    **details: Any,
) -> None:
    """An operator's action on a number, in the audit log (``instance.<action>``)."""
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action=f"instance.{action}",
        target_type="instance",
        target_id=instance_id,
        **details,
    )


def _gateway_failure(exc: GatewayError) -> ServiceUnavailable:
    return ServiceUnavailable(f"the WhatsApp gateway failed: {exc}")


async def list_instances(session: AsyncSession, principal: Principal) -> list[Instance]:
    require(principal, "read")
    return list(await InstanceRepository(session).list())


async def fleet(
    session: AsyncSession, principal: Principal, *, zone: str, today: date
) -> list[FleetGroup]:
    """The tenant's numbers counted by state, health, pause, pairing and warm-up step (one
    statement, whatever the fleet's size): see ``InstanceRepository.fleet``."""
    require(principal, "read")
    steps = [first for first, _per_day in WARMUP_RAMP]
    return list(await InstanceRepository(session).fleet(zone=zone, today=today, steps=steps))


async def needing_attention(
    session: AsyncSession, principal: Principal, limit: int
) -> list[Instance]:
    """Up to ``limit`` numbers, those needing an operator first (one statement)."""
    require(principal, "read")
    return list(await InstanceRepository(session).needing_attention(limit))


async def find(
    session: AsyncSession, instance_id: uuid.UUID, *, for_update: bool = False
) -> Instance | None:
    """The instance with this id under the session's tenant context (RLS), or None. For system
    callers (webhooks, jobs) that act for the tenant rather than for a signed-in principal."""
    return await InstanceRepository(session).get(instance_id, for_update=for_update)


# The numbers' status as the send decisions read it (each send reads its number): every
# committed change of an instance (but its event and reconciliation times) empties the entry
# on every process (kit.cache, migration 0021).
_status: Cache[dict[str, Any]] = Cache("instance-status", tables=("instances",))


async def status(session: AsyncSession, instance_id: uuid.UUID) -> Instance | None:
    """The instance as it stands, for reading only: a copy attached to no session (changing
    it writes nothing; lock the row with ``find(..., for_update=True)`` to write). Cached per
    process under the current tenant; None when there is no such instance."""
    tenant_id = current_tenant_id()

    async def load() -> dict[str, Any] | None:
        instance = await find(session, instance_id)
        if instance is None:
            return None
        return {a.key: getattr(instance, a.key) for a in inspect(Instance).column_attrs}

    if tenant_id is None:
        values = await load()  # no tenant to key it by: not cached
    else:
        hit = _status.get(tenant_id, instance_id)
        if hit is None:
            generation = _status.generation
            values = await load()
            if values is not None:
                _status.put(tenant_id, instance_id, values, generation)
        else:
            values = hit
    return None if values is None else Instance(**values)


async def is_own_account(session: AsyncSession, digits: Sequence[str]) -> bool:
    """Whether the WhatsApp account with these digits (a JID's user part, a number without
    its +) is one of the tenant's own numbers: a message from it is the fleet talking to
    itself (warm-up), never a contact's request. For system callers (the webhook path)."""
    return await InstanceRepository(session).owns_account(digits)


async def get_instance(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID
) -> Instance:
    require(principal, "read")
    instance = await InstanceRepository(session).get(instance_id)
    if instance is None:
        raise NotFound("number not found")
    return instance


async def create_instance(
    session: AsyncSession, principal: Principal, *, display_name: str
) -> Instance:
    """Create the gateway instance with its webhook (URL, tenant header, JWT key), then the
    row. The gateway is asked holding no transaction (``db.engine.release``); if it refuses,
    nothing is stored, and if the row then cannot be stored (a concurrent twin), the gateway
    instance is removed again."""
    require(principal, "admin", role=Role.ADMIN)
    display_name = " ".join(display_name.split())
    if not display_name or len(display_name) > 80:
        raise ValidationFailed("the name must have 1 to 80 characters", field="display_name")
    repo = InstanceRepository(session)
    if await repo.by_display_name(display_name):
        raise Conflict("a number with this name already exists", field="display_name")
    instance_id = uuid.uuid4()
    token, secret = crypto.random_token(24), crypto.random_token(32)
    instance = Instance(
        id=instance_id,
        tenant_id=principal.tenant_id,
        display_name=display_name,
        gateway_name=f"mirage-{instance_id.hex[:20]}",
        token_enc=crypto.encrypt(_key(), token),
        webhook_secret_enc=crypto.encrypt(_key(), secret),
        state=ConnectionState.CLOSE,
        needs_pairing=True,
    )
    await release(session)
    await _create_on_gateway(instance)
    instance.provisioned = True
    try:
        async with session.begin_nested():
            await repo.add(instance)
    except IntegrityError:
        await _forget_on_gateway(instance)
        raise Conflict("a number with this name already exists", field="display_name") from None
    await _audit(session, principal, "create", instance_id, name=display_name)
    # Live pages count it at once (the Numbers tabs, the overview).
    await live.notify(session, principal.tenant_id, "instance", instance_id)
    return instance


async def provision(session: AsyncSession, instance: Instance) -> None:
    """(Re-)create a stored instance on the gateway with its webhook (idempotent: a retry, or a
    gateway that lost its state, gets the same name, token and webhook secret). For the demo's
    set-up, which owns its session; a request goes through ``create_instance``."""
    created = await _create_on_gateway(instance)
    instance.provisioned = True
    if not created:
        instance.state = ConnectionState.CLOSE
        instance.state_changed_at = utcnow()
    await session.flush()


async def _create_on_gateway(instance: Instance) -> bool:
    """Create ``instance`` on the gateway; True when it already existed there (reconciled)."""
    spec = WebhookSpec(
        url=webhook_url(instance.id),
        headers={TENANT_HEADER: str(instance.tenant_id)},
        jwt_key=webhook_secret(instance),
    )
    try:
        created = await get_gateway().create_instance(
            instance.gateway_name, webhook=spec, token=instance_token(instance)
        )
    except GatewayError as exc:
        raise _gateway_failure(exc) from exc
    return created.reconciled


async def _forget_on_gateway(instance: Instance) -> None:
    try:
        await get_gateway().delete_instance(instance.gateway_name, token=instance_token(instance))
    except GatewayError as exc:  # left for the operator: logged, the request still says why
        log.warning(
            "instance.orphaned_on_gateway", gateway_name=instance.gateway_name, error=str(exc)
        )


async def _current(session: AsyncSession, instance: Instance) -> Instance:
    """``instance`` as stored now, locked: after a gateway call made holding no transaction,
    webhooks and jobs may have changed (or deleted) it meanwhile."""
    instance_id = instance.id
    session.expire(instance)  # the next read refreshes it
    current = await InstanceRepository(session).get(instance_id, for_update=True)
    if current is None:
        raise NotFound("number not found")
    return current


@dataclass(frozen=True)
class PairingView:
    state: str
    qr_png_data_url: str | None
    pairing_code: str | None
    qr_count: int


def _view(result: ConnectResult) -> PairingView:
    qr = result.qr
    return PairingView(
        state=result.state.value,
        qr_png_data_url=qr.base64 if qr else None,
        pairing_code=qr.pairing_code if qr else None,
        qr_count=qr.count if qr else 0,
    )


async def connect(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID
) -> PairingView:
    """The live QR (the gateway rotates it), or ``open`` once the number is connected."""
    require(principal, "write", role=Role.OPERATOR)
    instance = await get_instance(session, principal, instance_id)
    await release(session)
    try:
        result = await get_gateway().connect(instance.gateway_name, token=instance_token(instance))
    except GatewayError as exc:
        raise _gateway_failure(exc) from exc
    view = _view(result)
    instance = await _current(session, instance)
    if view.state == ConnectionState.OPEN and instance.state != ConnectionState.OPEN:
        # The webhook will say so too; reflect it now so the modal and the list agree.
        await apply_connection(
            session, instance, ConnectionUpdate(ConnectionState.OPEN, 200, None, None)
        )
    elif view.state == ConnectionState.CONNECTING and instance.state == ConnectionState.CLOSE:
        await _set_state(session, instance, ConnectionState.CONNECTING, instance.state_reason)
    return view


async def pairing_code(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID, phone: str
) -> PairingView:
    require(principal, "write", role=Role.OPERATOR)
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not 10 <= len(digits) <= 15:
        raise ValidationFailed(
            "enter the phone number with country and area code, digits only", field="phone"
        )
    instance = await get_instance(session, principal, instance_id)
    await release(session)
    try:
        result = await get_gateway().request_pairing_code(
            instance.gateway_name, digits, token=instance_token(instance)
        )
    except GatewayError as exc:
        raise _gateway_failure(exc) from exc
    # Linking a phone to a number is a sensitive act: recorded (after the gateway call, in the
    # request's next transaction; the digits stay out of the log).
    await _audit(session, principal, "pairing_code", instance_id)
    return _view(result)


async def restart(session: AsyncSession, principal: Principal, instance_id: uuid.UUID) -> None:
    require(principal, "write", role=Role.OPERATOR)
    instance = await get_instance(session, principal, instance_id)
    if instance.state not in (ConnectionState.OPEN, ConnectionState.CONNECTING):
        raise Conflict("the number is not connected: connect it (QR code) instead of restarting")
    await release(session)
    try:
        await get_gateway().restart(instance.gateway_name, token=instance_token(instance))
    except GatewayError as exc:
        raise _gateway_failure(exc) from exc
    await _audit(session, principal, "restart", instance_id)


async def logout(session: AsyncSession, principal: Principal, instance_id: uuid.UUID) -> None:
    require(principal, "admin", role=Role.ADMIN)
    instance = await get_instance(session, principal, instance_id)
    await release(session)
    try:
        await get_gateway().logout(instance.gateway_name, token=instance_token(instance))
    except NotConnected:
        pass  # already logged out: the goal is reached
    except GatewayError as exc:
        raise _gateway_failure(exc) from exc
    instance = await _current(session, instance)
    # Recorded as the operator's action, not as the phone's 401 the gateway reports (which
    # needs_pairing-wise it is the same, but it is no fault: health is not degraded).
    await apply_connection(
        session,
        instance,
        ConnectionUpdate(ConnectionState.CLOSE, health.OPERATOR_LOGOUT, None, None),
    )
    await _audit(session, principal, "logout", instance_id)


async def pause(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID, reason: str | None
) -> Instance:
    """An operator's pause: the policy refuses every send from the number (warm-up and
    campaigns alike) until it is resumed. Its connection is left as it is."""
    require(principal, "write", role=Role.OPERATOR)
    instance = await get_instance(session, principal, instance_id)
    if instance.paused_at is None:
        instance.paused_at = utcnow()
        instance.paused_reason = (reason or "").strip()[:200] or None
        await _audit(session, principal, "pause", instance_id, reason=instance.paused_reason)
        await session.flush()
        await live.notify(session, instance.tenant_id, "instance", instance.id)
    return instance


async def resume(session: AsyncSession, principal: Principal, instance_id: uuid.UUID) -> Instance:
    require(principal, "write", role=Role.OPERATOR)
    instance = await get_instance(session, principal, instance_id)
    if instance.paused_at is not None:
        instance.paused_at = None
        instance.paused_reason = None
        await _audit(session, principal, "resume", instance_id)
        await session.flush()
        await live.notify(session, instance.tenant_id, "instance", instance.id)
    return instance


# Called before a number's row is deleted, in the same transaction (registered at import by
# the domains that hold numbers, e.g. conversations pause the conversations it was in): this
# domain cannot import them (they import it).
DeleteHook = Callable[[AsyncSession, Principal, Instance], Awaitable[None]]
_delete_hooks: list[DeleteHook] = []


def on_delete(hook: DeleteHook) -> None:
    if hook not in _delete_hooks:
        _delete_hooks.append(hook)


async def delete_instance(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID
) -> None:
    require(principal, "admin", role=Role.ADMIN)
    repo = InstanceRepository(session)
    instance = await get_instance(session, principal, instance_id)
    await release(session)
    try:
        await get_gateway().delete_instance(instance.gateway_name, token=instance_token(instance))
    except InstanceNotFound:
        pass  # gone on the gateway already
    except GatewayError as exc:
        raise _gateway_failure(exc) from exc
    try:
        instance = await _current(session, instance)
    except NotFound:
        return  # a concurrent delete finished first: the goal is reached
    for hook in _delete_hooks:
        await hook(session, principal, instance)
    await repo.delete(instance)  # webhooks forget its cached identity (an after_delete hook)
    await _audit(session, principal, "delete", instance_id, name=instance.display_name)
    await live.notify(session, principal.tenant_id, "instance", instance_id, deleted=True)


# --- state from webhooks and reconciliation ---------------------------------------------


async def _set_state(
    session: AsyncSession, instance: Instance, state: str, reason: int | None
) -> None:
    instance.state = state
    instance.state_reason = reason
    instance.state_changed_at = utcnow()
    await reassess(session, instance)


async def apply_connection(
    session: AsyncSession, instance: Instance, update: ConnectionUpdate
) -> None:
    """A CONNECTION_UPDATE (or what reconciliation learned): state, number, pairing, health."""
    now = utcnow()
    if update.event_at is not None:
        last = instance.state_event_at
        # A fresh pairing emits "connecting" and "open" within the same millisecond and they
        # arrive in either order: at equal times "connecting" never undoes "open".
        same_instant_regress = (
            last == update.event_at
            and update.state is ConnectionState.CONNECTING
            and instance.state == ConnectionState.OPEN
        )
        if last is not None and (update.event_at < last or same_instant_regress):
            log.info(
                "instance.stale_connection_update",
                instance_id=str(instance.id),
                state=update.state.value,
            )
            instance.last_event_at = now
            return
        instance.state_event_at = update.event_at
    state = update.state.value
    reason = update.status_reason
    if health.keeps_operator_logout(instance.state, instance.state_reason, reason):
        reason = health.OPERATOR_LOGOUT  # the gateway's word for the operator's own logout
    changed = state != instance.state or reason != instance.state_reason
    was_open = instance.state == ConnectionState.OPEN
    if changed:
        instance.state_changed_at = now
    instance.state = state
    instance.state_reason = reason
    instance.needs_pairing = health.needs_pairing(state, reason, instance.needs_pairing)
    if state == ConnectionState.OPEN:
        instance.qr_count = 0
        # A fresh pairing starts clean: forget failures counted against the old session.
        gateway.reset_breaker(instance.gateway_name)
        if instance.first_connected_at is None:
            instance.first_connected_at = now
    if update.wuid:
        instance.owner_jid = update.wuid
        instance.phone = phone_from_jid(update.wuid) or instance.phone
    if update.profile_name:
        instance.profile_name = update.profile_name
    instance.last_event_at = now
    await reassess(session, instance, force_notify=changed)
    # On the number's timeline: every close with its code, and a silent reconnect (Evolution
    # only says "connecting" again after a non-terminal close, with that close's code; an
    # operator's restart reconnects without one and is no fault).
    closed = state in (ConnectionState.CLOSE, ConnectionState.REFUSED)
    dropped = was_open and state == ConnectionState.CONNECTING and reason not in (None, 200)
    if changed and (closed or dropped):
        await safety.record(
            session, instance, SignalKind.DISCONNECT, code=reason, detail=f"{state}"
        )


async def schedule_confirmation(session: AsyncSession, instance: Instance) -> None:
    """Ask the gateway for the state shortly (one pending check per instance at a time)."""
    try:
        async with session.begin_nested():
            await jobs.defer(
                session,
                "instances.confirm_state",  # by name: tasks import this module
                tenant_id=instance.tenant_id,
                schedule_at=utcnow() + timedelta(seconds=1),
                queueing_lock=f"confirm-state:{instance.id}",
                instance_id=str(instance.id),
            )
    except AlreadyEnqueued:
        pass


async def apply_qr(session: AsyncSession, instance: Instance, *, limit_reached: bool) -> None:
    instance.last_event_at = utcnow()
    if limit_reached:
        instance.needs_pairing = True
        await safety.record(session, instance, SignalKind.QR_LOOP, detail="QR code limit reached")
    else:
        instance.qr_count += 1
        if instance.state == ConnectionState.CLOSE:
            instance.state = ConnectionState.CONNECTING
            instance.state_changed_at = utcnow()
    await reassess(session, instance, force_notify=True)


async def reassess(session: AsyncSession, instance: Instance, *, force_notify: bool = True) -> None:
    repo = InstanceRepository(session)
    sent, delivered = await repo.ack_sample(
        instance.id, since=utcnow() - timedelta(days=1), settle=timedelta(minutes=10)
    )
    verdict = health.assess(
        health.Signals(
            state=instance.state,
            reason_code=instance.state_reason,
            consecutive_send_failures=instance.consecutive_send_failures,
            sent_sample=sent,
            delivered_sample=delivered,
            current=instance.health,
            last_send_failure_at=instance.last_send_failure_at,
            now=utcnow(),
        )
    )
    if verdict.health != instance.health or verdict.reason != instance.health_reason:
        log.info(
            "instance.health",
            instance_id=str(instance.id),
            health=verdict.health,
            reason=verdict.reason,
        )
        instance.health = verdict.health
        instance.health_reason = verdict.reason
        instance.health_changed_at = utcnow()
        force_notify = True
    await session.flush()
    if force_notify:
        await live.notify(session, instance.tenant_id, "instance", instance.id)


@dataclass(frozen=True)
class Snapshot:
    """What asking the gateway about a number needs, read in a short transaction."""

    instance_id: uuid.UUID
    gateway_name: str
    token: str = field(repr=False)
    knows_owner: bool


@dataclass(frozen=True)
class GatewayView:
    """What the gateway says of one number (``state``), or that it does not know it
    (``missing``) or could not be asked (``unreachable``). Asked holding no transaction."""

    outcome: Literal["state", "missing", "unreachable"]
    state: ConnectionState = ConnectionState.UNKNOWN
    owner_jid: str | None = None
    profile_name: str | None = None
    asked_at: datetime = field(default_factory=utcnow)


def snapshot(instance: Instance) -> Snapshot:
    return Snapshot(
        instance.id, instance.gateway_name, instance_token(instance), bool(instance.owner_jid)
    )


async def ask_gateway(snap: Snapshot) -> GatewayView:
    """One number's state from the gateway (network only: call it outside transactions)."""
    try:
        state = await get_gateway().connection_state(snap.gateway_name, token=snap.token)
    except InstanceNotFound:
        return GatewayView("missing")
    except GatewayError as exc:
        log.warning("instance.reconcile_failed", instance_id=str(snap.instance_id), error=str(exc))
        return GatewayView("unreachable")
    if state is ConnectionState.OPEN and not snap.knows_owner:
        # Open but unidentified (the webhook naming the account is late or lost): ask the
        # gateway which account it is, so "open" never stands without its owner.
        wuid, profile = await _owner_of(snap)
        return GatewayView("state", state, wuid, profile)
    return GatewayView("state", state)


async def ask_gateway_all(snaps: Sequence[Snapshot]) -> dict[uuid.UUID, GatewayView]:
    """Every number's state in one gateway call (``fetchInstances``, the deployment's key)
    instead of one call per number; a number the gateway does not list is ``missing``."""
    try:
        rows = await get_gateway().fetch_instances()
    except GatewayError as exc:
        log.warning("instance.reconcile_failed", error=str(exc), numbers=len(snaps))
        return {s.instance_id: GatewayView("unreachable") for s in snaps}
    listed = {r.name: r for r in rows}
    views: dict[uuid.UUID, GatewayView] = {}
    for snap in snaps:
        row = listed.get(snap.gateway_name)
        if row is None:
            views[snap.instance_id] = GatewayView("missing")
        elif row.connection_status is ConnectionState.OPEN and row.owner_jid:
            views[snap.instance_id] = GatewayView(
                "state", row.connection_status, row.owner_jid, row.profile_name
            )
        else:
            views[snap.instance_id] = GatewayView("state", row.connection_status)
    return views


async def apply_view(session: AsyncSession, instance: Instance, view: GatewayView) -> str:
    """Correct our record from the gateway's view (webhooks can be lost). Database only; the
    caller holds the row locked and re-read."""
    if view.outcome == "unreachable":
        return "unreachable"
    if instance.state_changed_at is not None and instance.state_changed_at > view.asked_at:
        # A webhook changed the state after the gateway was asked: it is newer than the view.
        return "newer"
    instance.last_reconciled_at = utcnow()
    if view.outcome == "missing":
        await apply_connection(
            session, instance, ConnectionUpdate(ConnectionState.CLOSE, 401, None, None)
        )
        instance.health_reason = N_("the instance no longer exists on the gateway")
        return "missing"
    state = view.state
    wuid = view.owner_jid if state is ConnectionState.OPEN and not instance.owner_jid else None
    profile = view.profile_name if wuid else None
    if state is ConnectionState.UNKNOWN or (state.value == instance.state and wuid is None):
        await reassess(session, instance, force_notify=False)
        return "same"
    reason = instance.state_reason if state is not ConnectionState.OPEN else 200
    await apply_connection(session, instance, ConnectionUpdate(state, reason, wuid, profile))
    return "corrected"


async def _owner_of(snap: Snapshot) -> tuple[str | None, str | None]:
    try:
        rows = await get_gateway().fetch_instances(name=snap.gateway_name, token=snap.token)
    except GatewayError as exc:
        log.warning(
            "instance.owner_lookup_failed", instance_id=str(snap.instance_id), error=str(exc)
        )
        return None, None
    mine = next((r for r in rows if r.name == snap.gateway_name), None)
    if mine is None or mine.connection_status is not ConnectionState.OPEN:
        return None, None
    return mine.owner_jid or None, mine.profile_name


# --- the recovery ladder (mirage.safety.recovery) -----------------------------------------


@dataclass(frozen=True)
class RecoveryStep:
    """What one look at a number in recovery did, and when to look again (None: done)."""

    outcome: str
    again_at: datetime | None = None


async def recovery_step(instance_id: uuid.UUID, now: datetime) -> RecoveryStep:
    """One rung of a number's recovery ladder: decide (a short transaction), call the
    gateway holding none, record the attempt (another). Recovered — connected, and no send
    failed since the last attempt — ends the ladder; past its last rung the number is marked
    dead (quarantined). Bounded: at most ``LADDER.bound`` gateway calls per ladder."""
    async with session_scope() as session:
        instance = await InstanceRepository(session).get(instance_id, for_update=True)
        if instance is None or instance.recovery_at is None:
            return RecoveryStep("idle")
        if instance.health == Health.QUARANTINED:
            instance.recovery_at = None
            return RecoveryStep("quarantined")
        attempts = instance.recovery_attempts
        last_failure = instance.last_send_failure_at
        # Recovered: the last attempt went through, the number is connected again, and no
        # send failed since that attempt.
        attempted_at = instance.recovery_at - LADDER.wait(attempts)
        if (
            attempts
            and instance.connected
            and (last_failure is None or last_failure < attempted_at)
            and not await safety.last_recovery_failed(session, instance)
        ):
            await safety.note_recovery(session, instance, f"recovered after {attempts}", now)
            instance.recovery_attempts = 0
            instance.recovery_at = None
            return RecoveryStep("recovered")
        rung = LADDER.rung(attempts)
        if rung == Rung.DEAD:
            instance.recovery_at = None
            await safety.mark_dead(session, instance, now)
            return RecoveryStep("dead")
        snap = snapshot(instance)
    error: str | None = None
    try:
        if rung == Rung.RESTART:
            await get_gateway().restart(snap.gateway_name, token=snap.token)
        else:
            await get_gateway().logout(snap.gateway_name, token=snap.token)
    except GatewayError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    async with session_scope() as session:
        instance = await InstanceRepository(session).get(instance_id, for_update=True)
        if instance is None:
            return RecoveryStep("gone")
        instance.recovery_attempts = attempts + 1
        again = now + LADDER.wait(attempts + 1)
        instance.recovery_at = again
        if rung == Rung.REPAIR:
            instance.needs_pairing = True
        detail = rung.value if error is None else f"{rung.value} failed: {error}"
        await safety.note_recovery(session, instance, detail, now)
        await jobs.defer(
            session,
            "instances.recover",
            tenant_id=instance.tenant_id,
            schedule_at=again,
            instance_id=str(instance_id),
        )
        return RecoveryStep(detail, again)
