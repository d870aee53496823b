"""API shapes for /me and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    timezone: str


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str


class MeOut(BaseModel):
    kind: Literal["user", "token"]
    tenant: TenantOut
    role: Literal["owner", "admin", "operator", "viewer"]
    scopes: list[str]
    user: UserOut | None
    token_id: uuid.UUID | None


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=80)
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, max_length=3)
    expires_at: AwareDatetime | None = None


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    hint: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    step_up: bool = Field(
        description="Created right after a two-factor confirmation (a step-up): with the admin "
        "scope, the token may do sensitive operations."
    )


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown once, store it now.")
