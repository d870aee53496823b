"""Record sensitive actions (who, what, when, from where, correlation id)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.kit import correlation
from mirage.kit.i18n import N_
from mirage.models import AuditEvent
from mirage.ops.repository import AuditRepository

if TYPE_CHECKING:  # auth records through this module: a type only, never an import
    from mirage.auth.principal import Principal


# Every action the audit log records, with the label the activity log shows (a catalog id,
# translated when shown). ``record`` refuses a code that is not here, and
# tests/ops/test_audit_labels.py checks every code the code base records against it: a new
# action cannot ship without its label.
ACTIONS: dict[str, str] = {
    "auth.sign_in": N_("Signed in"),
    "auth.sign_out": N_("Signed out"),
    "auth.switch_tenant": N_("Switched to this tenant"),
    "api_token.create": N_("API token created"),
    "api_token.revoke": N_("API token revoked"),
    "api_token.expired": N_("API token expired"),
    "settings.update": N_("Settings changed"),
    "security.update": N_("Security settings changed"),
    "mfa.enroll": N_("Two-factor authentication turned on"),
    "mfa.disable": N_("Two-factor authentication turned off"),
    "mfa.step_up": N_("Identity confirmed with an authenticator code"),
    "mfa.step_up_failed": N_("Wrong two-factor code entered"),
    "mfa.recovery_code_used": N_("Recovery code used"),
    "mfa.recovery_codes_regenerated": N_("New recovery codes generated"),
    "invitation.create": N_("Invitation created"),
    "invitation.revoke": N_("Invitation revoked"),
    "invitation.accept": N_("Invitation accepted"),
    "member.role_change": N_("Member's role changed"),
    "member.remove": N_("Member removed"),
    "instance.create": N_("Number added"),
    "instance.restart": N_("Number restarted"),
    "instance.logout": N_("Number disconnected"),
    "instance.pause": N_("Number paused"),
    "instance.resume": N_("Number resumed"),
    "instance.delete": N_("Number deleted"),
    "instance.quarantine": N_("Number quarantined"),
    "instance.release": N_("Number released from quarantine"),
    "persona.create": N_("Persona created"),
    "persona.update": N_("Persona changed"),
    "persona.delete": N_("Persona deleted"),
    "conversation.create": N_("Conversation created"),
    "conversation.update": N_("Conversation changed"),
    "conversation.pause": N_("Conversation paused"),
    "conversation.resume": N_("Conversation resumed"),
    "conversation.delete": N_("Conversation deleted"),
    "schedule.default_update": N_("Default schedule changed"),
    "contact.deleted": N_("Contact deleted"),
    "suppression.added": N_("Number added to the do-not-contact list"),
    "suppression.removed": N_("Number removed from the do-not-contact list"),
    "suppression.confirmed": N_("Probable opt-out confirmed (now an opt-out)"),
    "data_request.find": N_("Data request: find a person's data"),
    "data_request.export": N_("Data request: export a person's data"),
    "data_request.erase": N_("Data request: erase a person's data"),
    "outreach_policy.create": N_("Outreach policy created"),
    "outreach_policy.update": N_("Outreach policy changed"),
    "outreach_policy.delete": N_("Outreach policy deleted"),
    "campaign.create": N_("Campaign created"),
    "campaign.update": N_("Campaign changed"),
    "campaign.delete": N_("Campaign deleted"),
    "campaign.start": N_("Campaign started"),
    "campaign.pause": N_("Campaign paused"),
    "campaign.resume": N_("Campaign resumed"),
    "campaign.cancel": N_("Campaign cancelled"),
    "campaign.test_send": N_("Campaign test message sent"),
}


class UnknownAuditAction(ValueError):
    """A programming error: an audit action without an entry (and a label) in ACTIONS."""


def label(action: str) -> str:
    """The activity log's label for an action code (a catalog id; the code if unknown, e.g.
    an old row whose action was since renamed)."""
    return ACTIONS.get(action, action)


async def record(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    action: str,
    principal: Principal | None = None,
    user_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: str | uuid.UUID | None = None,
    ip: str | None = None,
    **details: Any,
) -> None:
    if action not in ACTIONS:
        raise UnknownAuditAction(f"audit action {action!r} is not in mirage.ops.audit.ACTIONS")
    await AuditRepository(session).add(
        AuditEvent(
            tenant_id=tenant_id,
            actor_user_id=principal.user_id if principal else user_id,
            actor_token_id=principal.token_id if principal else None,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id else None,
            ip=(principal.ip if principal else None) or ip,
            correlation_id=correlation.current(),
            details=details,
        )
    )


async def recent(session: AsyncSession, limit: int = 50) -> list[AuditEvent]:
    """The tenant's latest audit events, newest first (RLS: the session's tenant only)."""
    rows: Sequence[AuditEvent] = await AuditRepository(session).recent(limit)
    return list(rows)
