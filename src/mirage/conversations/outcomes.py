"""A round's outcome and a conversation's waiting reason, as the pages show them.

The engine stores them as short English texts (``policy: quiet_hours (until … UTC)``,
``Vendas 01 cannot send: number_paused``); here they become the reader's language, with the
policy's reason labels (``policy.reasons``) and instants in the tenant's zone (``when``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from mirage.kit import i18n
from mirage.kit.i18n import N_, Message
from mirage.policy import reasons
from mirage.web.templating import add_global, when

_POLICY = re.compile(
    r"^policy: (?P<code>[a-z_]+)(?: \(until (?P<until>\d{4}-\d\d-\d\d \d\d:\d\d) UTC\))?$"
)
_CANNOT = re.compile(r"^(?P<name>.+) cannot send: (?P<code>[a-z_]+)$")
_WAITING = re.compile(r"^fewer than two of its numbers can send(?: \((?P<parts>.*)\))?$")
# A number deleted under a planned or running round (``service.number_deleted``).
_DELETED = re.compile(r"^number (?P<name>.+) deleted$")
_PART = re.compile(r"^(?P<name>.+): (?P<code>[a-z_]+|None)$")
# The engine's other outcomes, word for word.
KNOWN = {
    "conversation paused": N_("conversation paused"),
    "the reply never arrived": N_("the reply never arrived"),
    "the first turn was never written": N_("the first turn was never written"),
    "the next turn was never written": N_("the next turn was never written"),
    "a participant left the conversation": N_("a participant left the conversation"),
    "the turn's send was never confirmed by the gateway": N_(
        "the turn's send was never confirmed by the gateway"
    ),
    "the turn was not sent": N_("the turn was not sent"),
    "its numbers changed": N_("its numbers changed"),
    "no window opens": N_("no window opens"),
}
NOT_SENT = N_("the turn was not sent")
CANNOT_SEND = N_("%(name)s cannot send: %(reason)s")
WAITING = N_("fewer than two of its numbers can send")
NUMBER_DELETED = N_("its number %(name)s was deleted")


def known(outcome: str) -> bool:
    """Whether ``round_outcome`` shows this stored outcome in the reader's words."""
    return outcome in KNOWN or any(p.match(outcome) for p in (_POLICY, _CANNOT, _WAITING, _DELETED))


def _reason(locale: str, code: str) -> str:
    return i18n.text(locale, reasons.label(code)).lower()


@pass_context
def round_outcome(ctx: Context, outcome: str | None) -> Markup:
    """A round's stored outcome in the reader's words (the stored text in the tooltip when it
    is not one of the engine's, e.g. a gateway's error)."""
    locale = str(ctx.get("locale") or i18n.DEFAULT_LOCALE)
    text = (outcome or "").strip()
    if not text:
        return Markup("")
    if m := _POLICY.match(text):
        out = escape(i18n.text(locale, reasons.label(m["code"])))
        if m["until"]:
            until = datetime.strptime(m["until"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            out += Markup(" (") + escape(i18n.text(locale, N_("next try"))) + Markup(" ")
            out += when(ctx, until) + Markup(")")
        return out
    if m := _CANNOT.match(text):
        return i18n.markup(locale, CANNOT_SEND, name=m["name"], reason=_reason(locale, m["code"]))
    if (m := _WAITING.match(text)) is not None:
        return escape(waiting_text(locale, text))
    if m := _DELETED.match(text):
        return i18n.markup(locale, NUMBER_DELETED, name=m["name"])
    if text in KNOWN:
        return i18n.markup(locale, KNOWN[text])
    return Markup('<span title="%s">%s</span>') % (text, i18n.text(locale, NOT_SENT))


def waiting_text(locale: str, waiting: str) -> str:
    """Why a conversation waits (``engine._waiting_reason``), in the reader's words."""
    m = _WAITING.match(waiting.strip())
    if m is None:
        return i18n.text(locale, Message(WAITING))
    parts = []
    for part in (m["parts"] or "").split("; "):
        if p := _PART.match(part):
            parts.append(f"{p['name']}: {_reason(locale, p['code'])}")
    head = i18n.text(locale, Message(WAITING))
    return f"{head} ({'; '.join(parts)})" if parts else head


@pass_context
def waiting_reason(ctx: Context, waiting: str | None) -> str:
    return waiting_text(str(ctx.get("locale") or i18n.DEFAULT_LOCALE), waiting or "")


def register() -> None:
    add_global("round_outcome", round_outcome)
    add_global("waiting_reason", waiting_reason)
