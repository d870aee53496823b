"""Authenticate a gateway call, then persist it: raw event plus its normalized facts.

Hot path (messages, receipts): the instance's identity comes from a short-lived cache filled
by an RLS-bound read, and the raw event and its fact are written in one statement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.instances.repository import InstanceRepository
from mirage.kit import correlation
from mirage.kit.errors import Unauthorized, ValidationFailed
from mirage.webhooks import normalize as n
from mirage.webhooks.repository import (
    WebhookRepository,
    ingest_message_pipelined,
    message_params,
)

JWT_LEEWAY_S = 30
IDENTITY_TTL_S = 30.0


class WebhookUnauthorized(Unauthorized):
    title = "Webhook not authenticated"
    type_slug = "webhook-unauthorized"


@dataclass(frozen=True)
class WebhookIdentity:
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    gateway_name: str
    secret: str


_identities: dict[tuple[uuid.UUID, uuid.UUID], tuple[WebhookIdentity, float]] = {}


def forget_identity(tenant_id: uuid.UUID, instance_id: uuid.UUID) -> None:
    _identities.pop((tenant_id, instance_id), None)


async def identify(tenant_id: uuid.UUID, instance_id: uuid.UUID) -> WebhookIdentity | None:
    """The instance behind a webhook URL, read under the *claimed* tenant's RLS context: a
    tenant header that does not own the instance finds nothing."""
    key = (tenant_id, instance_id)
    hit = _identities.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    with tenant_context(tenant_id):
        async with get_database().sessions() as session, session.begin():
            instance = await InstanceRepository(session).get(instance_id)
            if instance is None:
                _identities.pop(key, None)
                return None
            identity = WebhookIdentity(
                tenant_id, instance_id, instance.gateway_name, instances.webhook_secret(instance)
            )
    if len(_identities) > 50_000:
        _identities.clear()  # bounded memory; entries refill on demand
    _identities[key] = (identity, now + IDENTITY_TTL_S)
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
        if not hmac.compare_digest(expected, hmac_header.strip().lower()):
            raise WebhookUnauthorized("body signature does not match")


# Evolution signs each call, but within one second the same claims give the same token: a
# token already verified with this instance's secret is accepted until its own expiry.
_verified: dict[tuple[uuid.UUID, str], float] = {}


def _decode(identity: WebhookIdentity, bearer: str) -> dict[str, object]:
    try:
        claims = jwt.decode(
            bearer,
            identity.secret,
            algorithms=["HS256"],
            leeway=JWT_LEEWAY_S,
            options={"require": ["exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise WebhookUnauthorized(f"invalid webhook token: {type(exc).__name__}") from exc
    exp = claims.get("exp")
    if isinstance(exp, int | float) and claims.get("action", "webhook") == "webhook":
        if len(_verified) > 10_000:
            _verified.clear()  # bounded; entries refill on demand
        _verified[(identity.instance_id, bearer)] = float(exp)
    return dict(claims)


def parse(identity: WebhookIdentity, body: bytes, suffix: str | None) -> tuple[str, list[object]]:
    """Validate everything before any write: a malformed event stores nothing."""
    try:
        env = n.parse_envelope(body)
        if suffix is not None and n.canonical_event(suffix) != env.event:
            raise n.InvalidPayload("the URL's event suffix does not match the body's event")
        if env.instance != identity.gateway_name:
            raise n.InvalidPayload("the body names another instance")
        facts: list[object] = []
        if env.event in (n.MESSAGES_UPSERT, n.SEND_MESSAGE):
            facts = [n.parse_message(env.data)]
        elif env.event == n.MESSAGES_UPDATE:
            facts = list(n.parse_status_updates(env.data))
        elif env.event == n.CONNECTION_UPDATE:
            update = n.parse_connection(env.data)
            facts = [dataclasses.replace(update, event_at=n.event_time(env.date_time))]
        elif env.event == n.QRCODE_UPDATED:
            facts = [n.parse_qr(env.data)]
    except n.InvalidPayload as exc:
        raise ValidationFailed(str(exc)) from exc
    return env.event, facts


async def store(identity: WebhookIdentity, event: str, facts: list[object], body: bytes) -> None:
    """One transaction under the instance's tenant: the raw event and what it tells us."""
    raw = (event, correlation.current(), body.decode("utf-8"))
    if len(facts) == 1 and isinstance(facts[0], n.NormalizedMessage | n.StatusUpdate):
        # The common case (a message or a receipt): one pipelined round trip.
        fact = facts[0]
        params = _message_params(identity, fact)
        params.update(event=raw[0], cid=raw[1], payload=raw[2])
        inbound = isinstance(fact, n.NormalizedMessage) and not fact.from_me
        jids = [j for j in (fact.remote_jid, getattr(fact, "remote_jid_alt", None)) if j]
        async with get_database().app_engine.connect() as conn:
            round_id = await ingest_message_pipelined(
                conn, params, reply_jids=jids if inbound else None
            )
        if round_id is not None and isinstance(fact, n.NormalizedMessage):
            await _wake_round(identity, round_id, fact)
        return
    with tenant_context(identity.tenant_id):
        async with get_database().sessions() as session, session.begin():
            repo = WebhookRepository(session)
            pending_raw: tuple[str, str | None, str] | None = raw
            for item in facts:
                if isinstance(item, n.NormalizedMessage | n.StatusUpdate):
                    await _store_message(repo, identity, item, pending_raw)
                    pending_raw = None  # written together with the first fact
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


