"""Conversation shapes for the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    rounds_per_window: int = Field(default=3, ge=1, le=50)
    windows: dict[str, list[list[str]]] | None = Field(
        default=None,
        description='Weekday ("0" = Monday) to [["HH:MM", "HH:MM"], ...] in the tenant zone; '
        "omitted = 08–12, 13–18, 19–21:30 every day.",
    )
    state: Literal["active", "paused"] = "active"

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: list[str]) -> list[str]:
        topics = [" ".join(t.split()) for t in v if t and t.strip()]
        if not topics:
            raise ValueError("give at least one topic")
        if any(len(t) > 80 for t in topics):
            raise ValueError("a topic has at most 80 characters")
        return list(dict.fromkeys(topics))

    @model_validator(mode="after")
    def _checks(self) -> ConversationIn:
        if (self.delay_min_s is None) != (self.delay_max_s is None):
            raise ValueError("give both delay_min_s and delay_max_s, or neither")
        if self.delay_min_s and self.delay_max_s and self.delay_max_s < self.delay_min_s:
            raise ValueError("delay_max_s must be at least delay_min_s")
        ids = [p.instance_id for p in self.participants]
        if len(set(ids)) != len(ids):
            raise ValueError("a number can take part only once")
        return self


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
    rounds_per_window: int
    windows: dict[str, list[list[str]]]
    participants: list[ParticipantOut]
    next_round_at: datetime | None
    last_round_at: datetime | None
    waiting_reason: str | None = Field(
        default=None,
        description="Set while fewer than two of its numbers can send (which, and why): no "
        "rounds are planned until two can again.",
    )
    created_at: datetime


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
