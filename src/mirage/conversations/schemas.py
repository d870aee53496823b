"""Conversation shapes for the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mirage.kit.i18n import N_

WINDOWS_DOC = (
    'Weekday ("0" = Monday) to [["HH:MM", "HH:MM"], ...] in the tenant zone ("00:00" as an '
    "end is midnight). Ranges lie inside one day, start before they end, last at least 15 "
    "minutes and do not overlap."
)
PAUSES_ORDER = N_("the minimum pause must not be longer than the maximum pause")
DELAYS_BOTH = N_("give both delays (minimum and maximum), or neither")
DELAYS_ORDER = N_("the maximum delay must be at least the minimum delay")
NUMBER_TWICE = N_("a number can take part only once")
TOPICS_NONE = N_("give at least one topic")
TOPIC_LONG = N_("a topic has at most 80 characters")


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: uuid.UUID
    persona_id: uuid.UUID


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    participants: list[ParticipantIn] = Field(min_length=2, max_length=4)
    topics: list[str] = Field(min_length=1, max_length=20)
    delay_min_s: int | None = Field(default=None, ge=1, le=3600)
    delay_max_s: int | None = Field(default=None, ge=1, le=3600)
    schedule_source: Literal["default", "own"] | None = Field(
        default=None,
        description='"default": follow the tenant\'s default schedule (its changes apply); '
        '"own": the windows, rounds per window and pauses given here (missing ones are '
        "copied from the default). Omitted: own when any of them is given, else default.",
    )
    rounds_per_window: int | None = Field(default=None, ge=1, le=50)
    pause_min_s: int | None = Field(default=None, ge=60, le=86400)
    pause_max_s: int | None = Field(default=None, ge=60, le=86400)
    windows: dict[str, list[list[str]]] | None = Field(default=None, description=WINDOWS_DOC)
    state: Literal["active", "paused"] = "active"

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: list[str]) -> list[str]:
        return clean_topics(v)

    @field_validator("delay_max_s")
    @classmethod
    def _delay_order(cls, v: int | None, info: ValidationInfo) -> int | None:
        # A field's own check, so it is reported with the others (a model check is not).
        low = info.data.get("delay_min_s")
        if low is not None and v is not None and v < low:
            raise ValueError(DELAYS_ORDER)
        return v

    @field_validator("participants")
    @classmethod
    def _participants(cls, v: list[ParticipantIn]) -> list[ParticipantIn]:
        check_participants(v)
        return v

    @model_validator(mode="after")
    def _checks(self) -> ConversationIn:
        check_delays(self.delay_min_s, self.delay_max_s)
        check_pauses(self.pause_min_s, self.pause_max_s)
        return self

    def schedule_given(self) -> bool:
        return any(
            v is not None
            for v in (self.windows, self.rounds_per_window, self.pause_min_s, self.pause_max_s)
        )


def clean_topics(v: list[str]) -> list[str]:
    topics = [" ".join(t.split()) for t in v if t and t.strip()]
    if not topics:
        raise ValueError(TOPICS_NONE)
    if any(len(t) > 80 for t in topics):
        raise ValueError(TOPIC_LONG)
    return list(dict.fromkeys(topics))


def check_delays(low: int | None, high: int | None) -> None:
    if (low is None) != (high is None):
        raise ValueError(DELAYS_BOTH)
    if low and high and high < low:
        raise ValueError(DELAYS_ORDER)


def check_pauses(low: int | None, high: int | None) -> None:
    if low is not None and high is not None and high < low:
        raise ValueError(PAUSES_ORDER)


def check_participants(participants: list[ParticipantIn] | None) -> None:
    ids = [p.instance_id for p in participants or ()]
    if len(set(ids)) != len(ids):
        raise ValueError(NUMBER_TWICE)


class ScheduleIn(BaseModel):
    """A schedule: weekly windows, rounds per window and the pause between rounds."""

    model_config = ConfigDict(extra="forbid")

    windows: dict[str, list[list[str]]] = Field(description=WINDOWS_DOC)
    rounds_per_window: int = Field(ge=1, le=50)
    pause_min_s: int = Field(ge=60, le=86400, description="shortest pause between two rounds")
    pause_max_s: int = Field(ge=60, le=86400, description="longest pause between two rounds")

    @model_validator(mode="after")
    def _checks(self) -> ScheduleIn:
        check_pauses(self.pause_min_s, self.pause_max_s)
        return self


class ConversationScheduleIn(BaseModel):
    """A conversation's schedule: ``{"source": "default"}`` follows the tenant default;
    ``"own"`` sets it (fields left out keep their current values)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["default", "own"] = "own"
    windows: dict[str, list[list[str]]] | None = Field(default=None, description=WINDOWS_DOC)
    rounds_per_window: int | None = Field(default=None, ge=1, le=50)
    pause_min_s: int | None = Field(default=None, ge=60, le=86400)
    pause_max_s: int | None = Field(default=None, ge=60, le=86400)

    @model_validator(mode="after")
    def _checks(self) -> ConversationScheduleIn:
        check_pauses(self.pause_min_s, self.pause_max_s)
        return self


