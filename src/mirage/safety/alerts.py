"""Number-safety alerts: raised when a number enters the orange, red or critical band or is
quarantined, resolved when it comes back; shown in the dashboard and, when the tenant
configured them, sent to its webhook and/or by e-mail.

Raising and resolving happen in the transaction of the fact that caused them (a signal, a
quarantine, a release — `mirage.safety.service`), following `alerting`'s rules: one open
alert per number and kind (a unique index guards it too), the worst band kept. A band that
fades by itself, with no new signal, is noticed by the minute's sweep
(`service.sweep_alerts`).

Each opening and resolution defers one delivery job (`safety.deliver_alert`) in that same
transaction: the job reads what to send in a short transaction, calls the targets holding no
database connection (`delivery`), records each attempt's outcome in another, and is retried
with a growing wait while a target failed (a target that succeeded is not called again).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.config import get_settings
from mirage.db.engine import session_scope
from mirage.kit import crypto, jobs, live
from mirage.kit.clock import utcnow
from mirage.kit.errors import NotFound, ValidationFailed
from mirage.kit.i18n import N_
from mirage.kit.logging import get_logger
from mirage.kit.netguard import UnsafeURL, check_host, check_url
from mirage.models import AlertDelivery, Instance, SafetyAlert, TenantSettings
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.policy import Band
from mirage.safety import delivery, reasons
from mirage.safety.alerting import (
    AlertKind,
    Channel,
    Event,
    Notice,
    Step,
    band_step,
    quarantine_step,
)
from mirage.safety.repository import AlertRepository, SignalRepository

log = get_logger(__name__)

DELIVER_JOB = "safety.deliver_alert"
#: Attempts per target and notification: the first and up to 5 retries, waiting 4 s, 16 s,
#: ~1 min, ~4 min, ~17 min (procrastinate's exponential wait, `mirage.safety.tasks`).
MAX_ATTEMPTS = 6


class DeliveryFailed(Exception):
    """A target failed and will be tried again (the job's retry)."""


# --- raising and resolving (inside the fact's transaction) -------------------------------


async def _open(
    session: AsyncSession,
    instance: Instance,
    kind: AlertKind,
    band: str | None,
    reason: str,
    now: datetime,
) -> SafetyAlert | None:
    alert = SafetyAlert(
        tenant_id=instance.tenant_id,
        instance_id=instance.id,
        kind=kind.value,
        band=band,
        reason=reason[:300],
        opened_at=now,
    )
    try:
        async with session.begin_nested():
            await AlertRepository(session).add(alert)
    except IntegrityError:
        return None  # another transaction opened it first: one open alert per number and kind
    log.warning("safety.alert_opened", instance_id=str(instance.id), kind=kind.value, band=band)
    await _notify(session, instance.tenant_id, alert, Event.OPENED)
    return alert


async def _resolve(session: AsyncSession, alert: SafetyAlert, reason: str, now: datetime) -> None:
    alert.resolved_at = max(now, alert.opened_at)
    alert.resolved_reason = reason[:300]
    await session.flush()
    log.info("safety.alert_resolved", alert_id=str(alert.id), kind=alert.kind)
    await _notify(session, alert.tenant_id, alert, Event.RESOLVED)


async def _notify(
    session: AsyncSession, tenant_id: uuid.UUID, alert: SafetyAlert, event: Event
) -> None:
    """The delivery job, deferred in this transaction (it exists only if the alert does),
    and the live pages told."""
    await jobs.defer(
        session, DELIVER_JOB, tenant_id=tenant_id, alert_id=str(alert.id), event=event.value
    )
    await live.notify(session, tenant_id, "alert", alert.id)


async def on_band(
    session: AsyncSession, instance: Instance, band: Band, reason: str, now: datetime
) -> None:
    """The number's band is ``band`` now (a signal was just scored, or it faded)."""
    repo = AlertRepository(session)
    alert = await repo.open_for(instance.id, AlertKind.RISK_BAND)
    step = band_step(alert.band if alert else None, band)
    if step == Step.OPEN:
        await _open(session, instance, AlertKind.RISK_BAND, band.value, reason, now)
    elif step == Step.WORSEN and alert is not None:
        alert.band = band.value  # the worst band seen; no new notification
        alert.reason = reason[:300]
        await session.flush()
    elif step == Step.RESOLVE and alert is not None:
        await _resolve(session, alert, reasons.encode("back_in_band", band=band.value), now)


async def on_quarantine(
    session: AsyncSession, instance: Instance, reason: str, now: datetime
) -> None:
    alert = await AlertRepository(session).open_for(instance.id, AlertKind.QUARANTINE)
    if quarantine_step(alert is not None, True) == Step.OPEN:
        await _open(session, instance, AlertKind.QUARANTINE, instance.risk_band, reason, now)


async def on_release(session: AsyncSession, instance: Instance, reason: str, now: datetime) -> None:
    alert = await AlertRepository(session).open_for(instance.id, AlertKind.QUARANTINE)
    if alert is not None and quarantine_step(True, False) == Step.RESOLVE:
        await _resolve(session, alert, reasons.encode("released_because", reason=reason[:120]), now)


async def open_band_alerts(session: AsyncSession) -> Sequence[SafetyAlert]:
    return await AlertRepository(session).open_of_kind(AlertKind.RISK_BAND)


async def resolve_faded(
    session: AsyncSession, alert: SafetyAlert, band: Band, now: datetime
) -> bool:
    """The sweep's part: the number's band faded to ``band`` with no new signal."""
    step = band_step(alert.band, band)
    if step == Step.RESOLVE:
        await _resolve(session, alert, reasons.encode("back_in_band", band=band.value), now)
        return True
    if step == Step.WORSEN:
        alert.band = band.value
        await session.flush()
    return False


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    alert: SafetyAlert
    number_name: str | None
    deliveries: Sequence[AlertDelivery] = field(default_factory=tuple)


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    state: Literal["open", "resolved", "all"] = "open",
    *,
    limit: int = 50,
    before: datetime | None = None,
) -> list[AlertView]:
    require(principal, "read")
    repo = AlertRepository(session)
    rows = await repo.listed(state, limit, before)
    found = await repo.deliveries([a.id for a, _n in rows])
    return [AlertView(a, n, found[a.id]) for a, n in rows]


