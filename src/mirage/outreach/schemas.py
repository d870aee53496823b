"""Outreach policy shapes for the API and the dashboard form (one definition of the bounds)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime, time

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mirage.kit.i18n import N_
from mirage.models.outreach import MAX_VARIANTS, RecipientStatus
from mirage.outreach.render import MAX_TEXT
from mirage.policy import Daypart, OutreachRules

#: The confirmation sent once to a contact who opts out (pt-BR: the product's default
#: language); VOLTAR is the keyword that opts them in again (contacts.service).
DEFAULT_CONFIRMATION = (
    "Tudo certo: você não vai mais receber nossas mensagens. Se mudar de ideia, responda VOLTAR."
)
#: Twilio's WhatsApp queue lets a message wait at most 4 hours (reference/market-anchors.md
#: §4): the default validity. The ceiling, a week, stays inside the engine's search horizon.
DEFAULT_VALIDITY_MINUTES = 240
MAX_VALIDITY_MINUTES = 7 * 24 * 60
MAX_KEYWORDS = 50
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# A keyword: letters (any script), digits, spaces and a few signs people put around them.
_KEYWORD = re.compile(r"^[\w #!.\-]+$")

# Messages of the validators (catalog ids: the form shows them translated).
BLANK_NAME = N_("Name: give the policy a name")
ZONED_TIME = N_("Contact hours: a time of day without a time zone (the recipient's own applies)")
CONTACT_ORDER = N_("Contact hours: the end must come after the start (00:00 is midnight)")
NO_OVERLAP = N_("Dayparts: none of the chosen dayparts overlaps the contact hours")
KEYWORD_SHAPE = N_(
    "Opt-out keywords: use letters, digits and spaces only (at most 40 characters each)"
)
BLANK_CONFIRMATION = N_("Confirmation text: write the message sent after an opt-out")
BLANK_CAMPAIGN_NAME = N_("Name: give the campaign a name")
BLANK_VARIANT = N_("Message: a variant is empty")
LONG_VARIANT = N_("Message: a variant has at most 4096 characters")


#: Field names as the form and the error messages show them.
LABELS = {
    "name": N_("Name"),
    "number_hourly_cap": N_("Messages per hour per number"),
    "number_daily_cap": N_("Messages per day per number"),
    "campaign_hourly_cap": N_("Messages per hour per campaign"),
    "campaign_daily_cap": N_("Messages per day per campaign"),
    "min_gap_seconds": N_("Minimum gap between sends (s)"),
    "weekdays": N_("Weekdays"),
    "dayparts": N_("Dayparts"),
    "contact_start": N_("Contact hours start"),
    "contact_end": N_("Contact hours end"),
    "skip_holidays": N_("No sends on holidays"),
    "optout_keywords": N_("Extra opt-out keywords"),
    "confirmation_text": N_("Opt-out confirmation"),
    "validity_minutes": N_("Validity (minutes)"),
    "duplicate_limit": N_("Same text: at most"),
    "duplicate_window_minutes": N_("Same text: within (minutes)"),
}


def fold(text: str) -> str:
    """A keyword as it is compared: accents removed, upper case, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.upper().split())


