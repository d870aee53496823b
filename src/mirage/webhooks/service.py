"""Authenticate a gateway call, then persist it: raw event plus its normalized facts."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.instances import service as instances
from mirage.instances.repository import InstanceRepository
from mirage.kit import correlation
from mirage.kit.errors import Unauthorized, ValidationFailed
from mirage.models import Instance
from mirage.webhooks import normalize as n
from mirage.webhooks.repository import WebhookRepository

JWT_LEEWAY_S = 30


class WebhookUnauthorized(Unauthorized):
    title = "Webhook not authenticated"
    type_slug = "webhook-unauthorized"


async def authenticate(
    session: AsyncSession,
    instance_id: uuid.UUID,
    *,
    bearer: str | None,
    body: bytes,
    hmac_header: str | None,
    hmac_algorithm: str | None,
) -> Instance:
    """The instance, if and only if the call is signed with *its* secret and still fresh."""
    instance = await InstanceRepository(session).get(instance_id)
    if instance is None or not bearer:
        raise WebhookUnauthorized("unknown instance or missing bearer token")
    secret = instances.webhook_secret(instance)
    try:
        claims = jwt.decode(
            bearer,
            secret,
            algorithms=["HS256"],
            leeway=JWT_LEEWAY_S,
            options={"require": ["exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise WebhookUnauthorized(f"invalid webhook token: {type(exc).__name__}") from exc
    if claims.get("action", "webhook") != "webhook":
        raise WebhookUnauthorized("the token was not issued for webhooks")
    if hmac_header is not None:
        # Providers that sign bodies (WAHA-style X-Webhook-Hmac) must sign this exact body.
        algo = (hmac_algorithm or "sha512").lower()
        if algo not in ("sha512", "sha256"):
            raise WebhookUnauthorized("unsupported HMAC algorithm")
        expected = hmac.new(secret.encode(), body, getattr(hashlib, algo)).hexdigest()
        if not hmac.compare_digest(expected, hmac_header.strip().lower()):
            raise WebhookUnauthorized("body signature does not match")
    return instance


async def ingest(
    session: AsyncSession, instance: Instance, body: bytes, *, suffix: str | None = None
) -> str:
    """Validate everything first, then write: a malformed event stores nothing."""
    try:
        env = n.parse_envelope(body)
        if suffix is not None and n.canonical_event(suffix) != env.event:
            raise n.InvalidPayload("the URL's event suffix does not match the body's event")
        if env.instance != instance.gateway_name:
            raise n.InvalidPayload("the body names another instance")
        facts: list[object] = []
        if env.event in (n.MESSAGES_UPSERT, n.SEND_MESSAGE):
            facts = [n.parse_message(env.data)]
        elif env.event == n.MESSAGES_UPDATE:
            facts = list(n.parse_status_updates(env.data))
        elif env.event == n.CONNECTION_UPDATE:
            facts = [n.parse_connection(env.data)]
        elif env.event == n.QRCODE_UPDATED:
            facts = [n.parse_qr(env.data)]
    except n.InvalidPayload as exc:
        raise ValidationFailed(str(exc)) from exc

    repo = WebhookRepository(session)
    await repo.insert_event(
        tenant_id=instance.tenant_id,
        instance_id=instance.id,
        event=env.event,
        cid=correlation.current(),
        payload=body.decode("utf-8"),
    )
    for fact in facts:
        if isinstance(fact, n.NormalizedMessage):
            await repo.upsert_message(
                tenant_id=instance.tenant_id,
                instance_id=instance.id,
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
        elif isinstance(fact, n.StatusUpdate):
            await repo.upsert_message(
                tenant_id=instance.tenant_id,
                instance_id=instance.id,
                provider_message_id=fact.provider_message_id,
                from_me=fact.from_me,
                remote_jid=fact.remote_jid,
                status=fact.status,
            )
        elif isinstance(fact, n.ConnectionUpdate):
            await instances.apply_connection(session, instance, fact)
        elif isinstance(fact, n.QrUpdate):
            await instances.apply_qr(session, instance, limit_reached=fact.limit_reached)
    return env.event
