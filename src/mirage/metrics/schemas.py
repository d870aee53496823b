"""The metrics API's documents. Every series covers the period asked for (``days``: the last N
whole days in the tenant's time zone, today included) and, when given, one number."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class PeriodOut(BaseModel):
    start: datetime = Field(description="Start of the period (UTC, inclusive).")
    end: datetime = Field(description="End of the period (UTC, exclusive).")
    days: int
    time_zone: str = Field(description="The tenant's zone: days and hours are counted in it.")
    number: uuid.UUID | None = Field(None, description="The number filtered on, if any.")
    conversation: uuid.UUID | None = Field(
        None, description="The warm-up conversation filtered on, if any."
    )


class DayOut(BaseModel):
    day: date = Field(description="A day in the tenant's zone.")
    sent: int = Field(description="Outgoing messages created that day (every kind).")
    received: int = Field(description="Incoming messages received that day.")
    failed: int = Field(description="Messages whose status is ERROR.")


class DailyOut(BaseModel):
    period: PeriodOut
    days: list[DayOut]


class HeatmapOut(BaseModel):
    period: PeriodOut
    cells: list[list[int]] = Field(
        description="Messages (both directions) by weekday (0 = Monday … 6 = Sunday) and hour "
        "of day (0–23), in the tenant's zone: cells[weekday][hour]."
    )


class NumberOut(BaseModel):
    id: uuid.UUID
    name: str
    sent: int
    received: int
    delivered: int = Field(description="Sent messages delivered (or read, or played).")
    read: int = Field(description="Sent messages read (or played).")
    replied: int = Field(
        description="Incoming messages from a contact the number wrote to in the 24 h before."
    )
    failed: int
    opted_out: int = Field(description="Incoming messages recorded as an opt-out.")
    delivered_pct: float | None = Field(description="delivered / sent, in %; null without sends.")
    read_pct: float | None
    reply_pct: float | None = Field(description="replied / sent, in %.")
    risk_score: int | None = Field(
        None, description="The number's risk score now (0-100; number safety), any period."
    )
    risk_band: str | None = Field(
        None, description="green, yellow, orange, red or critical (now); null if deleted."
    )
    warmup_stage: int | None = Field(
        None,
        description="The number's warm-up stage now (number safety: 0 and up, earned by green "
        "days with sends); null before it ever connected or if deleted.",
    )


class NumbersOut(BaseModel):
    period: PeriodOut
    numbers: list[NumberOut]


class CountOut(BaseModel):
    key: str = Field(description="A round's final state, or a policy decision's reason code.")
    action: str | None = Field(None, description="defer or deny (policy decisions only).")
    count: int


class CountsOut(BaseModel):
    period: PeriodOut
    counts: list[CountOut]


class CampaignFunnelOut(BaseModel):
    id: uuid.UUID
    name: str
    state: str = Field(description="draft, scheduled, running, paused, completed, cancelled.")
    started_at: datetime | None
    planned: int = Field(description="Every recipient frozen at the start.")
    sent: int = Field(description="Recipients sent to (or further: delivered, read, replied).")
    delivered: int = Field(description="Recipients whose message was delivered (or read…).")
    read: int
    replied: int
    waiting: int = Field(description="Planned or deferred: not sent yet.")
    failed: dict[str, int] = Field(description="Failed before a send, by reason.")
    expired: dict[str, int] = Field(description="Expired (validity or end time), by reason.")
    skipped: dict[str, int] = Field(
        description="Skipped (suppressed, no legal basis, not on WhatsApp, invalid), by reason."
    )


class CampaignsOut(BaseModel):
    period: PeriodOut
    campaigns: list[CampaignFunnelOut] = Field(
        description="Campaigns that ran during the period, newest first."
    )


class SummaryOut(BaseModel):
    """Every series of the Métricas page in one document."""

    period: PeriodOut
    days: list[DayOut]
    heatmap: list[list[int]]
    numbers: list[NumberOut]
    rounds: list[CountOut]
    decisions: list[CountOut]
    campaigns: list[CampaignFunnelOut]
    by_kind: dict[str, dict[str, int]] = Field(
        description="Messages by direction (inbound, outbound) and kind (warmup, campaign, manual)."
    )
    fresh_as_of: datetime | None = Field(
        description="Facts changed up to this instant are counted (the last refresh's watermark)."
    )
