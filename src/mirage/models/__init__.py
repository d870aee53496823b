"""All SQLAlchemy models, imported here so Alembic and the RLS tests see every table."""

from mirage.db.base import Base
from mirage.models.audit import AuditEvent
from mirage.models.auth import ApiToken, UserSession
from mirage.models.conversations import (
    Conversation,
    ConversationParticipant,
    OutgoingMessage,
    Persona,
    PolicyDecision,
    Round,
    RoundMember,
    SystemFlag,
    TenantSettings,
)
from mirage.models.instances import Instance, Message, WebhookEvent
from mirage.models.tenancy import ROLES, Membership, Role, Tenant, User

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Conversation",
    "ConversationParticipant",
    "Instance",
    "Membership",
    "Message",
    "OutgoingMessage",
    "Persona",
    "PolicyDecision",
    "Role",
    "Round",
    "RoundMember",
    "SystemFlag",
    "Tenant",
    "TenantSettings",
    "User",
    "UserSession",
    "WebhookEvent",
]