class OutreachPolicyIn(BaseModel):
    """An outreach policy as the API takes it (and the form builds it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    number_hourly_cap: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Messages per hour per sending number under this policy; null = the "
        "number's own cap. Never above the tenant's per-number cap.",
    )
    number_daily_cap: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="Messages per day per sending number; null = the number's own cap. "
        "Never above the tenant's per-number cap.",
    )
    campaign_hourly_cap: int | None = Field(
        default=None,
        ge=1,
        le=100000,
        description="Messages per hour of one campaign, all its numbers together; null = none.",
    )
    campaign_daily_cap: int | None = Field(
        default=None,
        ge=1,
        le=1000000,
        description="Messages per day of one campaign, all its numbers together; null = none.",
    )
    min_gap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=86400,
        description="Minimum seconds between two sends of a number; null = the number's own. "
        "Never below the tenant's minimum gap.",
    )
    weekdays: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        min_length=1,
        max_length=7,
        description="Allowed weekdays in the recipient's local time, 0 = Monday … 6 = Sunday.",
    )
    dayparts: list[Daypart] = Field(
        default_factory=lambda: list(Daypart),
        min_length=1,
        max_length=4,
        description="Allowed parts of the recipient's day: night 00–06, morning 06–12, "
        "afternoon 12–18, evening 18–24.",
    )
    contact_start: time = Field(
        default=time(8, 0), description="Contact hours start, recipient's local time."
    )
    contact_end: time = Field(
        default=time(18, 0),
        description="Contact hours end (exclusive), recipient's local time; 00:00 = midnight.",
    )
    skip_holidays: bool = Field(
        default=True,
        description="No sends on public holidays where the recipient is (national + state).",
    )
    optout_keywords: list[str] = Field(
        default_factory=list,
        max_length=MAX_KEYWORDS,
        description="Extra opt-out keywords, on top of the built-in ones (PARAR, SAIR, STOP…).",
    )
    confirmation_text: str = Field(
        default=DEFAULT_CONFIRMATION,
        max_length=500,
        description="Sent once to a contact who opts out.",
    )
    validity_minutes: int = Field(
        default=DEFAULT_VALIDITY_MINUTES,
        ge=5,
        le=MAX_VALIDITY_MINUTES,
        description="How late a message may still go out after its planned time; later, it "
        "expires (skipped, never sent late).",
    )
    duplicate_limit: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="At most this many sends of the same text in the window (any number).",
    )
    duplicate_window_minutes: int = Field(default=60, ge=1, le=1440)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError(BLANK_NAME)
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in v):
            raise ValueError(N_("Weekdays: use 0 (Monday) to 6 (Sunday)"))
        return sorted(set(v))

    @field_validator("dayparts")
    @classmethod
    def _dayparts(cls, v: list[Daypart]) -> list[Daypart]:
        return sorted(set(v), key=list(Daypart).index)

    @field_validator("contact_start", "contact_end")
    @classmethod
    def _naive(cls, v: time) -> time:
        if v.tzinfo is not None:
            raise ValueError(ZONED_TIME)
        return v.replace(second=0, microsecond=0)

    @field_validator("optout_keywords")
    @classmethod
    def _keywords(cls, v: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for raw in v:
            word = " ".join(raw.split())
            if not word:
                continue
            if len(word) > 40 or not _KEYWORD.match(word) or not any(c.isalpha() for c in word):
                raise ValueError(KEYWORD_SHAPE)
            seen.setdefault(fold(word), word)
        return list(seen.values())

    @field_validator("confirmation_text")
    @classmethod
    def _confirmation(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError(BLANK_CONFIRMATION)
        return v

    @model_validator(mode="after")
    def _hours(self) -> OutreachPolicyIn:
        problems = dict(self.rules().problems())
        if "contact_end" in problems:
            raise ValueError(CONTACT_ORDER)
        if "dayparts" in problems:
            raise ValueError(NO_OVERLAP)
        return self

    def rules(self) -> OutreachRules:
        """The policy engine's view (the tenant's own limits are applied by the engine)."""
        return OutreachRules(
            contact_start=self.contact_start,
            contact_end=self.contact_end,
            weekdays=frozenset(self.weekdays),
            dayparts=frozenset(self.dayparts),
            skip_holidays=self.skip_holidays,
            number_hourly_cap=self.number_hourly_cap,
            number_daily_cap=self.number_daily_cap,
            campaign_hourly_cap=self.campaign_hourly_cap,
            campaign_daily_cap=self.campaign_daily_cap,
            min_gap_seconds=self.min_gap_seconds or 0,
            duplicate_limit=self.duplicate_limit,
            duplicate_window_seconds=self.duplicate_window_minutes * 60,
        )


class OutreachPolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    number_hourly_cap: int | None
    number_daily_cap: int | None
    campaign_hourly_cap: int | None
    campaign_daily_cap: int | None
    min_gap_seconds: int | None
    weekdays: list[int]
    dayparts: list[str]
    contact_start: str = Field(pattern=CLOCK, examples=["08:00"])
    contact_end: str = Field(pattern=CLOCK, examples=["18:00"], description="00:00 = midnight")
    skip_holidays: bool
    optout_keywords: list[str]
    confirmation_text: str
    validity_minutes: int
    duplicate_limit: int
    duplicate_window_minutes: int
    created_at: datetime
    updated_at: datetime

    @field_validator("contact_start", "contact_end", mode="before")
    @classmethod
    def _clock(cls, v: object) -> object:
        # A wall-clock time without a zone: "HH:MM" (JSON Schema's "time" format would
        # demand an offset, which the recipient's own zone replaces).
        return f"{v:%H:%M}" if isinstance(v, time) else v


# --- campaigns ------------------------------------------------------------------------------


class CampaignIn(BaseModel):
    """A campaign draft: its message variants (variables and spintax, `outreach.render`),
    its audience by tags and the policy it sends under."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    policy_id: uuid.UUID
    variants: list[str] = Field(
        min_length=1,
        max_length=MAX_VARIANTS,
        description="The message, one text per variant (each recipient gets one, chosen per "
        "recipient): {nome}, {primeiro_nome}, {custom_field}, {field:fallback}, {Oi|Olá}.",
        examples=[["{Oi|Olá} {primeiro_nome:tudo bem}! Temos novidades para {cidade:você}."]],
    )
    include_tag_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=50,
        description="Contacts with any of these tags; empty = every contact.",
    )
    exclude_tag_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="Contacts with none of these tags."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError(BLANK_CAMPAIGN_NAME)
        return v

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: list[str]) -> list[str]:
        cleaned = [text.strip() for text in v]
        if any(not text for text in cleaned):
            raise ValueError(BLANK_VARIANT)
        if any(len(text) > MAX_TEXT for text in cleaned):
            raise ValueError(LONG_VARIANT)
        return cleaned

    @field_validator("include_tag_ids", "exclude_tag_ids")
    @classmethod
    def _tags(cls, v: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(v))


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    policy_id: uuid.UUID
    state: str
    variants: list[str]
    include_tag_ids: list[uuid.UUID]
    exclude_tag_ids: list[uuid.UUID]
    sender_ids: list[uuid.UUID] = Field(default_factory=list)
    start_at: datetime | None = None
    end_by: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    frozen_count: int = Field(default=0, description="Recipients frozen at start.")
    created_at: datetime
    updated_at: datetime


