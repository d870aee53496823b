"""Step-up: the one rule for sensitive operations.

A sensitive operation (create or delete a number, create an API token, change the security
settings, turn a kill switch off, change a member's role or remove a member, delete a contact
or erase a data subject) needs, from

- a signed-in user enrolled in MFA: a verification (an authenticator or recovery code) in this
  browser session within the tenant's step-up window (default 10 minutes);
- a signed-in owner or admin not enrolled while the tenant makes MFA mandatory (the default):
  nothing is allowed until they enroll (they can still look);
- an API token: the ``admin`` scope and having been created under a step-up.

Routes declare themselves sensitive by taking their principal from the guard dependencies
(``auth.deps.StepUpDashboardPrincipal`` / ``StepUpApiPrincipal``), which call ``require``;
``tests/auth/test_step_up_routes.py`` walks every registered route. A rule that depends on the
request's content (turning the kill switch *off*, not on) calls ``require`` from its service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.repository import MfaRepository
from mirage.kit.clock import utcnow
from mirage.kit.errors import DomainError, Forbidden
from mirage.kit.i18n import N_
from mirage.models.tenancy import Role

DEFAULT_MINUTES = 10
MAX_MINUTES = 240
ENROLL_PAGE = "/account/security"
VERIFY_PAGE = "/account/security/verify"

# The service functions that are sensitive operations: a route calling one of them must be
# guarded (tests/auth/test_step_up_routes.py reads every route's code for these names).
SENSITIVE_CALLS = (
    "create_instance",
    "delete_instance",
    "create_token",
    "update_security",
    "change_role",
    "remove_member",
    "delete_contact",
    "erase_subject",
    "start_campaign",
    "release_quarantine",
)


class MfaEnrollmentRequired(Forbidden):
    title = N_("Two-factor authentication required")
    type_slug = "mfa-enrollment-required"
    link = ENROLL_PAGE
    link_label = N_("Set up two-factor authentication")


class StepUpRequired(Forbidden):
    title = N_("Confirm it is you")
    type_slug = "step-up-required"
    link = VERIFY_PAGE
    link_label = N_("Confirm with your authenticator code")


ENROLL_FIRST = N_(
    "two-factor authentication is mandatory for owners and admins of this organization: set it "
    "up (Account → Two-factor authentication, /account/security) before doing this"
)
VERIFY_FIRST = N_(
    "this is a sensitive operation: confirm with a code from your authenticator app "
    "(/account/security/verify), then do it again"
)
TOKEN_SCOPE = N_(
    "this is a sensitive operation: it needs an API token with the 'admin' scope created under "
    "a step-up (in the dashboard, confirm your authenticator code, then create the token)"
)
TOKEN_STEP_UP = N_(
    "this is a sensitive operation: this API token was not created under a step-up; create a "
    "new one with the 'admin' scope right after confirming your authenticator code in the "
    "dashboard"
)


@dataclass(frozen=True)
class Rule:
    """The tenant's MFA rule (its security settings)."""

    mfa_required: bool = True
    minutes: int = DEFAULT_MINUTES

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.minutes)


async def rule(session: AsyncSession) -> Rule:
    """The current tenant's rule (the defaults while it has no settings row yet)."""
    found = await MfaRepository(session).tenant_rule()
    return Rule(*found) if found is not None else Rule()


def must_enroll(principal: Principal, r: Rule) -> bool:
    """A signed-in owner or admin without MFA in a tenant that makes it mandatory."""
    return (
        principal.kind == "user"
        and not principal.mfa_enrolled
        and r.mfa_required
        and principal.role.at_least(Role.ADMIN)
    )


def is_fresh(principal: Principal, r: Rule, now: datetime) -> bool:
    """A user whose session verified MFA within the tenant's window."""
    verified = principal.mfa_verified_at
    return (
        principal.kind == "user"
        and principal.mfa_enrolled
        and verified is not None
        and timedelta(0) <= now - verified <= r.window
    )


def decide(principal: Principal, r: Rule, now: datetime) -> DomainError | None:
    """Why this principal may not do a sensitive operation now, or None (pure)."""
    if principal.kind == "token":
        if "admin" not in principal.scopes:
            return StepUpRequired(TOKEN_SCOPE)
        if not principal.step_up:
            return StepUpRequired(TOKEN_STEP_UP)
        return None
    if must_enroll(principal, r):
        return MfaEnrollmentRequired(ENROLL_FIRST)
    if principal.mfa_enrolled and not is_fresh(principal, r, now):
        return StepUpRequired(VERIFY_FIRST)
    return None


async def require(session: AsyncSession, principal: Principal) -> None:
    """Raise unless the principal may do a sensitive operation now."""
    refused = decide(principal, await rule(session), utcnow())
    if refused is not None:
        raise refused


async def stepped_up(session: AsyncSession, principal: Principal) -> bool:
    """A user whose MFA verification is fresh (what a token created now records)."""
    return is_fresh(principal, await rule(session), utcnow())