class ScheduleOut(BaseModel):
    source: str
    windows: dict[str, list[list[str]]]
    rounds_per_window: int
    pause_min_s: int
    pause_max_s: int


class DefaultScheduleOut(ScheduleOut):
    conversations_following: int = Field(description="conversations a change of it re-plans")
    conversations_own: int = Field(description="conversations with their own schedule")


class ConversationPatch(BaseModel):
    """Change a conversation: only the fields given change. ``delay_min_s``/``delay_max_s``
    null go back to the tenant's delays; schedule fields as in ``ConversationScheduleIn``."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=80)
    participants: list[ParticipantIn] | None = Field(default=None, min_length=2, max_length=4)
    topics: list[str] | None = Field(default=None, min_length=1, max_length=20)
    delay_min_s: int | None = Field(default=None, ge=1, le=3600)
    delay_max_s: int | None = Field(default=None, ge=1, le=3600)
    schedule_source: Literal["default", "own"] | None = None
    windows: dict[str, list[list[str]]] | None = Field(default=None, description=WINDOWS_DOC)
    rounds_per_window: int | None = Field(default=None, ge=1, le=50)
    pause_min_s: int | None = Field(default=None, ge=60, le=86400)
    pause_max_s: int | None = Field(default=None, ge=60, le=86400)

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else clean_topics(v)

    @field_validator("delay_max_s")
    @classmethod
    def _delay_order(cls, v: int | None, info: ValidationInfo) -> int | None:
        # A field's own check, so it is reported with the others (a model check is not).
        low = info.data.get("delay_min_s")
        if low is not None and v is not None and v < low:
            raise ValueError(DELAYS_ORDER)
        return v

    @field_validator("participants")
    @classmethod
    def _participants(cls, v: list[ParticipantIn] | None) -> list[ParticipantIn] | None:
        check_participants(v)
        return v

    @model_validator(mode="after")
    def _checks(self) -> ConversationPatch:
        if "delay_min_s" in self.model_fields_set or "delay_max_s" in self.model_fields_set:
            check_delays(self.delay_min_s, self.delay_max_s)
        check_pauses(self.pause_min_s, self.pause_max_s)
        return self

    def schedule(self) -> ConversationScheduleIn | None:
        fields = ("windows", "rounds_per_window", "pause_min_s", "pause_max_s")
        if self.schedule_source is None and not any(getattr(self, f) is not None for f in fields):
            return None
        return ConversationScheduleIn(
            source=self.schedule_source or "own", **{f: getattr(self, f) for f in fields}
        )


class ParticipantOut(BaseModel):
    instance_id: uuid.UUID
    instance_name: str
    persona_id: uuid.UUID
    persona_name: str


class ConversationOut(BaseModel):
    id: uuid.UUID
    name: str
    state: str
    topics: list[str]
    delay_min_s: int | None
    delay_max_s: int | None
    rounds_per_window: int = Field(description="the schedule in effect (own or the default)")
    windows: dict[str, list[list[str]]] = Field(description="the windows in effect")
    schedule: ScheduleOut
    participants: list[ParticipantOut]
    next_round_at: datetime | None
    last_round_at: datetime | None
    waiting_reason: str | None = Field(
        default=None,
        description="Set while fewer than two of its numbers can send (which, and why): no "
        "rounds are planned until two can again.",
    )
    paused_reason: str | None = Field(
        default=None, description="Why the system paused it (e.g. one of its numbers deleted)."
    )
    created_at: datetime


class SlotOut(BaseModel):
    conversation_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime = Field(description="until when it holds its numbers")
    instance_ids: list[uuid.UUID]
    round_id: uuid.UUID | None
    state: str = Field(description="planned, or the state of the round made from it")


class CalendarDayOut(BaseModel):
    date: str
    quiet: list[list[str]] = Field(description="quiet hours of the day, local [start, end]")


class CalendarConversationOut(BaseModel):
    id: uuid.UUID
    name: str
    state: str
    schedule: ScheduleOut
    instance_ids: list[uuid.UUID]


class CalendarOut(BaseModel):
    timezone: str
    start: datetime
    end: datetime
    days: list[CalendarDayOut]
    conversations: list[CalendarConversationOut]
    slots: list[SlotOut] = Field(description="the engine's plan and the rounds made from it")


class TurnOut(BaseModel):
    turn: int
    sender_instance_id: uuid.UUID
    text: str
    status: str
    delivery: str | None
    planned_at: datetime
    sent_at: datetime | None
    read_ms: int
    think_ms: int
    typing_ms: int
    generation_source: str | None
    repetition_score: float | None


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    reason: str
    until: datetime | None
    detail: str | None
    created_at: datetime


class RoundOut(BaseModel):
    id: uuid.UUID
    state: str
    topic: str
    exchanges: int
    turns_sent: int
    planned_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    turns: list[TurnOut]
    decisions: list[DecisionOut]