class PreviewIn(BaseModel):
    """What to preview: a message and an audience (a draft not saved yet), optionally for
    chosen contacts."""

    model_config = ConfigDict(extra="forbid")

    variants: list[str] = Field(min_length=1, max_length=MAX_VARIANTS)
    include_tag_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    exclude_tag_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    policy_id: uuid.UUID | None = Field(
        default=None, description="The policy whose duplicate guard the warning checks."
    )
    contact_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=20, description="Render for these contacts instead."
    )
    limit: int = Field(default=5, ge=1, le=20, description="How many contacts to render for.")


class VariantInfo(BaseModel):
    index: int
    distinct_texts: int = Field(description="How many different texts its spintax gives.")
    variables: list[str]


class PreviewSample(BaseModel):
    contact_id: uuid.UUID
    name: str | None
    phone_e164: str
    variant: int
    text: str
    missing: list[str] = Field(description="Variables without a value and without a fallback.")
    too_long: bool
    skipped: str | None = Field(
        description="Why this contact would get nothing: suppressed, opted_out, no_basis, "
        "consent_revoked; null = it would be messaged."
    )


class PreviewOut(BaseModel):
    audience: int
    reachable: int
    more: bool = Field(description="The audience has more contacts than counted.")
    variants: list[VariantInfo]
    samples: list[PreviewSample]
    distinct_texts: int = Field(description="Different texts all the variants can give.")
    duplicate_warning: bool = Field(
        description="With a policy: the distinct texts times its duplicate limit are fewer "
        "than the reachable audience, so the guard (at most N sends of one text per window) "
        "will stretch the campaign over several windows. Add variants or spintax."
    )


# --- execution ------------------------------------------------------------------------------


class StartIn(BaseModel):
    """Start a draft: the audience is frozen now; sends go out from ``start_at`` (now when
    absent or past) until ``end_by`` (what is not sent by then expires)."""

    model_config = ConfigDict(extra="forbid")

    sender_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=200,
        description="The tenant's numbers to send from (a contact always hears from the same "
        "one; a number that stops being able to send hands its queue to the others).",
    )
    start_at: AwareDatetime | None = None
    end_by: AwareDatetime | None = None


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender_id: uuid.UUID = Field(description="The number that sends the test.")
    to_instance_id: uuid.UUID = Field(description="One of the tenant's own numbers receives it.")


class TestSendOut(BaseModel):
    outgoing_id: uuid.UUID
    text: str
    planned_at: datetime


class RecipientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    contact_id: uuid.UUID
    phone_e164: str
    status: RecipientStatus
    reason: str | None
    sender_id: uuid.UUID | None
    reassigned_from: uuid.UUID | None
    reassigned_at: datetime | None
    variant: int | None
    planned_at: datetime | None
    valid_until: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    replied_at: datetime | None
    opted_out_at: datetime | None = Field(
        default=None, description="When the person opted out after this campaign's message."
    )


class RecipientPage(BaseModel):
    items: list[RecipientOut]
    next_cursor: str | None = Field(description="Pass as ``cursor`` for the next page.")


class FunnelOut(BaseModel):
    state: str
    total: int
    planned: int
    deferred: int
    sent: int = Field(description="Sent, including those delivered, read and replied since.")
    delivered: int = Field(description="Delivered, including those read and replied since.")
    read: int
    replied: int
    failed: dict[str, int] = Field(description="Failures by reason.")
    expired: dict[str, int]
    skipped: dict[str, int] = Field(description="Skipped by reason.")
    opted_out: int = Field(
        default=0,
        description="Recipients who opted out after the campaign's message reached them "
        "(within the reply window).",
    )
