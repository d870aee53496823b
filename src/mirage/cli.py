"""The `mirage` command: demo, api, worker, sim, migrate, user …, tenant …, team …, metrics …,
backup …, audit …"""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer

from mirage.config import Settings, get_settings
from mirage.contacts.cli import contacts_cli
from mirage.kit.http import SERVER_KEEP_ALIVE_S
from mirage.kit.logging import configure_logging
from mirage.metrics.cli import metrics_cli
from mirage.ops.cli import backup_cli
from mirage.outreach.cli import optout_cli
from mirage.personas.cli import ai_cli
from mirage.tenants.cli import audit_cli, team_cli

# Commands import what they run inside their own body: not to dodge a cycle (nothing imports
# this module but __main__), but so that `mirage --help` or one command does not load the
# database layer, Alembic, the simulator, the worker and the whole app.

cli = typer.Typer(
    help="Mirage: orchestrate fleets of WhatsApp numbers.",
    no_args_is_help=True,
    add_completion=False,
)
user_cli = typer.Typer(help="Manage users.", no_args_is_help=True)
tenant_cli = typer.Typer(help="Manage tenants.", no_args_is_help=True)
cli.add_typer(user_cli, name="user")
cli.add_typer(tenant_cli, name="tenant")
cli.add_typer(contacts_cli, name="contacts")
cli.add_typer(ai_cli, name="ai")
cli.add_typer(team_cli, name="team")
cli.add_typer(optout_cli, name="optout")
cli.add_typer(metrics_cli, name="metrics")
cli.add_typer(backup_cli, name="backup")
cli.add_typer(audit_cli, name="audit")


def _settings(json_logs: bool | None = None) -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json if json_logs is None else json_logs)
    return settings


@cli.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the dashboard and API.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    sim_port: Annotated[int, typer.Option(help="Port of the built-in gateway simulator.")] = 8081,
) -> None:
    """Run everything (database, migrations, demo data, simulator, API, worker) at once."""
    from mirage.demo import run_demo

    settings = _settings(json_logs=False)
    settings.public_url = f"http://{host}:{port}"
    configure_logging("WARNING", json=False)
    asyncio.run(run_demo(settings, host=host, port=port, sim_port=sim_port))