async def _wake_round(
    identity: WebhookIdentity, round_id: uuid.UUID, fact: n.NormalizedMessage
) -> None:
    """The reply a round was waiting for arrived: its next turn is planned by a job."""
    from mirage.conversations import tasks
    from mirage.kit import jobs

    with tenant_context(identity.tenant_id):
        async with get_database().sessions() as session, session.begin():
            await jobs.defer(
                session,
                tasks.on_inbound,
                round_id=str(round_id),
                instance_id=str(identity.instance_id),
                text=fact.text,
            )


def _message_params(
    identity: WebhookIdentity, fact: n.NormalizedMessage | n.StatusUpdate
) -> dict[str, object]:
    if isinstance(fact, n.NormalizedMessage):
        return message_params(
            tenant_id=identity.tenant_id,
            instance_id=identity.instance_id,
            provider_message_id=fact.provider_message_id,
            from_me=fact.from_me,
            remote_jid=fact.remote_jid,
            status=fact.status,
            remote_jid_alt=fact.remote_jid_alt,
            participant=fact.participant,
            push_name=fact.push_name,
            message_type=fact.message_type,
            text_=fact.text,
            source=fact.source,
            provider_timestamp=fact.provider_timestamp,
        )
    return message_params(
        tenant_id=identity.tenant_id,
        instance_id=identity.instance_id,
        provider_message_id=fact.provider_message_id,
        from_me=fact.from_me,
        remote_jid=fact.remote_jid,
        status=fact.status,
    )


async def _store_message(
    repo: WebhookRepository,
    identity: WebhookIdentity,
    fact: n.NormalizedMessage | n.StatusUpdate,
    raw: tuple[str, str | None, str] | None,
) -> None:
    if isinstance(fact, n.NormalizedMessage):
        await repo.upsert_message(
            raw_event=raw,
            tenant_id=identity.tenant_id,
            instance_id=identity.instance_id,
            provider_message_id=fact.provider_message_id,
            from_me=fact.from_me,
            remote_jid=fact.remote_jid,
            status=fact.status,
            remote_jid_alt=fact.remote_jid_alt,
            participant=fact.participant,
            push_name=fact.push_name,
            message_type=fact.message_type,
            text_=fact.text,
            source=fact.source,
            provider_timestamp=fact.provider_timestamp,
        )
    else:
        await repo.upsert_message(
            raw_event=raw,
            tenant_id=identity.tenant_id,
            instance_id=identity.instance_id,
            provider_message_id=fact.provider_message_id,
            from_me=fact.from_me,
            remote_jid=fact.remote_jid,
            status=fact.status,
        )


async def _apply_instance_fact(
    session: AsyncSession, identity: WebhookIdentity, fact: object
) -> None:
    instance = await InstanceRepository(session).get(identity.instance_id, for_update=True)
    if instance is None:
        raise WebhookUnauthorized("unknown instance")
    if isinstance(fact, n.ConnectionUpdate):
        await instances.apply_connection(session, instance, fact)
        # Updates arrive unordered and sometimes not at all: confirm with the gateway soon.
        await instances.schedule_confirmation(session, instance)
    elif isinstance(fact, n.QrUpdate):
        await instances.apply_qr(session, instance, limit_reached=fact.limit_reached)
