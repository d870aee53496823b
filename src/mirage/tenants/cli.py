"""`mirage team …`: invite people, list the team, change roles, remove members, revoke
invitations — the same rules as the dashboard and the API, for operators and scripts.

The tenant named by ``--tenant`` is looked up by slug with the admin role (the one maintenance
query, as `mirage user create --tenant` does); everything else runs as ``mirage_app`` under
that tenant's row-level security, as an owner with no user (the audit log's actor is empty).

Imports of the database layer happen inside the commands: `mirage --help` stays light.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from mirage.auth.principal import Principal

team_cli = typer.Typer(
    help="Manage a tenant's team: invitations, roles, members.", no_args_is_help=True
)

T = TypeVar("T")
TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant slug.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class CliError(Exception):
    pass


def _run(work: Callable[[Principal], Awaitable[T]], slug: str) -> T:
    """Run ``work`` in one transaction under the tenant ``slug``'s context, as its owner."""

    async def go() -> T:
        from mirage.auth.principal import ROLE_SCOPES, Principal
        from mirage.config import get_settings
        from mirage.db import engine as db_engine
        from mirage.db.migrate import migrate
        from mirage.db.tenancy import tenant_context
        from mirage.models.tenancy import Role
        from mirage.tenants import service

        settings = get_settings()
        urls = db_engine.resolve_urls(settings)
        if settings.database_url is None:
            migrate(urls)  # the embedded server is ours: keep it migrated
        db = db_engine.make_database(urls, pool_size=2, application_name="mirage-cli")
        db_engine.set_database(db)
        try:
            tenant = await service.by_slug(slug)  # maintenance lookup across tenants
            if tenant is None:
                raise CliError(f"no tenant with slug {slug!r}")
            principal = Principal(
                kind="user", tenant_id=tenant.id, role=Role.OWNER, scopes=ROLE_SCOPES[Role.OWNER]
            )
            with tenant_context(tenant.id):
                return await work(principal)
        finally:
            await db.dispose()

    from mirage.kit.errors import DomainError

    _quiet_logs()
    try:
        return asyncio.run(go())
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc


def _quiet_logs() -> None:
    from mirage.config import get_settings
    from mirage.kit.logging import configure_logging

    configure_logging("WARNING", get_settings().log_json)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _member_json(m: Any) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "user_id": str(m.user_id),
        "email": m.email,
        "display_name": m.display_name,
        "role": m.role.value,
        "joined_at": _iso(m.joined_at),
        "last_login_at": _iso(m.last_login_at),
    }


def _invitation_json(row: Any) -> dict[str, Any]:
    i = row.invitation
    return {
        "id": str(i.id),
        "email": i.email,
        "role": i.role,
        "status": row.status,
        "invited_by_name": row.invited_by_name,
        "created_at": _iso(i.created_at),
        "expires_at": _iso(i.expires_at),
    }


async def _member_by_email(session: Any, principal: Principal, email: str) -> Any:
    from mirage.tenants import team

    wanted = email.strip().lower()
    for m in await team.list_members(session, principal):
        if m.email.lower() == wanted:
            return m
    raise CliError(f"{email} is not a member of this tenant")


@team_cli.command("invite")
def invite_command(
    tenant: TenantOption,
    email: Annotated[str, typer.Option(help="The address to invite.")],
    role: Annotated[str, typer.Option(help="owner, admin, operator or viewer.")] = "operator",
    days: Annotated[int, typer.Option(help="How many days the link is valid (1-30).")] = 7,
    as_json: JsonOption = False,
) -> None:
    """Create an invitation and print its link. Mirage sends no e-mail: pass the link on
    yourself. It works once, for that address, until it expires."""
    from mirage.db.engine import session_scope
    from mirage.tenants import team

    async def work(principal: Principal) -> dict[str, Any]:
        async with session_scope() as session:
            created = await team.invite(
                session, principal, email=email, role=role, expires_in_days=days
            )
            inv = created.invitation
            return {
                "id": str(inv.id),
                "email": inv.email,
                "role": inv.role,
                "expires_at": _iso(inv.expires_at),
                "accept_url": created.url,
                "token": created.token,
            }

    out = _run(work, tenant)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo(f"invitation for {out['email']} as {out['role']}, valid until {out['expires_at']}")
    typer.echo("Mirage sends no e-mail: send this link to them yourself (it is shown only once):")
    typer.echo(out["accept_url"])


@team_cli.command("list")
def list_command(tenant: TenantOption, as_json: JsonOption = False) -> None:
    """The tenant's members and its open invitations."""
    from mirage.db.engine import session_scope
    from mirage.tenants import team

    async def work(principal: Principal) -> dict[str, Any]:
        async with session_scope() as session:
            members = await team.list_members(session, principal)
            invitations = await team.list_invitations(session, principal)
            return {
                "members": [_member_json(m) for m in members],
                "invitations": [_invitation_json(r) for r in invitations],
            }

    out = _run(work, tenant)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo("members:")
    for m in out["members"]:
        typer.echo(f"  {m['email']:<40} {m['role']:<9} {m['display_name']}")
    typer.echo("open invitations:" if out["invitations"] else "open invitations: none")
    for i in out["invitations"]:
        typer.echo(f"  {i['email']:<40} {i['role']:<9} {i['status']:<8} until {i['expires_at']}")


