"""What each policy decision means, in words an operator reads (translated where shown).

Every reason code of the engine has a label, an explanation of what the operator can change,
and where that is changed (a settings page, the numbers, the conversation). A stored decision
keeps the engine's English detail; ``explain`` reads it back into the engine's template and
values (``engine.DETAILS``) so a page can show it in the reader's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from mirage.kit.i18n import N_, Message
from mirage.policy import engine
from mirage.policy.engine import Reason

# Where the operator changes what a reason depends on.
Fix = Literal["settings", "numbers", "conversation", "outreach", "contacts"]


@dataclass(frozen=True)
class ReasonText:
    label: str
    explanation: str
    fix: Fix | None = None


REASONS: dict[Reason, ReasonText] = {
    Reason.KILL_SWITCH_GLOBAL: ReasonText(
        N_("Global kill switch"),
        N_(
            "The operator of this Mirage installation stopped every send, for every "
            "organization. Nothing to change here: sends resume when it is turned off."
        ),
    ),
    Reason.KILL_SWITCH_TENANT: ReasonText(
        N_("Kill switch on"),
        N_("This organization's kill switch stops every send. An admin turns it off in Settings."),
        "settings",
    ),
    Reason.POLICY_INVALID: ReasonText(
        N_("Invalid settings"),
        N_(
            "The cadence settings cannot be applied, so nothing is sent (fail closed). "
            "Fix them in Settings."
        ),
        "settings",
    ),
    Reason.NUMBER_QUARANTINED: ReasonText(
        N_("Number in quarantine"),
        N_(
            "The number is in quarantine (a ban code, a critical risk score, or an admin): it "
            "sends nothing until an admin releases it on its safety page."
        ),
        "numbers",
    ),
    Reason.NUMBER_UNHEALTHY: ReasonText(
        N_("Number unhealthy"),
        N_(
            "The number is restricted or banned by WhatsApp, or its health is unknown: it "
            "sends nothing. Check it on the Numbers page."
        ),
        "numbers",
    ),
    Reason.NUMBER_PAUSED: ReasonText(
        N_("Number paused"),
        N_(
            "An operator paused this number, or Mirage did on a severe risk signal (its safety "
            "page says why). Resume it on the Numbers page to let it send."
        ),
        "numbers",
    ),
    Reason.NUMBER_CRITICAL: ReasonText(
        N_("Number at critical risk"),
        N_(
            "The number's risk score is in the critical band: it sends nothing until its "
            "signals fade. Its safety page shows the timeline."
        ),
        "numbers",
    ),
    Reason.BAND_NO_OUTREACH: ReasonText(
        N_("Risk band: no campaigns"),
        N_(
            "The number's risk score is in the orange or red band: it only replies and warms "
            "up, and its campaign messages go to the pool's healthy numbers."
        ),
        "numbers",
    ),
    Reason.BAND_REPLIES_ONLY: ReasonText(
        N_("Risk band: replies only"),
        N_(
            "The number's risk score is in the red band: it only answers messages until its "
            "signals fade. Its safety page shows the timeline."
        ),
        "numbers",
    ),
    Reason.BAND_NEW_CONTACTS: ReasonText(
        N_("Risk band: few new contacts"),
        N_(
            "The number's risk score is in the yellow band: its caps are halved and it sends "
            "only a few campaign messages to new contacts a day (a setting of the organization)."
        ),
        "numbers",
    ),
    Reason.NUMBER_NOT_CONNECTED: ReasonText(
        N_("Number not connected"),
        N_(
            "The number is not connected to the gateway; the message waits until it is. "
            "Connect it (QR code) on the Numbers page."
        ),
        "numbers",
    ),
    Reason.CONVERSATION_PAUSED: ReasonText(
        N_("Conversation paused"),
        N_("The conversation is paused. Resume it on its page to let its rounds run."),
        "conversation",
    ),
    Reason.OUTSIDE_WINDOW: ReasonText(
        N_("Outside the conversation's windows"),
        N_(
            "Messages are sent only inside the conversation's weekly windows; it waits for "
            "the next one. The windows are set on the conversation."
        ),
        "conversation",
    ),
    Reason.QUIET_HOURS: ReasonText(
        N_("Quiet hours"),
        N_(
            "Nothing is sent during the organization's quiet hours; it waits until they "
            "end. Quiet hours are set in Settings."
        ),
        "settings",
    ),
    Reason.HOURLY_CAP: ReasonText(
        N_("Hourly limit reached"),
        N_(
            "The number reached its messages per hour; it waits for the hour to roll over. "
            "The limit is set in Settings."
        ),
        "settings",
    ),
    Reason.DAILY_CAP: ReasonText(
        N_("Daily limit reached"),
        N_(
            "The number reached its messages per day; it waits for tomorrow. The limit is "
            "set in Settings."
        ),
        "settings",
    ),
    Reason.WARMUP_CAP: ReasonText(
        N_("Warm-up limit reached"),
        N_(
            "A young number sends a little more each day (its warm-up ramp), to protect it; "
            "it waits for tomorrow. The ramp follows the number's age: there is nothing to "
            "change."
        ),
    ),
    Reason.BURST_LIMIT: ReasonText(
        N_("Organization's hourly limit reached"),
        N_(
            "All numbers together reached the burst limit per hour; it waits for the hour to "
            "roll over. The limit is set in Settings."
        ),
        "settings",
    ),
    Reason.MIN_GAP: ReasonText(
        N_("Too soon after the last message"),
        N_(
            "The number waits the minimum gap between two sends, like a person would. The "
            "gap is set in Settings."
        ),
        "settings",
    ),
    # Outreach (campaign sends): the recipient, their consent and local calendar, the policy.
    Reason.SUPPRESSED: ReasonText(
        N_("Do not contact"),
        N_(
            "The recipient is on this organization's do-not-contact list (an opt-out, a "
            "request, or a reply that probably asks to stop and waits for review), so nothing "
            "is sent to them. An opt-out only they can lift; a review is confirmed or lifted "
            "on the suppression list."
        ),
        "contacts",
    ),
    Reason.NO_BASIS: ReasonText(
        N_("No consent"),
        N_(
            "The contact has no legal basis for outreach (or no consent recorded), so it is "
            "not contacted. Record how they agreed on the contact's page."
        ),
        "contacts",
    ),
    Reason.CONSENT_REVOKED: ReasonText(
        N_("Consent revoked"),
        N_("The contact revoked their consent: they are not contacted again."),
        "contacts",
    ),
    Reason.EXPIRED: ReasonText(
        N_("Expired"),
        N_(
            "The message could not go out before its validity ended, so it is skipped, never "
            "sent late. The validity is set in the outreach policy."
        ),
        "outreach",
    ),
    Reason.RECIPIENT_WEEKDAY: ReasonText(
        N_("Day not allowed"),
        N_(
            "The outreach policy does not send on this weekday where the recipient is; the "
            "message waits for an allowed day. The days are set in the outreach policy."
        ),
        "outreach",
    ),
    Reason.CONTACT_HOURS: ReasonText(
        N_("Outside contact hours"),
        N_(
            "It is outside the policy's contact hours in the recipient's own time zone; the "
            "message waits for them. The hours are set in the outreach policy."
        ),
        "outreach",
    ),
    Reason.DAYPART: ReasonText(
        N_("Part of the day not allowed"),
        N_(
            "The outreach policy does not send in this part of the day where the recipient "
            "is; the message waits. The parts of the day are set in the outreach policy."
        ),
        "outreach",
    ),
    Reason.HOLIDAY: ReasonText(
        N_("Holiday"),
        N_(
            "It is a public day off where the recipient is and the policy skips those days; "
            "the message waits for the next working day."
        ),
        "outreach",
    ),
    Reason.CAMPAIGN_HOURLY_CAP: ReasonText(
        N_("Campaign hourly limit"),
        N_(
            "The campaign reached its hourly limit; the message waits for the next hour. "
            "The limit is set in the outreach policy."
        ),
        "outreach",
    ),
    Reason.CAMPAIGN_DAILY_CAP: ReasonText(
        N_("Campaign daily limit"),
        N_(
            "The campaign reached its daily limit; the message waits for tomorrow. The limit "
            "is set in the outreach policy."
        ),
        "outreach",
    ),
    Reason.DUPLICATE_CONTENT: ReasonText(
        N_("Same text too often"),
        N_(
            "The same text went to many recipients in a short time, which WhatsApp reads as "
            "spam; the message waits. More message variants avoid it."
        ),
        "outreach",
    ),
    Reason.OPTOUT_CONFIRMATION: ReasonText(
        N_("Opt-out confirmation"),
        N_(
            "The person has just asked to stop receiving messages: the one message that "
            "confirms it is sent, once, by the number they wrote to, outside the hours and "
            "limits. Nothing else is ever sent to them."
        ),
    ),
    Reason.CONFIRMATION_SENT: ReasonText(
        N_("Already confirmed"),
        N_(
            "This person's opt-out was already confirmed once; a second confirmation is never sent."
        ),
    ),
    Reason.CONFIRMATION_NOT_OWED: ReasonText(
        N_("Opt-out lifted"),
        N_("The person opted in again before the confirmation went out, so it is not sent."),
    ),
}
UNKNOWN = ReasonText(
    N_("Blocked by the sending rules"),
    N_("A sending rule held this message back."),
)
HEALTH_WORDS = {"restricted": N_("restricted"), "banned": N_("banned")}


@dataclass(frozen=True)
class Explained:
    """A decision as a page shows it: label, explanation, where to change it, its detail."""

    code: str
    label: Message
    explanation: Message
    fix: Fix | None
    detail: list[Message]


# How each value of a detail is written (numbers are digits; the rest up to the next text).
_VALUES = {
    **dict.fromkeys(("sent", "cap", "ramp", "age", "ago", "gap", "days"), r"-?\d+"),
    "halved": "(?:" + re.escape(engine.D_HALVED) + ")?",
    "start": r"\d\d:\d\d",
    "end": r"\d\d:\d\d",
}
# Details shown with another wording: the instant the engine wrote (in English, in the
# tenant's zone) is shown by the page itself (the decision's time, its "until").
SHOWN_AS = {
    engine.D_OUTSIDE_WINDOW: N_("Outside the conversation's sending windows."),
    engine.D_QUIET_HOURS: N_("Inside the tenant's quiet hours (%(start)s–%(end)s)."),
    engine.D_POLICY_INVALID: N_("The tenant's settings are invalid."),
}
NOT_SHOWN = (engine.D_NEXT_TRY,)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", template)
    out = []
    for i, part in enumerate(parts):
        out.append(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_VALUES.get(part, '.*?')})")
    return re.compile("".join(out))


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((t, _pattern(t)) for t in (*engine.DETAILS, *engine.SUFFIXES))


def _values(template: str, found: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = dict(found)
    if "halved" in values:
        values["halved"] = Message(engine.D_HALVED) if values["halved"] else ""
    if "health" in values:
        word = HEALTH_WORDS.get(str(values["health"]))
        values["health"] = Message(word) if word else Message(N_("unknown"))
    return values


def read_detail(detail: str | None) -> list[Message] | None:
    """A stored detail as the engine's messages (each translatable), or None when it is not
    one of the engine's texts (written by an older version)."""
    rest = (detail or "").strip()
    if not rest:
        return []
    out: list[Message] = []
    while rest:
        for template, pattern in _patterns():
            m = pattern.match(rest)
            # A template ends with its literal text: the shortest values that reach it.
            if m and (m.end() == len(rest) or rest[m.end()] == " "):
                out.append(Message(template, _values(template, m.groupdict())))
                rest = rest[m.end() :].strip()
                break
        else:
            return None
    return out


def explain(code: str | None, detail: str | None = None) -> Explained:
    """What a decision's reason code (and stored detail) mean, ready to translate."""
    try:
        text = REASONS[Reason(code or "")]
    except ValueError:
        text = UNKNOWN
    messages = [
        Message(SHOWN_AS.get(m.msgid, m.msgid), m.params)
        for m in read_detail(detail) or []
        if m.msgid not in NOT_SHOWN
    ]
    return Explained(
        code=code or "",
        label=Message(text.label),
        explanation=Message(text.explanation),
        fix=text.fix,
        detail=messages,
    )


def label(code: str) -> Message:
    """A reason code's label (the code itself if it is not one of the engine's)."""
    try:
        return Message(REASONS[Reason(code)].label)
    except ValueError:
        return Message(code)
