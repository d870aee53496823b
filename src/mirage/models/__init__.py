"""All SQLAlchemy models, imported here so Alembic and the RLS tests see every table."""

from mirage.db.base import Base
from mirage.models.audit import AuditEvent
from mirage.models.auth import ApiToken, UserSession
from mirage.models.instances import Instance, Message, WebhookEvent
from mirage.models.tenancy import ROLES, Membership, Role, Tenant, User

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Instance",
    "Membership",
    "Message",
    "Role",
    "Tenant",
    "User",
    "UserSession",
    "WebhookEvent",
]
