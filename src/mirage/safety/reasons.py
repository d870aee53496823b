"""Why a number was paused or quarantined automatically: stored as a code and its values, shown
in the reader's language.

A reason is kept in the number's ``paused_reason`` / ``health_reason`` and on its timeline
(``detail``) as ``@<code>?<name>=<value>&…`` — e.g. ``@score_jump?before=0&after=60`` — so a
page renders it from the catalog (pt-BR or English) and the API returns the stable ``code``
with the English text. Rows written before this form (free English text such as "automatic:
risk score jumped from 0 to 60") are read back into their code and values when they match a
known text; any other text (an operator's own words) is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import parse_qsl, urlencode

from mirage.kit.i18n import N_, Message, known_ids, text
from mirage.policy.bands import BAND_LABELS

PREFIX = "@"

#: Every automatic reason: its stable code (the API's) and its catalog text.
REASONS: dict[str, str] = {
    "banned": N_("automatic: banned or restricted by WhatsApp (code %(code)s)"),
    "critical": N_("automatic: risk score %(score)s reached the critical band"),
    "time_lock": N_("automatic: WhatsApp's reach-out time lock (463)"),
    "error_rate": N_("automatic: %(failed)s of the last hour's %(total)s sends failed"),
    "score_jump": N_("automatic: risk score jumped from %(before)s to %(after)s"),
    "released": N_("released from quarantine: resume when ready"),
    "dead": N_("dead: the recovery ladder ran out (restarts, then a new pairing)"),
    # Alerts (safety.alerts): why one opened or was resolved.
    "band_signal": N_("risk score %(score)s after a signal: %(signal)s"),
    "back_in_band": N_("back in the %(band)s band"),
    # The timeline's band changes (the old rows' free text "green→yellow" reads back as it).
    "band_change": N_("%(from_band)s→%(to_band)s"),
    "released_because": N_("released from quarantine: %(reason)s"),
    "test_alert": N_("test alert sent by an operator"),
    # Timeline details of the outreach engagement signals (safety.service.outreach_sent).
    "unanswered_run": N_("%(count)s campaign messages in a row since anyone last replied"),
    "low_replies": N_("%(replied)s of the week's %(sent)s campaign messages were answered"),
    # Timeline details of the send-ratio and new-contact signals (safety.service.assess_sends).
    "low_delivery": N_("%(delivered)s of %(sent)s recent messages reached the recipient's phone"),
    "low_reads": N_("%(read)s of %(delivered)s recent delivered messages were read"),
    "new_contacts_day": N_(
        "%(count)s campaign messages to new contacts today (more than the %(allowance)s its "
        "warm-up allows)"
    ),
    "reported_blocked": N_("an operator recorded that a person this number wrote to blocked it"),
    "reported_complaint": N_("an operator recorded a complaint from a person this number wrote to"),
}


def _params(raw: dict[str, str]) -> dict[str, object]:
    """A reason's values as shown: a band's code (any ``…band`` value) in the reader's
    language."""
    return {
        k: Message(BAND_LABELS[v]) if k.endswith("band") and v in BAND_LABELS else v
        for k, v in raw.items()
    }


@dataclass(frozen=True)
class Reason:
    """A stored reason read back: its code (None: free text) and what to show."""

    code: str | None
    message: Message | str
    params: dict[str, str] = field(default_factory=dict)

    def text(self, locale: str | None = None) -> str:
        """The readable text (English without ``locale``)."""
        return text(locale, self.message)


def encode(reason: str, /, **params: object) -> str:
    """The stored form of an automatic reason (at most 200 characters: the column's size)."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason code {reason!r}")
    query = urlencode({k: str(v) for k, v in params.items()})
    stored = f"{PREFIX}{reason}" + (f"?{query}" if query else "")
    if len(stored) > 200:
        raise ValueError("a stored reason is at most 200 characters")
    return stored


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each reason's English text as a pattern (its placeholders as groups): old rows."""
    out = []
    for code, template in REASONS.items():
        parts = re.split(r"%\((\w+)\)s", template)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        out.append((code, re.compile(f"^{regex}$")))
    return tuple(out)


def decode(stored: str | None) -> Reason | None:
    """A stored reason: coded, old English text of a known reason, or free text."""
    if not stored:
        return None
    if stored.startswith(PREFIX):
        code, _, query = stored[len(PREFIX) :].partition("?")
        if code in REASONS:
            params = dict(parse_qsl(query, keep_blank_values=True))
            return Reason(code, Message(REASONS[code], _params(params)), params)
    for code, pattern in _patterns():
        found = pattern.match(stored)
        if found:
            params = found.groupdict()
            return Reason(code, Message(REASONS[code], _params(params)), params)
    return Reason(None, stored)


def shown(stored: str | None, **defaults: object) -> Message | str | None:
    """What a page shows for a stored reason (``message(shown(x))`` translates it);
    ``defaults``: values for a free-text catalog id's placeholders (a health verdict's code)."""
    reason = decode(stored)
    if reason is None:
        return None
    if isinstance(reason.message, Message):
        return reason.message
    if defaults and reason.message in known_ids():
        return Message(reason.message, defaults)
    return reason.message


def code_of(stored: str | None) -> str | None:
    reason = decode(stored)
    return reason.code if reason else None


def english(stored: str | None) -> str | None:
    """The readable English text of a stored reason (the API's)."""
    reason = decode(stored)
    return None if reason is None else reason.text()
