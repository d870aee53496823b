"""Sign-in, session resolution, tenant switching and API tokens: the rules, not the SQL."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import cache as auth_cache
from mirage.auth import passwords, stepup
from mirage.auth.principal import ROLE_SCOPES, SCOPES, Principal
from mirage.auth.repository import (
    ApiTokenRepository,
    SessionRepository,
    TenantMembership,
    UserRepository,
)
from mirage.db.deps import bind_context
from mirage.kit import crypto, jobs, live
from mirage.kit.clock import utcnow
from mirage.kit.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from mirage.models import ApiToken, Membership, Tenant, User, UserSession
from mirage.models.tenancy import Role
from mirage.ops import audit

TOKEN_PREFIX = "mrg_"  # noqa: S105 - a public prefix, not a secret
TOUCH_EVERY = timedelta(minutes=1)


class InvalidCredentials(Unauthorized):
    title = "Invalid credentials"
    type_slug = "invalid-credentials"


@dataclass(frozen=True)
class CurrentUser:
    user: User
    session: UserSession
    memberships: list[TenantMembership]
    membership: Membership | None
    tenant: Tenant | None

    @property
    def role(self) -> Role | None:
        return Role(self.membership.role) if self.membership else None

    def principal(self, ip: str | None = None) -> Principal:
        if self.membership is None or self.tenant is None:
            raise Forbidden("you are not a member of any tenant")
        role = Role(self.membership.role)
        return Principal(
            kind="user",
            tenant_id=self.tenant.id,
            role=role,
            user_id=self.user.id,
            scopes=ROLE_SCOPES[role],
            ip=ip,
            mfa_enrolled=self.user.mfa_enabled_at is not None,
            mfa_verified_at=self.session.mfa_verified_at,
        )


async def sign_in(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    ttl: timedelta,
) -> tuple[User, str]:
    """Check the credentials; on success create a server-side session and return its token."""
    users = UserRepository(session)
    user = await verify_password(session, email, password)
    if passwords.needs_rehash(user.password_hash):
        await users.set_password_hash(user.id, passwords.hash_password(password))
    await bind_context(session, tenant_id=None, user_id=user.id)
    memberships = await UserRepository(session).memberships(user.id)
    active = memberships[0].tenant.id if memberships else None
    row, token = await open_session(
        session, user.id, tenant_id=active, ip=ip, user_agent=user_agent, ttl=ttl
    )
    if active is not None:
        await bind_context(session, tenant_id=active, user_id=user.id)
        await audit.record(
            session,
            tenant_id=active,
            action="auth.sign_in",
            user_id=user.id,
            ip=ip,
            target_type="session",
            target_id=row.id,
        )
    return user, token


async def open_session(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    tenant_id: uuid.UUID | None,
    ip: str | None,
    user_agent: str | None,
    ttl: timedelta,
) -> tuple[UserSession, str]:
    """A new server-side session for a user whose identity was just proven (a password, an
    accepted invitation), looking at ``tenant_id``: the row and its cookie value."""
    await UserRepository(session).set_last_login(user_id, utcnow())
    token = crypto.random_token(32)
    row = await SessionRepository(session).add(
        UserSession(
            token_hash=crypto.sha256_hex(token),
            user_id=user_id,
            active_tenant_id=tenant_id,
            expires_at=utcnow() + ttl,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return row, token


async def verify_password(session: AsyncSession, email: str, password: str) -> User:
    """The active user these credentials prove (InvalidCredentials otherwise; an unknown
    e-mail costs the same time as a wrong password)."""
    user = await UserRepository(session).by_email(email)
    valid = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        raise InvalidCredentials("e-mail or password is incorrect")
    return user


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await UserRepository(session).get(user_id)


@dataclass(frozen=True)
class AccessEnded:
    """What removing a member from a tenant ended at once."""

    sessions: Sequence[uuid.UUID]
    tokens: Sequence[uuid.UUID]


async def end_member_access(
    session: AsyncSession, *, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> AccessEnded:
    """A member left the tenant (removed): their sessions looking at it end and the API
    tokens they created in it are revoked, in this transaction; open live streams of those
    sessions stop as it commits (every API process hears it). Their sessions looking at
    another of their tenants go on there. (Called under the tenant's context.)"""
    now = utcnow()
    sessions = await SessionRepository(session).revoke_in_tenant(user_id, tenant_id, now)
    tokens = await ApiTokenRepository(session).revoke_created_by(user_id, now)
    for session_id in sessions:
        await live.end_session(session, session_id)
    return AccessEnded(sessions, tokens)


# --- known devices (sign-in limits that an attacker cannot turn into a lock-out) ----------

KNOWN_DEVICE_MAX_USERS = 5


@dataclass(frozen=True)
class KnownDevice:
    """A browser that signed in successfully before, and the users it signed in as."""

    device_id: str
    user_ids: tuple[uuid.UUID, ...]
    issued_at: int

    def knows(self, user_id: uuid.UUID | None) -> bool:
        return user_id is not None and user_id in self.user_ids


def _device_sig(secret_key: str, payload: str) -> str:
    return crypto.sign(secret_key, "known-device:" + payload)


def known_device_cookie(
    secret_key: str, previous: KnownDevice | None, user_id: uuid.UUID, now: datetime
) -> str:
    """The signed cookie value after `user_id` signed in on this device (most recent first;
    the device keeps its id)."""
    device_id = previous.device_id if previous else crypto.random_token(12)
    users = [user_id, *(u for u in (previous.user_ids if previous else ()) if u != user_id)]
    body = {
        "d": device_id,
        "u": [u.hex for u in users[:KNOWN_DEVICE_MAX_USERS]],
        "t": int(now.timestamp()),
    }
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode())
    text = payload.decode().rstrip("=")
    return f"{text}.{_device_sig(secret_key, text)}"