@cli.command()
def api(
    port: Annotated[int, typer.Option()] = 8000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Serve the dashboard, the API, webhooks, health and metrics."""
    import uvicorn

    settings = _settings()
    uvicorn.run(
        "mirage.app:asgi",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        # Proxy headers (X-Forwarded-For/-Proto) only from MIRAGE_TRUSTED_PROXIES; uvicorn
        # would otherwise trust 127.0.0.1, and anything local could pick its own address.
        proxy_headers=bool(settings.trusted_proxies.strip()),
        forwarded_allow_ips=[str(n) for n in settings.trusted_proxy_networks],
        # Live streams (SSE) never end by themselves: do not wait for them forever.
        timeout_graceful_shutdown=5,
        timeout_keep_alive=SERVER_KEEP_ALIVE_S,
    )
    del settings


@cli.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once.")] = 4,
    health_port: Annotated[
        int | None,
        typer.Option(help="Serve GET /health and /health/ready (503 while disconnected)."),
    ] = None,
    health_host: Annotated[str, typer.Option(help="Interface of the health port.")] = "127.0.0.1",
) -> None:
    """Run background jobs and periodic tasks.

    Survives database restarts and outages (reconnects with backoff); exits with status 1 on
    an error no retry fixes (credentials, missing database or schema), status 0 when stopped.
    """
    from mirage.worker import FatalWorkerError, run_worker

    settings = _settings()
    if settings.database_url is None:  # embedded: migrated automatically, like the API
        from mirage.db import engine as db_engine
        from mirage.db.migrate import migrate as run_migrate

        run_migrate(db_engine.resolve_urls(settings))
    try:
        asyncio.run(
            run_worker(
                settings,
                concurrency=concurrency,
                health_host=health_host,
                health_port=health_port,
            )
        )
    except FatalWorkerError as exc:
        typer.echo(f"mirage worker: {exc}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def sim(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    api_key: Annotated[
        str | None, typer.Option(help="Global apikey (default: MIRAGE_EVOLUTION_API_KEY).")
    ] = None,
) -> None:
    """Run the Evolution-API-compatible simulator (gateway + simulated WhatsApp network)."""
    from mirage.simulator import run

    settings = _settings()
    key = api_key or (
        settings.evolution_api_key.get_secret_value() if settings.evolution_api_key else None
    )
    run(host=host, port=port, api_key=key)


@cli.command()
def migrate() -> None:
    """Create the database roles and apply all migrations (idempotent)."""
    from mirage.db import engine as db_engine
    from mirage.db.migrate import current_revision
    from mirage.db.migrate import migrate as run_migrate

    settings = _settings()
    urls = db_engine.resolve_urls(settings)
    pw = settings.db_role_password.get_secret_value() if settings.db_role_password else None
    run_migrate(urls, role_password=pw)
    typer.echo(f"database migrated to revision {current_revision(urls)}")


async def _with_db(settings: Settings):  # type: ignore[no-untyped-def]
    from mirage.db import engine as db_engine
    from mirage.db.migrate import migrate as run_migrate

    urls = db_engine.resolve_urls(settings)
    if settings.database_url is None:
        run_migrate(urls)
    db = db_engine.make_database(urls, pool_size=2, application_name="mirage-cli")
    db_engine.set_database(db)
    return db


@tenant_cli.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Display name, e.g. 'Agência Sol'.")],
    slug: Annotated[str | None, typer.Option(help="Short unique id (default: from name).")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "America/Sao_Paulo",
) -> None:
    """Create a tenant."""
    from mirage.db.engine import session_scope
    from mirage.kit.errors import DomainError
    from mirage.tenants import service

    async def run() -> None:
        db = await _with_db(_settings(json_logs=False))
        try:
            async with session_scope() as session:
                tenant = await service.create_tenant(
                    session, name=name, slug=slug, timezone=timezone
                )
                typer.echo(f"tenant created: {tenant.name} (slug {tenant.slug}, id {tenant.id})")
        except DomainError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(2) from exc
        finally:
            await db.dispose()

    asyncio.run(run())


@user_cli.command("create")
def user_create(
    email: Annotated[str, typer.Argument()],
    tenant: Annotated[str | None, typer.Option(help="Tenant slug to join.")] = None,
    role: Annotated[str, typer.Option(help="owner, admin, operator or viewer.")] = "operator",
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password (prompted when omitted; prefer the prompt).")
    ] = None,
) -> None:
    """Create a user (or add an existing one to a tenant) with a role."""
    from mirage.auth.repository import UserRepository
    from mirage.db.engine import admin_session_scope, session_scope
    from mirage.kit.errors import DomainError
    from mirage.models.tenancy import ROLES, Role
    from mirage.tenants import service
    from mirage.tenants.repository import TenantRepository

    if role not in ROLES:
        typer.echo(f"error: role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)

    async def run() -> None:
        db = await _with_db(_settings(json_logs=False))
        try:
            tenant_id = None
            if tenant:
                # Maintenance lookup across tenants by slug: the one place the CLI needs it.
                async with admin_session_scope() as admin:
                    found = await TenantRepository(admin).by_slug(tenant)
                if found is None:
                    typer.echo(f"error: no tenant with slug {tenant!r}", err=True)
                    raise typer.Exit(2)
                tenant_id = found.id
            async with session_scope() as session:
                user = await UserRepository(session).by_email(email)
                if user is None:
                    pw = password or getpass.getpass("Password (min. 10 characters): ")
                    user = await service.create_user(
                        session, email=email, password=pw, display_name=name
                    )
                    typer.echo(f"user created: {user.email} (id {user.id})")
                if tenant_id is not None:
                    await service.add_member(
                        session, tenant_id=tenant_id, user_id=user.id, role=Role(role)
                    )
                    typer.echo(f"{user.email} is now {role} of {tenant}")
        except DomainError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(2) from exc
        finally:
            await db.dispose()

    asyncio.run(run())


def main() -> None:
    cli()