async def get_alert(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> AlertView:
    require(principal, "read")
    repo = AlertRepository(session)
    row = await repo.get(alert_id)
    if row is None or row[0].tenant_id != principal.tenant_id:
        raise NotFound("alert not found")
    return AlertView(row[0], row[1], (await repo.deliveries([alert_id]))[alert_id])


async def count_open(session: AsyncSession) -> int:
    return await AlertRepository(session).count_open()


# --- where alerts go (tenant settings) ----------------------------------------------------

Security = Literal["starttls", "tls", "none"]
_EMAIL = re.compile(r"^[^@\s<>,;\"\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SECRET_MIN = 16


class AlertTargets(BaseModel):
    """Where the tenant's safety alerts are sent (none set: the dashboard only). The API's
    body and what the dashboard's form builds; secrets are write-only."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(
        default=None,
        max_length=300,
        description="An https URL that receives a signed JSON POST per alert opened or "
        "resolved. Addresses of the deployment's own network are refused.",
    )
    webhook_secret: str | None = Field(
        default=None,
        max_length=200,
        description="The HMAC-SHA256 key of the X-Mirage-Signature header (at least 16 "
        'characters): null keeps the current one, "" removes it.',
    )
    email_to: list[str] = Field(
        default_factory=list, max_length=10, description="Who gets the alert e-mails."
    )
    email_from: str | None = Field(default=None, max_length=254)
    smtp_host: str | None = Field(default=None, max_length=253)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Security = Field(
        default="starttls",
        description="starttls (port 587), tls (implicit TLS, port 465) or none (no TLS, and "
        "then no password is sent).",
    )
    smtp_username: str | None = Field(default=None, max_length=254)
    smtp_password: str | None = Field(
        default=None, max_length=300, description='null keeps the current one; "" removes it'
    )
    email_language: Literal["pt_BR", "en"] = Field(
        default="pt_BR", description="The language of the alert e-mails."
    )

    @field_validator(
        "webhook_url",
        "webhook_secret",
        "email_from",
        "smtp_host",
        "smtp_username",
        "smtp_password",
    )
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        # No control characters: nothing here may break a header line or a stored text.
        if v is not None and _CONTROL.search(v):
            raise ValueError("must not contain control characters (line breaks, NUL…)")
        return v

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        if any(len(x) > 254 or _CONTROL.search(x) for x in v):
            raise ValueError("each address: at most 254 characters, no control characters")
        return v


class AlertTargetsOut(BaseModel):
    webhook_url: str | None
    webhook_secret_set: bool
    email_to: list[str]
    email_from: str | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_security: str
    smtp_username: str | None
    smtp_password_set: bool
    email_language: str


def _masked(url: str | None) -> str | None:
    """A webhook URL without its path and query (they often carry a token: Slack's do)."""
    if not url:
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def targets_out(row: TenantSettings, *, full: bool = True) -> AlertTargetsOut:
    """The targets as shown; ``full=False`` (below admin) masks the webhook URL's path."""
    return AlertTargetsOut(
        webhook_url=row.alert_webhook_url if full else _masked(row.alert_webhook_url),
        webhook_secret_set=bool(row.alert_webhook_secret_enc),
        email_to=list(row.alert_email_to or []),
        email_from=row.alert_email_from,
        smtp_host=row.alert_smtp_host,
        smtp_port=row.alert_smtp_port,
        smtp_security=row.alert_smtp_security,
        smtp_username=row.alert_smtp_username,
        smtp_password_set=bool(row.alert_smtp_password_enc),
        email_language=row.alert_email_locale,
    )


def _email(value: str, name: str) -> str:
    v = value.strip()
    if not _EMAIL.match(v):
        raise ValidationFailed(
            N_("%(value)s is not an e-mail address"), params={"value": v[:80]}, field=name
        )
    return v


def validate_webhook_url(url: str) -> None:
    """Refuse a webhook URL into the deployment's own network (as the AI base URL: the
    worker checks the resolved address again at every delivery)."""
    try:
        check_url(url, get_settings().alert_address_policy)
    except UnsafeURL as exc:
        raise ValidationFailed(
            N_("the webhook URL is not allowed: %(why)s"),
            params={"why": str(exc)},
            field="webhook_url",
        ) from exc


def _clean(u: AlertTargets, row: TenantSettings) -> dict[str, Any]:
    """The values to store (secrets still plaintext here), after the rules across fields."""
    url = (u.webhook_url or "").strip() or None
    if url:
        validate_webhook_url(url)
    secret = row.alert_webhook_secret_enc if u.webhook_secret is None else u.webhook_secret
    if u.webhook_secret and len(u.webhook_secret) < SECRET_MIN:
        raise ValidationFailed(
            N_("the webhook secret needs at least 16 characters"), field="webhook_secret"
        )
    if url and not secret:
        raise ValidationFailed(
            N_("a webhook URL needs a secret (it signs every notification)"),
            field="webhook_secret",
        )
    host = (u.smtp_host or "").strip() or None
    to = [_email(x, "email_to") for x in u.email_to if x.strip()]
    sender = (u.email_from or "").strip() or None
    if host or to or sender:
        if not (host and to and sender):
            raise ValidationFailed(
                N_("e-mail alerts need the SMTP server, the sender and at least one recipient"),
                field="smtp_host" if not host else "email_to" if not to else "email_from",
            )
        try:
            check_host(host, get_settings().alert_address_policy)
        except UnsafeURL as exc:
            raise ValidationFailed(
                N_("the SMTP server is not allowed: %(why)s"),
                params={"why": str(exc)},
                field="smtp_host",
            ) from exc
        sender = _email(sender, "email_from")
    password_kept = u.smtp_password is None and bool(row.alert_smtp_password_enc)
    if u.smtp_security == "none" and (u.smtp_password or password_kept):
        raise ValidationFailed(
            N_("a password is only sent over TLS: choose STARTTLS or TLS"),
            field="smtp_security",
        )
    return {
        "url": url,
        "host": host,
        "to": to,
        "sender": sender,
        "username": (u.smtp_username or "").strip() or None,
    }


async def get_targets(session: AsyncSession, principal: Principal) -> TenantSettings:
    require(principal, "read")
    return await _settings_row(session, principal.tenant_id)


async def _settings_row(session: AsyncSession, tenant_id: uuid.UUID) -> TenantSettings:
    repo = SignalRepository(session)
    row = await repo.settings_row(tenant_id)
    if row is None:
        row = await repo.add_settings(TenantSettings(tenant_id=tenant_id))
    return row


def _snapshot(row: TenantSettings) -> dict[str, Any]:
    """What the audit log compares (the secrets' ciphertexts, which the log masks)."""
    return {
        "webhook_url": row.alert_webhook_url,
        "webhook_secret": row.alert_webhook_secret_enc,
        "email_to": list(row.alert_email_to or []),
        "email_from": row.alert_email_from,
        "smtp_host": row.alert_smtp_host,
        "smtp_port": row.alert_smtp_port,
        "smtp_security": row.alert_smtp_security,
        "smtp_username": row.alert_smtp_username,
        "smtp_password": row.alert_smtp_password_enc,
        "email_language": row.alert_email_locale,
    }


async def update_targets(
    session: AsyncSession, principal: Principal, u: AlertTargets
) -> TenantSettings:
    """Change where alerts go (admins; audited). Secrets are stored encrypted."""
    require(principal, "admin", role=Role.ADMIN)
    row = await _settings_row(session, principal.tenant_id)
    values = _clean(u, row)
    key = get_settings().resolved_secret_key()
    before = _snapshot(row)
    row.alert_webhook_url = values["url"]
    if u.webhook_secret is not None:
        row.alert_webhook_secret_enc = (
            crypto.encrypt(key, u.webhook_secret) if u.webhook_secret else None
        )
    row.alert_email_to = values["to"] or None
    row.alert_email_from = values["sender"]
    row.alert_smtp_host = values["host"]
    row.alert_smtp_port = u.smtp_port
    row.alert_smtp_security = u.smtp_security
    row.alert_email_locale = u.email_language
    row.alert_smtp_username = values["username"]
    if u.smtp_password is not None:
        row.alert_smtp_password_enc = (
            crypto.encrypt(key, u.smtp_password) if u.smtp_password else None
        )
    row.updated_at = utcnow()
    row.updated_by = principal.user_id
    await session.flush()
    after = _snapshot(row)
    if after != before:
        await audit.record(
            session,
            tenant_id=principal.tenant_id,
            principal=principal,
            action="settings.update",
            target_type="tenant_settings",
            target_id=row.id,
            section="alerts",
            before=before,
            after=after,
        )
    return row


def configured(row: TenantSettings) -> list[Channel]:
    found: list[Channel] = []
    if row.alert_webhook_url and row.alert_webhook_secret_enc:
        found.append(Channel.WEBHOOK)
    if row.alert_smtp_host and row.alert_email_to and row.alert_email_from:
        found.append(Channel.EMAIL)
    return found


NO_TARGET = N_("no alert target is set: add a webhook URL or the e-mail settings first")


async def send_test(session: AsyncSession, principal: Principal) -> SafetyAlert:
    """A test alert to every configured target (admins): a resolved alert of kind ``test``,
    whose delivery attempts show next to it, like any alert's."""
    require(principal, "admin", role=Role.ADMIN)
    row = await _settings_row(session, principal.tenant_id)
    if not configured(row):
        raise ValidationFailed(NO_TARGET)
    now = utcnow()
    alert = SafetyAlert(
        tenant_id=principal.tenant_id,
        instance_id=None,
        kind=AlertKind.TEST.value,
        reason=reasons.encode("test_alert"),
        opened_at=now,
        resolved_at=now,
    )
    await AlertRepository(session).add(alert)
    await _notify(session, principal.tenant_id, alert, Event.TEST)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="alert.test",
        target_type="tenant_settings",
        target_id=row.id,
        channels=[c.value for c in configured(row)],
    )
    return alert


# --- delivery (the job's body: read, call holding nothing, write) ------------------------


@dataclass(frozen=True)
class Plan:
    notice: Notice
    webhook: delivery.WebhookTarget | None
    email: delivery.EmailTarget | None
    attempts: dict[Channel, int]  # this attempt's number, per target to call


async def _plan(alert_id: uuid.UUID, event: Event) -> Plan | None:
    """What to send and to whom, read in one short transaction (secrets decrypted here,
    never stored elsewhere). None: nothing to do (no alert, no target, all delivered)."""
    async with session_scope() as session:
        repo = AlertRepository(session)
        found = await repo.get(alert_id)
        if found is None:
            return None
        alert, name = found
        row = await SignalRepository(session).settings_row(alert.tenant_id)
        if row is None:
            return None
        done: dict[Channel, int] = {}
        delivered: set[Channel] = set()
        for d in (await repo.deliveries([alert_id]))[alert_id]:
            if d.event != event.value:
                continue
            channel = Channel(d.channel)
            done[channel] = max(done.get(channel, 0), d.attempt)
            if d.outcome != "failed" or d.final:
                delivered.add(channel)  # sent, or given up: not called again
        key = get_settings().resolved_secret_key()
        webhook = email = None
        attempts: dict[Channel, int] = {}
        for channel in configured(row):
            if channel in delivered or done.get(channel, 0) >= MAX_ATTEMPTS:
                continue
            attempts[channel] = done.get(channel, 0) + 1
            if channel == Channel.WEBHOOK:
                webhook = delivery.WebhookTarget(
                    str(row.alert_webhook_url),
                    crypto.decrypt(key, str(row.alert_webhook_secret_enc)),
                )
            else:
                password = row.alert_smtp_password_enc
                email = delivery.EmailTarget(
                    host=str(row.alert_smtp_host),
                    port=row.alert_smtp_port,
                    security=row.alert_smtp_security,
                    username=row.alert_smtp_username,
                    password=crypto.decrypt(key, password) if password else None,
                    sender=str(row.alert_email_from),
                    recipients=tuple(row.alert_email_to or ()),
                    locale=row.alert_email_locale,
                )
        if not attempts:
            return None
        notice = Notice(
            alert_id=str(alert.id),
            event=event,
            kind=AlertKind(alert.kind),
            band=alert.band,
            number_id=str(alert.instance_id) if alert.instance_id else None,
            number_name=name,
            reason=alert.reason,  # stored form: each target words it (webhook, e-mail)
            opened_at=alert.opened_at,
            resolved_at=alert.resolved_at if event != Event.OPENED else None,
            sent_at=utcnow(),
            resolved_reason=alert.resolved_reason,
        )
        return Plan(notice, webhook, email, attempts)


async def deliver(alert_id: uuid.UUID, event: Event) -> dict[str, str]:
    """One delivery round of an alert's notification: every target not yet reached is
    called (holding no database connection), each attempt is recorded; raises
    `DeliveryFailed` (the job is retried later) while a target failed and has attempts
    left."""
    plan = await _plan(alert_id, event)
    if plan is None:
        return {}
    results: dict[Channel, delivery.Outcome] = {}
    if plan.webhook is not None:
        results[Channel.WEBHOOK] = await delivery.post_webhook(plan.webhook, plan.notice)
    if plan.email is not None:
        results[Channel.EMAIL] = await delivery.send_email(plan.email, plan.notice)
    retry = False
    async with session_scope() as session:
        repo = AlertRepository(session)
        found = await repo.get(alert_id)
        if found is None:
            return {}
        alert = found[0]
        for channel, outcome in results.items():
            attempt = plan.attempts[channel]
            final = not outcome.retry or attempt >= MAX_ATTEMPTS
            retry = retry or not final
            await repo.add(
                AlertDelivery(
                    tenant_id=alert.tenant_id,
                    alert_id=alert.id,
                    event=event.value,
                    channel=channel.value,
                    attempt=attempt,
                    outcome=outcome.outcome,
                    status=outcome.status,
                    detail=outcome.detail,
                    final=final and outcome.outcome != "sent",
                )
            )
            log.info(
                "safety.alert_delivery",
                alert_id=str(alert_id),
                alert_event=event.value,
                channel=channel.value,
                attempt=attempt,
                outcome=outcome.outcome,
                status=outcome.status,
            )
        await live.notify(session, alert.tenant_id, "alert", alert.id)
    if retry:
        raise DeliveryFailed(f"alert {alert_id}: a target failed, trying again later")
    return {c.value: o.outcome for c, o in results.items()}
