"""`mirage metrics rebuild`: recompute the rollups from the raw tables (explicit maintenance:
the admin role), for one tenant or all. The periodic refresh keeps them current on its own;
a rebuild is for after a restore, a bulk import made outside Mirage, or a changed definition.

Imports of the database layer happen inside the command: `mirage --help` stays light."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

metrics_cli = typer.Typer(help="Metrics rollups.", no_args_is_help=True)


@metrics_cli.command("rebuild")
def rebuild(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant slug (default: every tenant).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recompute the metrics rollups from messages, policy decisions, rounds and campaign
    recipients."""
    from mirage.config import get_settings
    from mirage.db import engine as db_engine
    from mirage.db.migrate import migrate
    from mirage.kit.errors import DomainError
    from mirage.kit.logging import configure_logging
    from mirage.metrics import service

    settings = get_settings()
    configure_logging("WARNING", settings.log_json)

    async def go() -> service.Rebuilt:
        urls = db_engine.resolve_urls(settings)
        if settings.database_url is None:
            migrate(urls)  # the embedded server is ours: keep it migrated
        db = db_engine.make_database(urls, pool_size=2, application_name="mirage-cli")
        db_engine.set_database(db)
        try:
            return await service.rebuild(tenant)
        finally:
            await db.dispose()

    try:
        done = asyncio.run(go())
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    figures = {
        "tenant": done.tenant,
        "message_buckets": done.message_buckets,
        "decision_buckets": done.decision_buckets,
        "round_buckets": done.round_buckets,
        "campaigns": done.campaigns,
        "elapsed_ms": done.elapsed_ms,
    }
    if as_json:
        typer.echo(json.dumps(figures))
    else:
        who = f"tenant {tenant}" if tenant else "every tenant"
        typer.echo(
            f"rebuilt {who}: {done.message_buckets} message, {done.decision_buckets} decision "
            f"and {done.round_buckets} round hour buckets, {done.campaigns} campaigns in "
            f"{done.elapsed_ms} ms"
        )
