"""`mirage backup create [FILE]` and `mirage backup restore FILE` (see ``mirage.ops.backup``).

Imports of the database layer happen inside the commands: `mirage --help` stays light."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

backup_cli = typer.Typer(help="Back up and restore the database.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _server_url() -> Any:
    """The server URL (MIRAGE_DATABASE_URL, or the embedded server's), as a SQLAlchemy URL."""
    from mirage.config import get_settings
    from mirage.db import engine as db_engine
    from mirage.kit.logging import configure_logging

    settings = get_settings()
    configure_logging("WARNING", settings.log_json)
    return db_engine.resolve_urls(settings).bootstrap


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"error": message}, ensure_ascii=False))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@backup_cli.command("create")
def create(
    file: Annotated[
        Path | None,
        typer.Argument(help="Archive to write (default: mirage-<UTC time>.dump here)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Dump the whole database (pg_dump custom format) into FILE; never overwrites."""
    from mirage.ops.backup import BackupError
    from mirage.ops.backup import create as run_create

    try:
        done = run_create(_server_url(), file)
    except (BackupError, OSError) as exc:
        _fail(str(exc), as_json)
        return
    if as_json:
        typer.echo(json.dumps(done))
    else:
        typer.echo(
            f"backed up database {done['database']} (revision {done['revision']}, "
            f"{done['relations']} relations) to {done['file']}: {done['bytes']} bytes "
            f"in {done['elapsed_ms']} ms"
        )


@backup_cli.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="An archive made by `mirage backup create`.")],
    as_json: JsonOption = False,
) -> None:
    """Restore FILE into an empty (or not yet created) database, recreating Mirage's roles
    and grants first; then run `mirage migrate` if the archive is of an older version."""
    from mirage.config import get_settings
    from mirage.ops.backup import BackupError
    from mirage.ops.backup import restore as run_restore

    settings = get_settings()
    password = settings.db_role_password.get_secret_value() if settings.db_role_password else None
    try:
        done = run_restore(_server_url(), file, role_password=password)
    except (BackupError, OSError) as exc:
        _fail(str(exc), as_json)
        return
    if as_json:
        typer.echo(json.dumps(done))
    else:
        typer.echo(
            f"restored {done['file']} into database {done['database']} (revision "
            f"{done['revision']}, {done['relations']} relations) in {done['elapsed_ms']} ms; "
            "run `mirage migrate` if Mirage is newer than the backup"
        )
