"""Creating tenants, users and memberships (used by the CLI, the demo and tests)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import passwords
from mirage.auth import service as auth
from mirage.db.deps import bind_context
from mirage.db.engine import admin_session_scope
from mirage.kit.errors import Conflict, ValidationFailed
from mirage.models import Membership, Tenant, User
from mirage.models.tenancy import Role
from mirage.tenants.repository import MembershipRepository, TenantRepository

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:64] or "tenant"


async def create_tenant(
    session: AsyncSession,
    *,
    name: str,
    slug: str | None = None,
    timezone: str = "America/Sao_Paulo",
) -> Tenant:
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationFailed("tenant name must have 1 to 120 characters")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone: {timezone}") from exc
    slug = slugify(slug or name)
    tenant_id = uuid.uuid4()
    # The insert policy only admits a tenant row inside its own context.
    await bind_context(session, tenant_id=tenant_id, user_id=None)
    try:
        async with session.begin_nested():
            return await TenantRepository(session).add(
                Tenant(id=tenant_id, name=name, slug=slug, timezone=timezone)
            )
    except IntegrityError as exc:
        raise Conflict(f"a tenant with slug '{slug}' already exists") from exc


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    display_name: str | None = None,
    locale: str | None = None,
) -> User:
    email = email.strip()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationFailed(f"not a valid e-mail address: {email!r}")
    weak = passwords.check_strength(password)
    if weak:
        raise ValidationFailed(weak)
    if await auth.user_by_email(session, email):
        raise Conflict(f"a user with e-mail {email} already exists")
    return await auth.add_user(
        session,
        User(
            email=email,
            display_name=(display_name or email.split("@")[0]).strip()[:120],
            password_hash=passwords.hash_password(password),
            locale=locale,
        ),
    )


async def add_member(
    session: AsyncSession, *, tenant_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> Membership:
    await bind_context(session, tenant_id=tenant_id, user_id=None)
    repo = MembershipRepository(session)
    if await repo.get(tenant_id, user_id):
        raise Conflict("the user is already a member of this tenant")
    return await repo.add(Membership(tenant_id=tenant_id, user_id=user_id, role=role.value))


async def by_slug(slug: str) -> Tenant | None:
    """The tenant with this slug, looked up across tenants: maintenance and CLI use only
    (the admin role); what is then read of the tenant runs under its own context."""
    async with admin_session_scope() as admin:
        return await TenantRepository(admin).by_slug(slug)
