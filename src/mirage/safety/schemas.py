"""What /api/v1 says about a number's safety."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mirage.policy import Band
from mirage.safety import reasons


class ReasonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1, max_length=300, description="Why (kept in the audit log and the timeline)."
    )

    @field_validator("reason")
    @classmethod
    def _storable(cls, v: str) -> str:
        # The reason goes into the audit log's JSONB, which cannot hold a NUL character.
        if "\x00" in v:
            raise ValueError("the reason must not contain NUL characters")
        if not v.strip():
            raise ValueError("say why: the reason cannot be blank")
        return v


class SignalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(description="Timeline order (pass the last one as `before` for more).")
    kind: str = Field(
        description="disconnect, send_failed, not_acked, time_lock, opt_out, blocked, qr_loop, "
        "unanswered, low_replies, low_delivery, low_reads, new_contacts; "
        "or an action: band_changed, auto_paused, quarantined, released, recovery."
    )
    code: int | None = Field(description="A disconnect's code (e.g. 401, 403), or 463.")
    detail: str | None = Field(description="What happened, in English words.")
    detail_code: str | None = Field(
        default=None,
        description="The detail's stable code (e.g. low_delivery, band_change, score_jump); "
        "null for free text (an operator's words, an error message).",
    )
    score: int | None = Field(description="The risk score right after this entry.")
    at: datetime

    @model_validator(mode="before")
    @classmethod
    def _readable(cls, data: Any) -> Any:
        # Details are stored coded (safety.reasons): the API gives the words and the code.
        if not isinstance(data, dict):
            data = {name: getattr(data, name, None) for name in cls.model_fields}
        raw = data.get("detail")
        return {**data, "detail": reasons.english(raw), "detail_code": reasons.code_of(raw)}


class ScorePoint(BaseModel):
    at: datetime
    score: int


class RiskOut(BaseModel):
    instance_id: uuid.UUID
    score: int = Field(description="0 (no known risk) to 100, decayed to now.")
    band: Band = Field(
        description="green: full caps; yellow: caps halved, few new contacts; orange: replies "
        "and warm-up only; red: replies only; critical: paused."
    )


class RiskDetailOut(RiskOut):
    last_24h: list[ScorePoint] = Field(description="The score every 30 minutes, oldest first.")


class SafetySettings(BaseModel):
    """The tenant's number-safety settings (docs/number-safety.md gives each default's
    source)."""

    # Strict: a JSON true is not a number here (Pydantic would take it as 1).
    model_config = ConfigDict(extra="forbid", from_attributes=True, strict=True)

    risk_yellow_from: int = Field(20, ge=1, le=100, description="Lowest score of yellow.")
    risk_orange_from: int = Field(40, ge=1, le=100, description="Lowest score of orange.")
    risk_red_from: int = Field(60, ge=1, le=100, description="Lowest score of red.")
    risk_critical_from: int = Field(80, ge=1, le=100, description="Lowest score of critical.")
    risk_half_life_minutes: int = Field(
        120, ge=1, le=10_080, description="A signal weighs half as much after this long."
    )
    band_new_contacts_per_day: int = Field(
        5, ge=0, le=10_000, description="Yellow band: campaign sends to new contacts a day."
    )
    auto_pause_error_pct: int = Field(
        50, ge=1, le=100, description="Pause when this share of the hour's sends failed…"
    )
    auto_pause_min_sends: int = Field(5, ge=1, le=10_000, description="…once this many were made.")
    auto_pause_score_jump: int = Field(
        20, ge=1, le=100, description="Pause when one signal raises the score this much."
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event: str = Field(description="opened, resolved or test: which notification.")
    channel: str = Field(description="webhook or email.")
    attempt: int = Field(description="1 for the first try; retries count up.")
    outcome: str = Field(
        description="sent; failed (tried again later, unless `final`); refused (the target "
        "is not allowed or answered that it will not take it: not tried again)."
    )
    status: int | None = Field(description="The HTTP status or SMTP reply code, if any.")
    detail: str | None
    final: bool = Field(description="No further attempt will be made.")
    at: datetime


class AlertOut(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="risk_band, quarantine, or test (the test action).")
    state: str = Field(description="open or resolved.")
    band: str | None = Field(description="The worst band seen while the alert was open.")
    instance_id: uuid.UUID | None
    number_name: str | None
    reason: str | None = Field(description="Why it opened, in English.")
    reason_code: str | None = Field(
        description="The reason's stable code (e.g. band_signal, banned, critical); null for "
        "free text."
    )
    opened_at: datetime
    resolved_at: datetime | None
    resolved_reason: str | None = Field(description="Why it was resolved, in English.")
    resolved_reason_code: str | None = Field(
        description="The resolution's stable code (back_in_band, released_because)."
    )
    deliveries: list[DeliveryOut]
