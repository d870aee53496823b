"""API shapes for numbers."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mirage.kit.errors import ValidationFailed
from mirage.policy import Health
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
    health_reason: str | None
    first_connected_at: datetime | None
    paused: bool = Field(description="Paused by an operator: it sends nothing until resumed.")
    paused_reason: str | None = None
    created_at: datetime


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
