"""The network half of an alert's delivery: a signed POST to the tenant's webhook, an e-mail
through the tenant's SMTP server. No database here: the caller reads what to send in one
short transaction, calls these holding nothing, and records the outcomes in another
(``mirage.safety.alerts.deliver``).

Both targets are tenant-controlled, so both go through the egress guard: the webhook through
`kit.egress.guarded_client`, the SMTP server through `kit.egress.guarded_socket` — each
connects only to an address it checked against the deployment's address policy
(MIRAGE_ALERT_ALLOW_PRIVATE_HOSTS lists the exceptions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from mirage.config import get_settings
from mirage.kit.egress import guarded_client, guarded_socket
from mirage.kit.i18n import DEFAULT_LOCALE, N_, text
from mirage.kit.netguard import UnsafeURL, check_host, check_url
from mirage.policy import BAND_LABELS
from mirage.safety import reasons
from mirage.safety.alerting import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    AlertKind,
    Event,
    Notice,
    signature,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: How long one attempt may take (connect + send), per target.
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: ``sent``, ``failed`` (worth retrying) or ``refused`` (the target
    is not allowed or not usable: retrying changes nothing)."""

    outcome: str
    status: int | None = None
    detail: str | None = None

    @property
    def retry(self) -> bool:
        return self.outcome == "failed"


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str


@dataclass(frozen=True)
class EmailTarget:
    host: str
    port: int | None
    security: str  # starttls, tls or none
    username: str | None
    password: str | None
    sender: str
    recipients: tuple[str, ...]
    locale: str = DEFAULT_LOCALE  # the e-mails' language (a catalog locale)


def _short(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]


async def post_webhook(target: WebhookTarget, notice: Notice) -> Outcome:
    """POST the notice's JSON, signed (``X-Mirage-Signature: sha256=<hex>``). A 2xx answer is
    delivered; a 4xx other than 408/429 will not change by itself (refused); anything else
    is retried."""
    policy = get_settings().alert_address_policy
    try:
        check_url(target.url, policy)
    except UnsafeURL as exc:
        return Outcome("refused", None, _short(exc))
    body = notice.body()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(target.secret, body),
        EVENT_HEADER: notice.event.value,
        "User-Agent": "Mirage-Alerts/1",
    }
    try:
        async with guarded_client(policy, timeout=TIMEOUT_S, max_connections=2) as client:
            response = await client.post(target.url, content=body, headers=headers)
    except UnsafeURL as exc:
        return Outcome("refused", None, _short(exc))
    except Exception as exc:  # every network failure is worth another attempt later
        return Outcome("failed", None, _short(exc))
    status = response.status_code
    if 200 <= status < 300:
        return Outcome("sent", status)
    if 400 <= status < 500 and status not in (408, 429):
        return Outcome("refused", status, f"HTTP {status}")
    return Outcome("failed", status, f"HTTP {status}")


# What an alert's e-mail says (catalog ids; sent in the language the tenant chose).
SUBJECT = {
    (AlertKind.RISK_BAND, Event.OPENED): N_("[Mirage] %(name)s entered the %(band)s risk band"),
    (AlertKind.RISK_BAND, Event.RESOLVED): N_("[Mirage] Resolved: %(name)s left the risk bands"),
    (AlertKind.QUARANTINE, Event.OPENED): N_("[Mirage] %(name)s was quarantined"),
    (AlertKind.QUARANTINE, Event.RESOLVED): N_("[Mirage] Resolved: %(name)s was released"),
    (AlertKind.TEST, Event.TEST): N_("[Mirage] Test alert"),
}
BODY_OPENED = N_("Alert opened at %(at)s (UTC). Worst band: %(band)s. Reason: %(reason)s")
BODY_RESOLVED = N_("Alert resolved at %(at)s (UTC); it was opened at %(opened)s.")
BODY_TEST = N_("This is a test alert: the alert settings of your organization work.")
BODY_SEE = N_("See it in the dashboard: %(url)s")


def _reason(stored: str | None, locale: str) -> str:
    """A stored reason (a code and its values, or an operator's words) in ``locale``."""
    found = reasons.decode(stored)
    return "-" if found is None else found.text(locale)


def email_message(
    notice: Notice, sender: str, recipients: tuple[str, ...], locale: str = DEFAULT_LOCALE
) -> EmailMessage:
    """The e-mail of a notice in ``locale``: a short subject, a plain-text body, the JSON
    attached to it."""
    loc = locale
    band = text(loc, BAND_LABELS[notice.band]) if notice.band in BAND_LABELS else "-"
    # A header line: no line breaks or other control characters from a number's name.
    name = _CONTROL.sub(" ", notice.number_name or "-")
    subject = text(loc, SUBJECT[(notice.kind, notice.event)], name=name, band=band)
    lines: list[str] = []
    if notice.event == Event.TEST:
        lines.append(text(loc, BODY_TEST))
    elif notice.event == Event.OPENED:
        at = notice.opened_at.strftime("%Y-%m-%d %H:%M")
        lines.append(text(loc, BODY_OPENED, at=at, band=band, reason=_reason(notice.reason, loc)))
    else:
        resolved = (notice.resolved_at or notice.sent_at).strftime("%Y-%m-%d %H:%M")
        opened = notice.opened_at.strftime("%Y-%m-%d %H:%M")
        lines.append(text(loc, BODY_RESOLVED, at=resolved, opened=opened))
    lines.append(text(loc, BODY_SEE, url=f"{get_settings().public_url}/alerts"))
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="mirage.alerts")
    msg["X-Mirage-Alert"] = notice.alert_id
    msg[EVENT_HEADER] = notice.event.value
    msg.set_content("\n\n".join(lines) + "\n")
    msg.add_attachment(notice.body(), maintype="application", subtype="json", filename="alert.json")
    return msg


async def send_email(target: EmailTarget, notice: Notice) -> Outcome:
    """Send the notice through the tenant's SMTP server (over TLS unless the tenant chose
    ``none``, which never carries a password)."""
    import aiosmtplib

    policy = get_settings().alert_address_policy
    try:
        check_host(target.host, policy)
    except UnsafeURL as exc:
        return Outcome("refused", None, _short(exc))
    implicit_tls = target.security == "tls"
    port = target.port or (465 if implicit_tls else 587 if target.security == "starttls" else 25)
    try:
        sock = await guarded_socket(target.host, port, policy, limit_s=TIMEOUT_S)
    except UnsafeURL as exc:
        return Outcome("refused", None, _short(exc))
    except Exception as exc:
        return Outcome("failed", None, _short(exc))
    try:
        message = email_message(notice, target.sender, target.recipients, target.locale)
    except ValueError as exc:  # a header that cannot be written: retrying will not help
        sock.close()
        return Outcome("refused", None, _short(exc))
    smtp = aiosmtplib.SMTP(
        hostname=target.host,
        sock=sock,
        timeout=TIMEOUT_S,
        use_tls=implicit_tls,
        start_tls=target.security == "starttls",
    )
    try:
        async with smtp:
            if target.username and target.password and target.security != "none":
                await smtp.login(target.username, target.password)
            await smtp.send_message(message, sender=target.sender, recipients=target.recipients)
    except aiosmtplib.SMTPResponseException as exc:
        # 5xx: the server will not take it (a wrong password, a refused sender): refused.
        outcome = "refused" if 500 <= exc.code < 600 else "failed"
        return Outcome(outcome, exc.code, _short(exc))
    except Exception as exc:
        return Outcome("failed", None, _short(exc))
    finally:
        sock.close()
    return Outcome("sent", 250)
