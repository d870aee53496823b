"""Persona shapes for the API and the dashboard form."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mirage.ai.persona import PersonaSpec

Phrase = str


class Greetings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    morning: list[str] = Field(min_length=1, max_length=20)
    afternoon: list[str] = Field(min_length=1, max_length=20)
    night: list[str] = Field(min_length=1, max_length=20)

    @field_validator("morning", "afternoon", "night")
    @classmethod
    def _clean(cls, v: list[str]) -> list[str]:
        cleaned = [" ".join(p.split()) for p in v if p and p.strip()]
        if not cleaned:
            raise ValueError("give at least one greeting")
        if any(len(p) > 60 for p in cleaned):
            raise ValueError("a greeting has at most 60 characters")
        return cleaned


class PersonaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    style: Literal["formal", "casual", "playful"]
    vocabulary: list[str] = Field(default_factory=list, max_length=30)
    emoji_rate: float = Field(ge=0, le=1)
    typo_rate: float = Field(ge=0, le=0.5)
    min_length: int = Field(ge=1, le=500)
    max_length: int = Field(ge=5, le=1000)
    greetings: Greetings
    language: Literal["pt-BR"] = "pt-BR"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("the name must not be blank")
        return v

    @field_validator("vocabulary")
    @classmethod
    def _vocab(cls, v: list[str]) -> list[str]:
        words = [w.strip() for w in v if w and w.strip()]
        if any(len(w) > 40 for w in words):
            raise ValueError("a vocabulary hint has at most 40 characters")
        return list(dict.fromkeys(words))

    @model_validator(mode="after")
    def _lengths(self) -> PersonaIn:
        if self.max_length < self.min_length:
            raise ValueError("max_length must be at least min_length")
        # The generator's own rules (length span, greeting/daypart consistency, no emoji in
        # greetings): a persona stored here must be usable at reply time.
        try:
            self.to_spec()
        except ValueError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def to_spec(self) -> PersonaSpec:
        return PersonaSpec(
            name=self.name,
            style=self.style,
            vocabulary=tuple(self.vocabulary),
            emoji_rate=self.emoji_rate,
            typo_rate=self.typo_rate,
            min_length=self.min_length,
            max_length=self.max_length,
            greetings={
                "morning": tuple(self.greetings.morning),
                "afternoon": tuple(self.greetings.afternoon),
                "night": tuple(self.greetings.night),
            },
            language=self.language,
        )


class PersonaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    style: str
    vocabulary: list[str]
    emoji_rate: float
    typo_rate: float
    min_length: int
    max_length: int
    greetings: dict[str, list[str]]
    language: str
    created_at: datetime