@team_cli.command("role")
def role_command(
    tenant: TenantOption,
    email: Annotated[str, typer.Option(help="The member's address.")],
    role: Annotated[str, typer.Option(help="owner, admin, operator or viewer.")],
    as_json: JsonOption = False,
) -> None:
    """Change a member's role (the last owner cannot be demoted)."""
    from mirage.db.engine import session_scope
    from mirage.tenants import team

    async def work(principal: Principal) -> dict[str, Any]:
        async with session_scope() as session:
            member = await _member_by_email(session, principal, email)
            return _member_json(await team.change_role(session, principal, member.id, role))

    out = _run(work, tenant)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        typer.echo(f"{out['email']} is now {out['role']}")


@team_cli.command("remove")
def remove_command(
    tenant: TenantOption,
    email: Annotated[str, typer.Option(help="The member's address.")],
    as_json: JsonOption = False,
) -> None:
    """Remove a member: their sessions in the tenant end and their API tokens there are
    revoked at once (the last owner cannot be removed)."""
    from mirage.db.engine import session_scope
    from mirage.tenants import team

    async def work(principal: Principal) -> dict[str, Any]:
        async with session_scope() as session:
            member = await _member_by_email(session, principal, email)
            ended = await team.remove_member(session, principal, member.id)
            return {
                "email": member.email,
                "sessions_ended": len(ended.sessions),
                "tokens_revoked": len(ended.tokens),
            }

    out = _run(work, tenant)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        typer.echo(
            f"{out['email']} removed: {out['sessions_ended']} session(s) ended, "
            f"{out['tokens_revoked']} API token(s) revoked"
        )


@team_cli.command("revoke")
def revoke_command(
    tenant: TenantOption,
    email: Annotated[str, typer.Option(help="The invited address.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke the open invitation for an address (its link stops working)."""
    from mirage.db.engine import session_scope
    from mirage.tenants import team

    async def work(principal: Principal) -> dict[str, Any]:
        async with session_scope() as session:
            wanted = email.strip().lower()
            found = [
                r
                for r in await team.list_invitations(session, principal)
                if r.invitation.email.lower() == wanted
            ]
            if not found:
                raise CliError(f"no open invitation for {email}")
            for row in found:
                await team.revoke_invitation(session, principal, row.invitation.id)
            return {"email": email, "revoked": len(found)}

    out = _run(work, tenant)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        typer.echo(f"invitation for {out['email']} revoked")


# --- `mirage audit …` ---------------------------------------------------------------------------

audit_cli = typer.Typer(help="Read a tenant's audit log.", no_args_is_help=True)


def _since(value: str | None, zone: str) -> Any:
    """An ISO instant (``2026-03-01T08:00:00-03:00``) or a day (``2026-03-01``, from its
    start in the tenant's zone); an instant without an offset is read in the tenant's zone."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), ZoneInfo(zone))
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"--since: not a date or an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))


@audit_cli.command("export")
def audit_export_command(
    tenant: TenantOption,
    since: Annotated[
        str | None, typer.Option(help="From this day (YYYY-MM-DD) or ISO 8601 time.")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="An action code (campaign.start) or its group (campaign).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the tenant's audit events, newest first: CSV (as the dashboard exports it), or
    JSON lines with --json."""
    from mirage.db.engine import session_scope
    from mirage.models import Tenant
    from mirage.ops import audit
    from mirage.tenants import audit_log

    async def work(principal: Principal) -> None:
        async with session_scope() as session:
            row = await session.get(Tenant, principal.tenant_id)
            zone = row.timezone if row else "America/Sao_Paulo"
            names = await audit_log.actor_names(session, principal)
        f = audit.build_filter(action=action, since=_since(since, zone))
        if not as_json:
            async for chunk in audit.export_csv(
                principal.tenant_id, f, zone=zone, locale="en", names=names
            ):
                typer.echo(chunk, nl=False)
            return
        cursor: str | None = None
        while True:
            async with session_scope() as session:
                page = await audit.search(session, f, cursor=cursor, limit=1000)
            for e in page.items:
                actor = e.actor_user_id or e.actor_token_id
                event = {
                    "id": str(e.id),
                    "created_at": _iso(e.created_at),
                    "action": e.action,
                    "label": audit.label(e.action),
                    "actor": names.get(actor) if actor else None,
                    "actor_user_id": str(e.actor_user_id) if e.actor_user_id else None,
                    "actor_token_id": str(e.actor_token_id) if e.actor_token_id else None,
                    "target_type": e.target_type,
                    "target_id": e.target_id,
                    "details": e.details,
                    "ip": e.ip,
                    "user_agent": e.user_agent,
                    "correlation_id": e.correlation_id,
                }
                typer.echo(json.dumps(event, ensure_ascii=False))
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    _run(work, tenant)
