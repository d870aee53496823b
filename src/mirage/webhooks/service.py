"""Authenticate a gateway call, then persist it: raw event plus its normalized facts.

Hot path (messages, receipts): the instance's identity comes from a short-lived cache filled
by an RLS-bound read, and the raw event and its fact are written in one statement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import time
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, object_session

from mirage.config import get_settings
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.kit import correlation, jobs
from mirage.kit.cache import Cache
from mirage.kit.errors import Unauthorized, ValidationFailed
from mirage.kit.logging import get_logger
from mirage.models import Instance
from mirage.outreach import inbound as inbound_optout
from mirage.outreach import service as outreach
from mirage.safety import service as safety
from mirage.safety.score import SignalKind
from mirage.webhooks import normalize as n
from mirage.webhooks.repository import (
    AwaitedReply,
    WebhookRepository,
    ingest_message_pipelined,
    message_params,
)

log = get_logger(__name__)

# An identity stays cached until its instance's secret or name, or the tenant's opt-out
# keywords, change (kit.cache drops it on every process when that commits); the TTL is only
# a safety net.
IDENTITY_TTL_S = 600.0
# Unknown (tenant, instance) pairs are remembered briefly so that a flood of them costs no
# transaction each; an instance created in this process clears its entry on commit.
NEGATIVE_TTL_S = 10.0
NEGATIVE_MAX = 10_000


class WebhookUnauthorized(Unauthorized):
    title = "Webhook not authenticated"
    type_slug = "webhook-unauthorized"


@dataclass(frozen=True)
class WebhookIdentity:
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    gateway_name: str
    secret: str
    #: The tenant's own opt-out keywords (its outreach policies'), cached with the identity
    #: so the inbound screen costs no query; a policy change drops the tenant's cached
    #: identities on every process when it commits.
    optout_keywords: tuple[str, ...] = ()


_identities: Cache[WebhookIdentity] = Cache(
    "webhook-identity",
    tables=("instances", "outreach_policies"),
    ttl_s=IDENTITY_TTL_S,
    max_entries=50_000,
)
_unknown: dict[tuple[uuid.UUID, uuid.UUID], float] = {}


def forget_identity(tenant_id: uuid.UUID, instance_id: uuid.UUID) -> None:
    _identities.discard(tenant_id, instance_id)


def forget_unknown(tenant_id: uuid.UUID, instance_id: uuid.UUID) -> None:
    _unknown.pop((tenant_id, instance_id), None)


def _remember_unknown(key: tuple[uuid.UUID, uuid.UUID], now: float) -> None:
    if len(_unknown) >= NEGATIVE_MAX:
        # Bounded: drop what has expired, and if a flood of distinct pairs keeps it full,
        # start over (the cost is one lookup per pair again, never unbounded memory).
        for k in [k for k, until in _unknown.items() if until <= now]:
            del _unknown[k]
        if len(_unknown) >= NEGATIVE_MAX:
            _unknown.clear()
    _unknown[key] = now + NEGATIVE_TTL_S


# An instance's first events can arrive before the transaction that created it commits (the
# gateway instance is created inside it): a negative remembered then must not outlive the
# commit. The new rows' keys are collected on insert and forgotten after commit.
_NEW_INSTANCES = "mirage.webhooks.new_instances"


@sa_event.listens_for(Instance, "after_insert")
def _instance_inserted(mapper: Mapper[Instance], connection: object, target: Instance) -> None:
    forget_unknown(target.tenant_id, target.id)
    session = object_session(target)
    if session is not None:
        session.info.setdefault(_NEW_INSTANCES, []).append((target.tenant_id, target.id))


@sa_event.listens_for(Instance, "after_delete")
def _instance_deleted(mapper: Mapper[Instance], connection: object, target: Instance) -> None:
    # A deleted instance accepts no more events: its cached identity goes at once (the
    # commit drops it again on every process, kit.cache).
    forget_identity(target.tenant_id, target.id)


@sa_event.listens_for(Session, "after_commit")
def _forget_new_instances(session: Session) -> None:
    keys = session.info.pop(_NEW_INSTANCES, None)
    for tenant_id, instance_id in keys or ():
        forget_unknown(tenant_id, instance_id)


async def identify(tenant_id: uuid.UUID, instance_id: uuid.UUID) -> WebhookIdentity | None:
    """The instance behind a webhook URL, read under the *claimed* tenant's RLS context: a
    tenant header that does not own the instance finds nothing."""
    key = (tenant_id, instance_id)
    hit = _identities.get(tenant_id, instance_id)
    if hit is not None:
        return hit
    now = time.monotonic()
    miss = _unknown.get(key)
    if miss is not None and miss > now:
        return None  # known unknown: no transaction for it
    generation = _identities.generation
    with tenant_context(tenant_id):
        async with get_database().sessions() as session, session.begin():
            instance = await instances.find(session, instance_id)
            if instance is None:
                _identities.discard(tenant_id, instance_id)
                _remember_unknown(key, now)
                return None
            identity = WebhookIdentity(
                tenant_id,
                instance_id,
                instance.gateway_name,
                instances.webhook_secret(instance),
                await outreach.tenant_optout_keywords(session),
            )
    _identities.put(tenant_id, instance_id, identity, generation)
    return identity


def verify(
    identity: WebhookIdentity,
    *,
    bearer: str | None,
    body: bytes,
    hmac_header: str | None,
    hmac_algorithm: str | None,
) -> None:
    """Accept only a fresh HS256 JWT signed with this instance's secret (and, when the
    provider signs bodies, a matching HMAC of this exact body)."""
    if not bearer:
        raise WebhookUnauthorized("missing bearer token")
    cached = _verified.get((identity.instance_id, bearer))
    if cached is not None and cached > time.time():
        claims: dict[str, object] = {"action": "webhook"}
    else:
        claims = _decode(identity, bearer)
    if claims.get("action", "webhook") != "webhook":
        raise WebhookUnauthorized("the token was not issued for webhooks")
    if hmac_header is not None:
        algo = (hmac_algorithm or "sha512").lower()
        if algo not in ("sha512", "sha256"):
            raise WebhookUnauthorized("unsupported HMAC algorithm")
        expected = hmac.new(identity.secret.encode(), body, getattr(hashlib, algo)).hexdigest()
        # Bytes: compare_digest refuses non-ASCII str (a hostile header would be a 500).
        given = hmac_header.strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise WebhookUnauthorized("body signature does not match")


# Evolution signs each call, but within one second the same claims give the same token: a
# token already verified with this instance's secret is accepted until its own expiry.
_verified: dict[tuple[uuid.UUID, str], float] = {}


def _decode(identity: WebhookIdentity, bearer: str) -> dict[str, object]:
    """HS256 only, ``iat`` and ``exp`` required, and:

    - expiry is judged by our clock with no grace: Evolution signs for 10 minutes, so a few
      seconds of clock skew never make a fresh token look expired, while any grace on ``exp``
      lengthens a leaked token's life;
    - a token issued up to ``webhook_jwt_leeway_s`` in our future (a gateway clock slightly
      ahead) is accepted, not one further ahead;
    - a token may not claim to live longer than ``webhook_jwt_max_lifetime_s``
      (``exp - iat``), whatever its issuer chose.
    """
    settings = get_settings()
    try:
        claims = jwt.decode(
            bearer,
            identity.secret,
            algorithms=["HS256"],
            leeway=0,
            # iat is checked below, with the clock-skew allowance only it needs.
            options={"require": ["exp", "iat"], "verify_iat": False},
        )
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise WebhookUnauthorized(f"invalid webhook token: {type(exc).__name__}") from exc
    exp, iat = claims.get("exp"), claims.get("iat")
    if (
        isinstance(exp, bool)
        or isinstance(iat, bool)
        or not isinstance(exp, int | float)
        or not isinstance(iat, int | float)
        # NaN compares false with everything: it would slip past both checks below.
        or not math.isfinite(exp)
        or not math.isfinite(iat)
    ):
        raise WebhookUnauthorized("invalid webhook token: exp and iat must be finite numbers")
    if iat > time.time() + settings.webhook_jwt_leeway_s:
        raise WebhookUnauthorized("invalid webhook token: issued in the future")
    if exp - iat > settings.webhook_jwt_max_lifetime_s:
        raise WebhookUnauthorized("invalid webhook token: lifetime over the allowed maximum")
    if claims.get("action", "webhook") == "webhook":
        if len(_verified) > 10_000:
            _verified.clear()  # bounded; entries refill on demand
        _verified[(identity.instance_id, bearer)] = float(exp)
    return dict(claims)


def parse(
    identity: WebhookIdentity, body: bytes, suffix: str | None
) -> tuple[str, list[object], str]:
    """Validate everything before any write: a malformed event stores nothing."""
    try:
        env = n.parse_envelope(body)
        if suffix is not None and n.canonical_event(suffix) != env.event:
            raise n.InvalidPayload("the URL's event suffix does not match the body's event")
        if env.instance != identity.gateway_name:
            raise n.InvalidPayload("the body names another instance")
        facts: list[object] = []
        if env.event in (n.MESSAGES_UPSERT, n.SEND_MESSAGE):
            edit = n.upsert_edit(env.data)
            facts = [edit if edit is not None else n.parse_message(env.data)]
        elif env.event in (n.MESSAGES_EDITED, n.SEND_MESSAGE_UPDATE):
            edit = n.parse_edit(env.data)
            facts = [edit] if edit is not None else []
        elif env.event == n.MESSAGES_UPDATE:
            facts = list(n.parse_status_updates(env.data))
        elif env.event == n.CONNECTION_UPDATE:
            update = n.parse_connection(env.data)
            facts = [dataclasses.replace(update, event_at=n.event_time(env.date_time))]
        elif env.event == n.QRCODE_UPDATED:
            facts = [n.parse_qr(env.data)]
    except n.InvalidPayload as exc:
        raise ValidationFailed(str(exc)) from exc
    return env.event, facts, n.stored_payload(env, body)


async def store(identity: WebhookIdentity, event: str, facts: list[object], payload: str) -> None:
    """One transaction under the instance's tenant: the raw event (``payload``, its secrets
    already redacted) and what it tells us."""
    raw = (event, correlation.current(), payload)
    if len(facts) == 1 and isinstance(facts[0], n.NormalizedMessage | n.StatusUpdate):
        # The common case (a message or a receipt): one pipelined round trip.
        fact = facts[0]
        params = message_params(identity.tenant_id, identity.instance_id, fact)
        params.update(event=raw[0], cid=raw[1], payload=raw[2])
        inbound = isinstance(fact, n.NormalizedMessage) and not fact.from_me
        jids = [j for j in (fact.remote_jid, getattr(fact, "remote_jid_alt", None)) if j]
        # An opt-out (or opt-in) must act: screened in Python first (no query), so only the
        # rare message the detector flags leaves the one-statement path.
        screened = (
            inbound_optout.screen(fact.text, jids, identity.optout_keywords)
            if isinstance(fact, n.NormalizedMessage) and inbound
            else None
        )
        if screened is not None:
            awaited = await _store_and_act(identity, params, jids, screened)
        else:
            with tenant_context(identity.tenant_id):
                awaited = await ingest_message_pipelined(
                    params, reply_jids=jids if inbound else None
                )
        if awaited is not None:
            await _wake_round(identity, awaited.round_id, awaited.message_id)
        return
    with tenant_context(identity.tenant_id):
        async with get_database().sessions() as session, session.begin():
            repo = WebhookRepository(session)
            pending_raw: tuple[str, str | None, str] | None = raw
            for item in facts:
                if isinstance(item, n.NormalizedMessage | n.StatusUpdate):
                    params = message_params(identity.tenant_id, identity.instance_id, item)
                    await repo.upsert_message(params, raw_event=pending_raw)
                    pending_raw = None  # written together with the first fact
                elif isinstance(item, n.MessageEdit):
                    await repo.apply_edit(identity.tenant_id, identity.instance_id, item)
                else:
                    await _apply_instance_fact(session, identity, item)
            if pending_raw is not None:
                await repo.insert_event(
                    tenant_id=identity.tenant_id,
                    instance_id=identity.instance_id,
                    event=event,
                    cid=raw[1],
                    payload=raw[2],
                )


async def _store_and_act(
    identity: WebhookIdentity,
    params: dict[str, object],
    jids: list[str],
    screened: inbound_optout.Screened,
) -> AwaitedReply | None:
    """A message the opt-out screen flagged: stored by the same statement, and its effect
    (suppression, review, opt-in) written in the same transaction — both or neither. Only a
    first delivery acts (a redelivered message was acted on when it was stored)."""
    with tenant_context(identity.tenant_id):
        async with get_database().sessions() as session, session.begin():
            stored = await WebhookRepository(session).ingest_message(params, reply_jids=jids)
            if stored.inserted:
                outcome = await inbound_optout.act(
                    session,
                    tenant_id=identity.tenant_id,
                    instance_id=identity.instance_id,
                    message_id=stored.message_id,
                    screened=screened,
                )
                log.info(
                    "inbound_optout",
                    action=outcome.action.value,
                    tier=outcome.verdict.tier.value,
                    rule=outcome.verdict.rule,
                    message_id=str(stored.message_id),
                    confirmation_owed=outcome.confirmation_owed,
                    confirmation_id=str(outcome.confirmation_id or ""),
                )
                if outcome.action is inbound_optout.Action.OPTED_OUT:
                    # The opt-out weighs on the number it answered (its risk score).
                    instance = await session.get(Instance, identity.instance_id)
                    if instance is not None:
                        await safety.record(
                            session,
                            instance,
                            SignalKind.OPT_OUT,
                            detail=outcome.verdict.rule,
                        )
    return stored.awaited


async def _wake_round(
    identity: WebhookIdentity, round_id: uuid.UUID, message_id: uuid.UUID
) -> None:
    """The reply a round was waiting for arrived: its next turn is planned by a job. The job
    carries ids only (the queue is not tenant-isolated): it reads the text under RLS."""
    with tenant_context(identity.tenant_id):
        async with get_database().sessions() as session, session.begin():
            await jobs.defer(
                session,
                "conversations.on_inbound",  # by name: no import of another domain's jobs
                round_id=str(round_id),
                instance_id=str(identity.instance_id),
                message_id=str(message_id),
            )


async def _apply_instance_fact(
    session: AsyncSession, identity: WebhookIdentity, fact: object
) -> None:
    instance = await instances.find(session, identity.instance_id, for_update=True)
    if instance is None:
        raise WebhookUnauthorized("unknown instance")
    if isinstance(fact, n.ConnectionUpdate):
        await instances.apply_connection(session, instance, fact)
        # Updates arrive unordered and sometimes not at all: confirm with the gateway soon.
        await instances.schedule_confirmation(session, instance)
    elif isinstance(fact, n.QrUpdate):
        await instances.apply_qr(session, instance, limit_reached=fact.limit_reached)