def read_known_device(
    secret_key: str, value: str | None, now: datetime, max_age: timedelta
) -> KnownDevice | None:
    """The device a cookie vouches for, or None when it is missing, forged or too old."""
    if not value or len(value) > 1000 or "." not in value:
        return None
    text, _, sig = value.rpartition(".")
    if not crypto.equal(sig, _device_sig(secret_key, text)):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        device = KnownDevice(
            device_id=str(body["d"]),
            user_ids=tuple(uuid.UUID(hex=u) for u in body["u"]),
            issued_at=int(body["t"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if now.timestamp() - device.issued_at > max_age.total_seconds():
        return None
    return device


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await UserRepository(session).by_email(email)


async def add_user(session: AsyncSession, user: User) -> User:
    """Store a new user (``tenants.service.create_user`` validates it first)."""
    return await UserRepository(session).add(user)


async def account_id(session: AsyncSession, email: str) -> uuid.UUID | None:
    """The user an e-mail address signs in as (for per-account sign-in limits)."""
    user = await UserRepository(session).by_email(email)
    return user.id if user is not None else None


async def resolve_session(session: AsyncSession, token: str | None) -> CurrentUser | None:
    """The signed-in user for a session cookie, with the tenant context bound; None if invalid.
    Always read from the database (live streams re-check with it)."""
    if not token or len(token) > 200:
        return None
    return await _resolve(session, crypto.sha256_hex(token))


async def resolve_session_cached(session: AsyncSession, token: str | None) -> CurrentUser | None:
    """``resolve_session`` through the short-lived in-process cache (``auth.cache``): a hit
    binds the tenant context without a query. For page requests."""
    if not token or len(token) > 200:
        return None
    key = crypto.sha256_hex(token)
    cached: CurrentUser | None = auth_cache.sessions.get(key)
    if cached is not None:
        if cached.session.expires_at > utcnow():
            await bind_context(
                session,
                tenant_id=cached.tenant.id if cached.tenant else None,
                user_id=cached.user.id,
            )
            return cached
        auth_cache.sessions.discard(key)
    generation = auth_cache.sessions.generation
    current = await _resolve(session, key)
    if current is not None:
        auth_cache.sessions.put(key, current, generation)
    return current


async def _resolve(session: AsyncSession, token_hash: str) -> CurrentUser | None:
    sessions = SessionRepository(session)
    found = await sessions.with_user(token_hash)
    now = utcnow()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.expires_at <= now or not user.is_active:
        return None
    await bind_context(session, tenant_id=None, user_id=user.id)
    memberships = list(await UserRepository(session).memberships(user.id))
    chosen = next((m for m in memberships if m.tenant.id == row.active_tenant_id), None)
    if chosen is None and memberships:
        chosen = memberships[0]
    if chosen is not None:
        await bind_context(session, tenant_id=chosen.tenant.id, user_id=user.id)
    if row.last_seen_at is None or now - row.last_seen_at > TOUCH_EVERY:
        await sessions.touch(row.id, now)
    return CurrentUser(
        user=user,
        session=row,
        memberships=memberships,
        membership=chosen.membership if chosen else None,
        tenant=chosen.tenant if chosen else None,
    )


async def sign_out(session: AsyncSession, current: CurrentUser) -> None:
    await SessionRepository(session).revoke(current.session.id, utcnow())
    if current.tenant is not None:
        await audit.record(
            session,
            tenant_id=current.tenant.id,
            action="auth.sign_out",
            user_id=current.user.id,
            target_type="session",
            target_id=current.session.id,
        )


async def switch_tenant(
    session: AsyncSession, current: CurrentUser, tenant_id: uuid.UUID
) -> Tenant:
    target = next((m.tenant for m in current.memberships if m.tenant.id == tenant_id), None)
    if target is None:
        # Not a member: indistinguishable from a tenant that does not exist.
        raise NotFound("tenant not found")
    await SessionRepository(session).set_active_tenant(current.session.id, tenant_id)
    await bind_context(session, tenant_id=tenant_id, user_id=current.user.id)
    await audit.record(
        session, tenant_id=tenant_id, action="auth.switch_tenant", user_id=current.user.id
    )
    return target


async def set_active_tenant(
    session: AsyncSession, session_id: uuid.UUID, tenant_id: uuid.UUID
) -> None:
    """Point a signed-in session at a tenant its user just joined (an accepted invitation;
    membership is re-checked on every request as always)."""
    await SessionRepository(session).set_active_tenant(session_id, tenant_id)


async def set_locale(session: AsyncSession, user_id: uuid.UUID, locale: str) -> None:
    await UserRepository(session).set_locale(user_id, locale)


# --- API tokens ---------------------------------------------------------------------------


def _encode_token(tenant_id: uuid.UUID, secret: str) -> str:
    tenant_part = base64.urlsafe_b64encode(tenant_id.bytes).decode().rstrip("=")
    return f"{TOKEN_PREFIX}{tenant_part}_{secret}"


def _decode_tenant(token: str) -> uuid.UUID | None:
    """The tenant a bearer token claims; the claim is only trusted once the hash matches."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    body = token[len(TOKEN_PREFIX) :]
    # 16 bytes in unpadded base64url are always 22 characters (which may include "_").
    tenant_part, sep, secret = body[:22], body[22:23], body[23:]
    if sep != "_" or not secret:
        return None
    try:
        raw = base64.urlsafe_b64decode(tenant_part + "==")
        return uuid.UUID(bytes=raw) if len(raw) == 16 else None
    except (binascii.Error, ValueError):
        return None


async def authenticate_token(session: AsyncSession, token: str, ip: str | None) -> Principal:
    tenant_id = _decode_tenant(token)
    if tenant_id is None:
        raise Unauthorized("malformed API token")
    # Bind the claimed tenant first: RLS then hides every other tenant's tokens. Before any
    # query, so the transaction applies this context once, as it begins.
    await bind_context(session, tenant_id=tenant_id, user_id=None)
    repo = ApiTokenRepository(session)
    row = await repo.auth_row(crypto.sha256_hex(token))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API token")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("API token expired")
    if row.creator_role is None:
        # A token acts for its creator: once they leave the tenant it stops working.
        raise Unauthorized("the creator of this API token is no longer a member of the tenant")
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        await repo.mark_used(row.id, now)
    return token_principal(
        tenant_id=tenant_id,
        token_id=row.id,
        created_by=row.created_by,
        token_scopes=row.scopes,
        creator_role=Role(row.creator_role),
        ip=ip,
        step_up=row.step_up,
    )


def token_principal(
    *,
    tenant_id: uuid.UUID,
    token_id: uuid.UUID,
    created_by: uuid.UUID | None,
    token_scopes: Iterable[str],
    creator_role: Role,
    ip: str | None,
    step_up: bool = False,
) -> Principal:
    """What a token may do now: the scopes it carries that its creator's *current* role
    still grants (a demoted creator's token loses what the new role lacks; restoring the
    role restores it). Its role is the weakest that covers those effective scopes."""
    scopes = frozenset(token_scopes) & ROLE_SCOPES[creator_role]
    # Never above the creator's role: the effective scopes are a subset of what it grants.
    role = Role.ADMIN if "admin" in scopes else Role.OPERATOR if "write" in scopes else Role.VIEWER
    return Principal(
        kind="token",
        tenant_id=tenant_id,
        role=role,
        user_id=created_by,
        token_id=token_id,
        scopes=scopes,
        ip=ip,
        step_up=step_up,
    )


def require(principal: Principal, scope: str, *, role: Role | None = None) -> None:
    if not principal.can(scope) or (role is not None and not principal.role.at_least(role)):
        raise Forbidden(f"this action needs the '{scope}' permission")


async def create_token(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiToken, str]:
    require(principal, "admin", role=Role.ADMIN)
    name = name.strip()
    if not name or len(name) > 80:
        raise ValidationFailed("token name must have 1 to 80 characters", field="name")
    wanted = list(dict.fromkeys(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise ValidationFailed(
            f"scopes must be a non-empty subset of {list(SCOPES)}", field="scopes"
        )
    if not set(wanted) <= principal.scopes:
        raise Forbidden("a token cannot have more permissions than its creator")
    now = utcnow()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationFailed("expires_at must include a time zone", field="expires_at")
        if expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
        if expires_at > now + timedelta(days=366 * 2):
            raise ValidationFailed("expires_at is at most two years away", field="expires_at")
    secret = crypto.random_token(32)
    plaintext = _encode_token(principal.tenant_id, secret)
    row = await ApiTokenRepository(session).add(
        ApiToken(
            tenant_id=principal.tenant_id,
            name=name,
            token_hash=crypto.sha256_hex(plaintext),
            hint=plaintext[-6:],
            scopes=wanted,
            created_by=principal.user_id,
            expires_at=expires_at,
            # Created right after an MFA verification: may do sensitive operations (admin).
            step_up=await stepup.stepped_up(session, principal),
        )
    )
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="api_token.create",
        target_type="api_token",
        target_id=row.id,
        name=name,
        scopes=wanted,
        step_up=row.step_up,
    )
    if expires_at is not None:
        await jobs.defer(  # by name: the task module imports this one
            session, "auth.api_token_expired", schedule_at=expires_at, token_id=str(row.id)
        )
    return row, plaintext


async def list_tokens(session: AsyncSession, principal: Principal) -> list[ApiToken]:
    require(principal, "read")
    return list(await ApiTokenRepository(session).list())


async def get_token(session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> ApiToken:
    require(principal, "read")
    row = await ApiTokenRepository(session).get(token_id)
    if row is None:
        raise NotFound("API token not found")
    return row


async def revoke_token(session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> None:
    require(principal, "admin", role=Role.ADMIN)
    repo = ApiTokenRepository(session)
    row = await repo.get(token_id)
    if row is None:
        raise NotFound("API token not found")
    if await repo.revoke(token_id, utcnow()):
        await audit.record(
            session,
            tenant_id=principal.tenant_id,
            principal=principal,
            action="api_token.revoke",
            target_type="api_token",
            target_id=token_id,
        )
