"""All SQLAlchemy models, imported here so Alembic and the RLS tests see every table."""

from mirage.db.base import Base
from mirage.models.audit import AuditEvent
from mirage.models.auth import ApiToken, MfaRecoveryCode, UserSession
from mirage.models.contact_imports import ContactImport, ContactImportPart, ContactImportRow
from mirage.models.contacts import (
    ConsentEvent,
    ConsentEventKind,
    ConsentState,
    Contact,
    ContactTag,
    DataRequest,
    DataRequestKind,
    LegalBasis,
    Suppression,
    Tag,
)
from mirage.models.conversations import (
    Conversation,
    ConversationParticipant,
    ConversationState,
    Persona,
    Round,
    RoundMember,
    RoundSlot,
    RoundState,
    SystemFlag,
    TenantSettings,
)
from mirage.models.instances import Instance, Message, WebhookEvent
from mirage.models.messaging import OutgoingMessage, OutgoingStatus, PolicyDecision, Purpose
from mirage.models.metrics import (
    CampaignRecipientCount,
    DecisionHour,
    MessageHour,
    NumberDay,
    RefreshState,
    RoundHour,
    TenantHour,
)
from mirage.models.outreach import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    OutreachPolicy,
    RecipientStatus,
    SkipReason,
)
from mirage.models.safety import NumberSignal
from mirage.models.tenancy import ROLES, Invitation, Membership, Role, Tenant, User

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Campaign",
    "CampaignRecipient",
    "CampaignRecipientCount",
    "CampaignState",
    "ConsentEvent",
    "ConsentEventKind",
    "ConsentState",
    "Contact",
    "ContactImport",
    "ContactImportPart",
    "ContactImportRow",
    "ContactTag",
    "Conversation",
    "ConversationParticipant",
    "ConversationState",
    "DataRequest",
    "DataRequestKind",
    "DecisionHour",
    "Instance",
    "Invitation",
    "LegalBasis",
    "Membership",
    "Message",
    "MessageHour",
    "MfaRecoveryCode",
    "NumberDay",
    "NumberSignal",
    "OutgoingMessage",
    "OutgoingStatus",
    "OutreachPolicy",
    "Persona",
    "PolicyDecision",
    "Purpose",
    "RecipientStatus",
    "RefreshState",
    "Role",
    "Round",
    "RoundHour",
    "RoundMember",
    "RoundSlot",
    "RoundState",
    "SkipReason",
    "Suppression",
    "SystemFlag",
    "Tag",
    "Tenant",
    "TenantHour",
    "TenantSettings",
    "User",
    "UserSession",
    "WebhookEvent",
]
