"""The team of a tenant: its members and their roles, and invitations to join it.

Rules (the same for the dashboard, the API and the CLI):

- only owners and admins manage the team; nobody grants a role above their own, nor changes
  or removes a member whose role is above their own;
- the last owner can be neither demoted nor removed (the tenant's owners are locked while a
  change is decided, so two changes at once cannot both pass);
- removing a member ends, in the same transaction, their sessions looking at the tenant and
  the API tokens they created in it (their open live streams stop as it commits);
- Mirage sends no e-mail: an invitation is a single-use link, valid for a few days, that the
  inviter copies and passes on. Only the SHA-256 of its token is stored, and the token names
  its tenant (``mrgi_<tenant>_<secret>``), so the accept page — reached before the visitor has
  any tenant — binds that tenant first and reads the invitation under its row-level security,
  as API tokens are read; a forged claim finds nothing. Accepting is checked again against the
  inviter: one who has since lost the right to grant the role has voided the invitation.

Every change is in the audit log (``invitation.*``, ``member.*``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import passwords
from mirage.auth import service as auth
from mirage.auth.principal import Principal
from mirage.config import get_settings
from mirage.db.deps import bind_context
from mirage.kit import crypto
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from mirage.kit.i18n import N_
from mirage.kit.logging import get_logger
from mirage.models import Invitation, Membership, Tenant, User
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.tenants import service as tenants
from mirage.tenants.repository import (
    InvitationRepository,
    MemberRow,
    MembershipRepository,
    TenantRepository,
)

log = get_logger(__name__)

INVITE_PREFIX = "mrgi_"
INVITE_DAYS = 7
INVITE_MAX_DAYS = 30
ACCEPT_PATH = "/invite"


class InvitationGone(DomainError):
    """The link named a real invitation that can no longer be used."""

    status_code = 410
    title = "Gone"
    type_slug = "invitation-gone"


# Why a link cannot be used, as the accept page says it (by the invitation's status).
GONE = {
    "accepted": N_("This invitation was already used. Sign in, or ask for a new invitation."),
    "revoked": N_("This invitation was revoked. Ask whoever invited you for a new one."),
    "expired": N_("This invitation has expired. Ask whoever invited you for a new one."),
    "void": N_(
        "This invitation is no longer valid: whoever sent it can no longer grant this role. "
        "Ask for a new one."
    ),
}
NOT_VALID = N_("This invitation link is not valid. Check that you copied all of it.")


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    joined_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: MemberRow) -> Member:
        m, u = row
        return cls(m.id, u.id, u.email, u.display_name, Role(m.role), m.created_at, u.last_login_at)


@dataclass(frozen=True)
class InvitationRow:
    invitation: Invitation
    invited_by_name: str | None
    status: str


@dataclass(frozen=True)
class NewInvitation:
    """A created invitation, its token and the link to pass on (shown once: only its hash is
    stored)."""

    invitation: Invitation
    token: str
    url: str


def accept_url(token: str) -> str:
    """The link the invitee opens. The token travels in the query, which the access log
    leaves out (it records the path only)."""
    return f"{get_settings().public_url.rstrip('/')}{ACCEPT_PATH}?token={token}"


def parse_role(value: str, field: str = "role") -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise ValidationFailed(
            N_("Role: choose owner, admin, operator or viewer."), field=field
        ) from None


def grantable_roles(principal: Principal) -> list[Role]:
    """The roles this principal may give (none without the admin permission)."""
    if not (principal.can("admin") and principal.role.at_least(Role.ADMIN)):
        return []
    return [r for r in Role if principal.role.at_least(r)]


def _may_manage(principal: Principal) -> None:
    auth.require(principal, "admin", role=Role.ADMIN)


def _may_grant(principal: Principal, role: Role) -> None:
    if not principal.role.at_least(role):
        raise Forbidden(N_("You cannot grant a role above your own."), field="role")


def _may_touch(principal: Principal, target: Role) -> None:
    if not principal.role.at_least(target):
        raise Forbidden(N_("You cannot change or remove a member whose role is above your own."))


def clean_email(value: str) -> str:
    email = value.strip()
    if not email or len(email) > 254 or not tenants.EMAIL_RE.match(email):
        raise ValidationFailed(
            N_("E-mail: enter an e-mail address such as ana@example.com."), field="email"
        )
    return email


# --- members -------------------------------------------------------------------------------


async def list_members(session: AsyncSession, principal: Principal) -> list[Member]:
    auth.require(principal, "read")
    rows = await MembershipRepository(session).members(principal.tenant_id)
    return [Member.of(r) for r in rows]


async def get_member(session: AsyncSession, principal: Principal, member_id: uuid.UUID) -> Member:
    auth.require(principal, "read")
    row = await MembershipRepository(session).member(principal.tenant_id, member_id)
    if row is None:
        raise NotFound("member not found")
    return Member.of(row)


async def _locked_target(
    session: AsyncSession, principal: Principal, member_id: uuid.UUID
) -> tuple[MemberRow, list[uuid.UUID]]:
    repo = MembershipRepository(session)
    owners = await repo.lock_owners(principal.tenant_id)  # first: one order for every change
    row = await repo.member(principal.tenant_id, member_id, for_update=True)
    if row is None:
        raise NotFound("member not found")
    return row, owners


async def change_role(
    session: AsyncSession, principal: Principal, member_id: uuid.UUID, role: Role | str
) -> Member:
    _may_manage(principal)
    new = role if isinstance(role, Role) else parse_role(role)
    _may_grant(principal, new)
    row, owners = await _locked_target(session, principal, member_id)
    old = Role(row.membership.role)
    _may_touch(principal, old)
    if old == new:
        return Member.of(row)
    if old == Role.OWNER and owners == [row.membership.id]:
        raise Conflict(
            N_("The last owner cannot be demoted: make another member owner first."),
            field="role",
        )
    await MembershipRepository(session).set_role(row.membership.id, new.value)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="member.role_change",
        target_type="member",
        target_id=row.user.id,
        email=row.user.email,
        before={"role": old.value},
        after={"role": new.value},
    )
    log.info("member.role_changed", member_id=str(member_id), before=old.value, after=new.value)
    row.membership.role = new.value
    return Member.of(row)


async def remove_member(
    session: AsyncSession, principal: Principal, member_id: uuid.UUID
) -> auth.AccessEnded:
    """Remove a member: their sessions looking at this tenant end and their API tokens here
    are revoked, now; invitations they sent that are still open are revoked too."""
    _may_manage(principal)
    row, owners = await _locked_target(session, principal, member_id)
    role = Role(row.membership.role)
    _may_touch(principal, role)
    if role == Role.OWNER and owners == [row.membership.id]:
        raise Conflict(N_("The last owner cannot be removed: make another member owner first."))
    user = row.user
    await MembershipRepository(session).delete(row.membership.id)
    now = utcnow()
    invitations = await InvitationRepository(session).revoke_open(invited_by=user.id, when=now)
    ended = await auth.end_member_access(session, tenant_id=principal.tenant_id, user_id=user.id)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="member.remove",
        target_type="member",
        target_id=user.id,
        email=user.email,
        role=role.value,
        sessions_ended=len(ended.sessions),
        tokens_revoked=len(ended.tokens),
        invitations_revoked=invitations,
    )
    log.info(
        "member.removed",
        member_id=str(member_id),
        sessions_ended=len(ended.sessions),
        tokens_revoked=len(ended.tokens),
    )
    return ended


# --- invitations ---------------------------------------------------------------------------


async def list_invitations(
    session: AsyncSession, principal: Principal, *, open_only: bool = True
) -> list[InvitationRow]:
    _may_manage(principal)
    now = utcnow()
    rows = await InvitationRepository(session).list(open_only=open_only)
    return [InvitationRow(i, name, i.status(now)) for i, name in rows]


async def invite(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    role: Role | str,
    expires_in_days: int = INVITE_DAYS,
) -> NewInvitation:
    """Create an invitation and its link (Mirage sends no e-mail: the inviter passes it on).
    A new invitation to the same address replaces the one still open."""
    _may_manage(principal)
    address = clean_email(email)
    wanted = role if isinstance(role, Role) else parse_role(role)
    _may_grant(principal, wanted)
    if not 1 <= expires_in_days <= INVITE_MAX_DAYS:
        raise ValidationFailed(
            N_("Valid for: from 1 to %(max)s days."),
            params={"max": INVITE_MAX_DAYS},
            field="expires_in_days",
        )
    if await MembershipRepository(session).by_email(principal.tenant_id, address):
        raise Conflict(N_("This person is already a member of the team."), field="email")
    now = utcnow()
    repo = InvitationRepository(session)
    replaced = await repo.revoke_open(email=address, when=now)
    token = crypto.tenant_token(INVITE_PREFIX, principal.tenant_id)
    try:
        async with session.begin_nested():
            row = await repo.add(
                Invitation(
                    tenant_id=principal.tenant_id,
                    email=address,
                    role=wanted.value,
                    token_hash=crypto.sha256_hex(token),
                    invited_by=principal.user_id,
                    expires_at=now + timedelta(days=expires_in_days),
                )
            )
    except IntegrityError as exc:  # the same address invited at the same moment elsewhere
        raise Conflict(N_("This address was just invited: try again."), field="email") from exc
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="invitation.create",
        target_type="invitation",
        target_id=row.id,
        email=address,
        role=wanted.value,
        expires_at=row.expires_at.isoformat(),
        replaced=replaced,
    )
    # The link itself is a secret (like an API token): it is shown to the inviter once and
    # never written to a log.
    log.info(
        "invitation.created",
        invitation_id=str(row.id),
        role=wanted.value,
        expires_at=row.expires_at.isoformat(),
        replaced=replaced,
        delivery="link shown to the inviter, who passes it on (Mirage sends no e-mail)",
    )
    return NewInvitation(row, token, accept_url(token))


async def revoke_invitation(
    session: AsyncSession, principal: Principal, invitation_id: uuid.UUID
) -> Invitation:
    _may_manage(principal)
    row = await InvitationRepository(session).get(invitation_id, for_update=True)
    if row is None:
        raise NotFound("invitation not found")
    if row.accepted_at is not None:
        raise Conflict(N_("This invitation was already accepted: remove the member instead."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            tenant_id=principal.tenant_id,
            principal=principal,
            action="invitation.revoke",
            target_type="invitation",
            target_id=row.id,
            email=row.email,
            role=row.role,
        )
    return row


async def open_invitations(session: AsyncSession, now: datetime) -> int:
    """How many invitations of the current tenant can still be accepted."""
    return await InvitationRepository(session).count_open(now)


# --- accepting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationView:
    """What the accept page shows: the invitation, its tenant and whether it can be used."""

    invitation: Invitation
    tenant: Tenant
    invited_by_name: str | None
    status: str  # pending, accepted, revoked, expired or void
    account_exists: bool

    @property
    def usable(self) -> bool:
        return self.status == "pending"

    @property
    def role(self) -> Role:
        return Role(self.invitation.role)


async def find_invitation(
    session: AsyncSession,
    token: str,
    *,
    user_id: uuid.UUID | None = None,
    for_update: bool = False,
) -> InvitationView:
    """The invitation a link's token names. Its tenant comes from the token and is bound
    first, so the lookup runs under that tenant's row-level security (a visitor has no
    tenant yet); ``user_id`` is who is looking (the signed-in visitor, if any).
    NotFound for a token that names nothing."""
    tenant_id = crypto.claimed_tenant(INVITE_PREFIX, token.strip())
    if tenant_id is None:
        raise NotFound(NOT_VALID)
    await bind_context(session, tenant_id=tenant_id, user_id=user_id)
    row = await InvitationRepository(session).by_hash(
        crypto.sha256_hex(token.strip()), for_update=for_update
    )
    tenant = await TenantRepository(session).get(tenant_id) if row is not None else None
    if row is None or tenant is None:
        raise NotFound(NOT_VALID)
    inviter = await auth.get_user(session, row.invited_by) if row.invited_by else None
    status = row.status(utcnow())
    if status == "pending" and row.invited_by is not None:
        # An invitation acts for whoever sent it: they must still be allowed to grant it.
        role = await MembershipRepository(session).role_of(tenant_id, row.invited_by)
        inviter_role = Role(role) if role else None
        if not (
            inviter_role
            and inviter_role.at_least(Role.ADMIN)
            and inviter_role.at_least(Role(row.role))
        ):
            status = "void"
    account = await auth.user_by_email(session, row.email)
    return InvitationView(
        row, tenant, inviter.display_name if inviter else None, status, account is not None
    )


@dataclass(frozen=True)
class Accepted:
    user: User
    tenant: Tenant
    membership: Membership
    created_account: bool


def check_new_password(password: str, confirm: str | None = None) -> None:
    if len(password) < passwords.MIN_LENGTH:
        raise ValidationFailed(
            N_("Password: use at least %(n)s characters."),
            params={"n": passwords.MIN_LENGTH},
            field="password",
        )
    if len(password) > 256:
        raise ValidationFailed(N_("Password: use at most 256 characters."), field="password")
    if confirm is not None and confirm != password:
        raise ValidationFailed(N_("The two passwords are not the same."), field="confirm")


async def accept(
    session: AsyncSession,
    token: str,
    *,
    signed_in: User | None = None,
    display_name: str = "",
    password: str = "",
    confirm: str | None = None,
) -> Accepted:
    """Accept an invitation (once: the invitation is locked, checked and marked in one
    transaction).

    - ``signed_in``: an existing user, signed in, joins with the invited address's account —
      it must be theirs;
    - otherwise, when the invited address has no account yet, one is created with
      ``display_name`` and ``password``; when it has one, ``password`` must be its password
      (the API's way; the dashboard asks such a visitor to sign in first)."""
    view = await find_invitation(
        session, token, user_id=signed_in.id if signed_in else None, for_update=True
    )
    inv = view.invitation
    if not view.usable:
        raise InvitationGone(GONE[view.status])
    # Every refusal comes before the first write: a refused attempt leaves nothing behind.
    user: User | None = None
    if signed_in is not None:
        if signed_in.email.strip().lower() != inv.email.strip().lower():
            raise Forbidden(
                N_("This invitation is for %(email)s: sign in with that address to accept it."),
                params={"email": inv.email},
            )
        user = signed_in
    elif view.account_exists:
        if not password:
            raise Conflict(
                N_("There is already an account for %(email)s: sign in to accept."),
                params={"email": inv.email},
            )
        try:
            user = await auth.verify_password(session, inv.email, password)
        except auth.InvalidCredentials:
            raise auth.InvalidCredentials(N_("The password is not the account's.")) from None
    if user is not None:
        if await MembershipRepository(session).get(view.tenant.id, user.id):
            raise Conflict(
                N_("You are already a member of %(tenant)s."), params={"tenant": view.tenant.name}
            )
    else:
        name = " ".join(display_name.split())
        if not name or len(name) > 120:
            raise ValidationFailed(N_("Name: enter from 1 to 120 characters."), field="name")
        check_new_password(password, confirm)
        user = await tenants.create_user(
            session, email=inv.email, password=password, display_name=name
        )
    created = signed_in is None and not view.account_exists
    membership = await tenants.add_member(
        session, tenant_id=view.tenant.id, user_id=user.id, role=view.role
    )
    await bind_context(session, tenant_id=view.tenant.id, user_id=user.id)
    inv.accepted_at = utcnow()
    inv.accepted_by = user.id
    await session.flush()
    await audit.record(
        session,
        tenant_id=view.tenant.id,
        action="invitation.accept",
        user_id=user.id,
        target_type="invitation",
        target_id=inv.id,
        email=inv.email,
        role=inv.role,
        new_account=created,
    )
    log.info("invitation.accepted", invitation_id=str(inv.id), new_account=created)
    return Accepted(user, view.tenant, membership, created)
