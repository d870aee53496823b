"""Who a request acts as: a signed-in user in a tenant, or an API token of a tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from mirage.models.tenancy import Role

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")

# The scopes a role may hold (a token never gets more than its creator's role allows).
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset({"read"}),
    Role.OPERATOR: frozenset({"read", "write"}),
    Role.ADMIN: frozenset({"read", "write", "admin"}),
    Role.OWNER: frozenset({"read", "write", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "token"]
    tenant_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    ip: str | None = None
    # Two-factor state (auth.stepup decides with it): a user's enrollment and their session's
    # last MFA verification; a token's "created under a step-up".
    mfa_enrolled: bool = False
    mfa_verified_at: datetime | None = None
    step_up: bool = False

    def can(self, scope: str) -> bool:
        return scope in self.scopes
