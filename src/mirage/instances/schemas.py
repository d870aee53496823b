"""API shapes for numbers."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mirage.kit.errors import ValidationFailed
from mirage.policy import WARMUP_RAMP, Band, Health
from mirage.providers.models import ConnectionState

# Pages of numbers (name order, keyset): the API's default and largest page, the dashboard's.
DEFAULT_PAGE = 100
MAX_PAGE = 200
DASHBOARD_PAGE = 50
# A cursor holds a display name (at most 80 characters) and an id: never longer than this.
MAX_CURSOR = 600


def encode_cursor(display_name: str, instance_id: uuid.UUID) -> str:
    """An opaque cursor for the number that a page starts after (or ends before)."""
    raw = json.dumps([display_name, str(instance_id)], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, uuid.UUID] | None:
    """The (display_name, id) of a cursor; a cursor that is not one of ours is a 422."""
    if not cursor:
        return None
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, rid = json.loads(raw)
        if not isinstance(name, str) or not isinstance(rid, str) or "\x00" in name:
            raise ValueError
        return name, uuid.UUID(rid)
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        raise ValidationFailed(
            "invalid cursor: use the one from a previous page's next link"
        ) from None


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str = Field(min_length=1, max_length=80, description="A name for the number.")


class InstanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str
    gateway_name: str
    state: ConnectionState
    state_reason: int | None = Field(
        description="Why the connection last changed: the gateway's disconnect code (e.g. 401 "
        "logged out from the phone, 403 blocked), or 1401, Mirage's own code for a logout by an "
        "operator (no fault: health is not degraded)."
    )
    connected: bool = Field(
        description="Open and identified (its WhatsApp account is known): the number can send."
    )
    needs_pairing: bool
    phone: str | None
    profile_name: str | None
    health: Health
    health_reason: str | None = Field(
        description="Why the health verdict, readable (English); see `health_reason_code`."
    )
    health_reason_code: str | None = Field(
        default=None,
        description="A stable code when the number was quarantined automatically: `banned` "
        "(a ban or restriction code), `critical` (the risk score reached the critical band) or "
        "`dead` (the recovery ladder ran out); null otherwise (a health verdict from the "
        "gateway's signals, or an admin's own words).",
    )
    first_connected_at: datetime | None
    paused: bool = Field(
        description="Paused (by an operator, or automatically): it sends nothing until resumed."
    )
    paused_reason: str | None = Field(
        default=None,
        description="Why, readable (English): an operator's words or an "
        "automatic reason's text; see `paused_reason_code`.",
    )
    paused_reason_code: str | None = Field(
        default=None,
        description="A stable code when the pause was automatic: `time_lock` (WhatsApp's "
        "reach-out time lock, 463), `error_rate` (too many of the hour's sends failed), "
        "`score_jump` (the risk score jumped), or `released` (back from quarantine, paused until "
        "an operator resumes it); null for an operator's pause.",
    )
    created_at: datetime
    risk_score: int = Field(0, description="The live risk score, 0 (no known risk) to 100.")
    risk_band: Band = Field(
        Band.GREEN,
        description="green: full caps; yellow: caps halved, few new contacts; orange: replies "
        "and warm-up only; red: replies only; critical: paused.",
    )
    warmup_stage: int | None = Field(
        None,
        description="The warm-up stage earned by health, 0 to `warmup_stages` − 1 (it climbs "
        "a step each day the number sends and stays green, steps back when it leaves green, "
        "starts over after 3 idle days); null before it ever connected.",
    )
    warmup_stages: int = Field(len(WARMUP_RAMP), description="How many stages there are.")
    sends_today: int = Field(
        0, description="Messages sent today (the tenant's local day), as the caps count them."
    )
    sends_last_hour: int = Field(0, description="Messages sent in the rolling last hour.")
    daily_cap_effective: int = Field(
        0,
        description="What the number may send today: the smaller of its daily cap and the "
        "warm-up ramp's (age and stage), halved in a yellow, orange or red band or while "
        "degraded; 0 when it may not send at all (quarantined, banned, critical). A campaign's "
        "outreach policy may lower it further for that campaign's sends.",
    )
    hourly_cap_effective: int = Field(
        0, description="What it may send in a rolling hour (halved likewise)."
    )
    caps_tightened: bool = Field(
        False, description="The caps are halved (the risk band or a degraded health)."
    )


class PairingOut(BaseModel):
    state: str
    qr_png_data_url: str | None = Field(description="A data: URL of the QR PNG to scan.")
    pairing_code: str | None
    qr_count: int


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200, description="Why, for the team.")

    @field_validator("reason")
    @classmethod
    def _storable(cls, v: str | None) -> str | None:
        # The reason goes into the audit log's JSONB, which cannot hold a NUL character.
        if v is not None and "\x00" in v:
            raise ValueError("the reason must not contain NUL characters")
        return v


class PairingCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=8, max_length=20, description="E.g. 5511999998888")
