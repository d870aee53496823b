"""`mirage contacts import FILE` and `mirage contacts export`: operators and scripts.

The import runs the same code as the API and the worker (upload → start → run, chunk by chunk),
synchronously in this process and under the tenant's row-level security like the app: the
tenant named by ``--tenant`` is looked up by slug with the admin role (the one maintenance
query, as `mirage user create --tenant` does), then everything runs as ``mirage_app`` in that
tenant's context, as an owner with no user (``created_by`` and the ledger's actor stay empty;
the provenance says CLI).

Imports of the database layer happen inside the commands: `mirage --help` stays light.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from mirage.auth.principal import Principal
    from mirage.db.engine import Database

contacts_cli = typer.Typer(help="Import and export contacts.", no_args_is_help=True)


class CliError(Exception):
    pass


async def _open_db() -> Database:
    from mirage.config import get_settings
    from mirage.db import engine as db_engine
    from mirage.db.migrate import migrate

    settings = get_settings()
    urls = db_engine.resolve_urls(settings)
    if settings.database_url is None:
        migrate(urls)  # the embedded server is ours: keep it migrated (as `mirage api` does)
    db = db_engine.make_database(urls, pool_size=2, application_name="mirage-cli")
    db_engine.set_database(db)
    return db


async def _tenant_principal(slug: str) -> Principal:
    from mirage.auth.principal import ROLE_SCOPES, Principal
    from mirage.contacts.imports_repository import ImportRepository
    from mirage.db.engine import admin_session_scope
    from mirage.models.tenancy import Role

    # Maintenance lookup across tenants by slug (admin role): the only query that is not
    # under a tenant's row-level security.
    async with admin_session_scope() as admin:
        tenant_id = await ImportRepository(admin).tenant_id_by_slug(slug)
    if tenant_id is None:
        raise CliError(f"no tenant with slug {slug!r}")
    return Principal(
        kind="user", tenant_id=tenant_id, role=Role.OWNER, scopes=ROLE_SCOPES[Role.OWNER]
    )


def parse_maps(maps: list[str]) -> dict[str, str]:
    """``COLUMN=FIELD`` pairs (the last ``=`` splits, so a column may contain one)."""
    out: dict[str, str] = {}
    for item in maps:
        column, sep, field = item.rpartition("=")
        if not sep or not column.strip() or not field.strip():
            raise CliError(f"--map takes COLUMN=FIELD, not {item!r}")
        out[column.strip()] = field.strip()
    return out


def apply_maps(header: list[str], guessed: dict[str, str], maps: dict[str, str]) -> dict[str, str]:
    """The guessed mapping with ``--map`` overrides; a column is matched exactly, else
    ignoring case."""
    mapping = dict(guessed)
    folded = {c.casefold(): c for c in header}
    for column, field in maps.items():
        real = column if column in header else folded.get(column.casefold())
        if real is None:
            raise CliError(f"--map: the file has no column {column!r} (columns: {header})")
        # A standard field moves: the column that had it by guess loses it.
        if not field.startswith("custom.") and field != "ignore":
            for other, target in list(mapping.items()):
                if target == field and other != real:
                    mapping[other] = "ignore"
        mapping[real] = field
    return mapping


async def run_import_file(
    path: Path,
    *,
    tenant: str,
    maps: dict[str, str],
    tags: list[str],
    basis: str | None,
    source: str | None,
    on_duplicate: str,
) -> dict[str, Any]:
    """Upload, start and run an import of ``path`` for the tenant ``tenant``: its summary."""
    from mirage.contacts import imports_service as svc
    from mirage.db.engine import session_scope
    from mirage.db.tenancy import tenant_context
    from mirage.kit.errors import DomainError

    principal = await _tenant_principal(tenant)
    with tenant_context(principal.tenant_id):
        try:
            async with session_scope() as session:
                with path.open("rb") as f:
                    imp = await svc.create_import(session, principal, filename=path.name, stream=f)
                mapping = apply_maps(list(imp.header), dict(imp.mapping), maps)
                import_id = imp.id
            async with session_scope() as session:
                await svc.start_import(
                    session,
                    principal,
                    import_id,
                    mapping=mapping,
                    options=svc.ImportOptions(
                        tags=tuple(tags),
                        basis=basis,
                        source=source or f"cli: {path.name}"[:120],
                        on_duplicate=on_duplicate,
                    ),
                    enqueue=False,
                )
        except DomainError as exc:
            raise CliError(exc.detail) from exc
        try:
            done = await svc.run_import(import_id)
        except BaseException:
            # Interrupted (Ctrl-C) or broken: no worker will pick this run up, so it ends
            # here as failed rather than "running" for ever.
            await asyncio.shield(svc.fail_import(import_id, "the CLI run was interrupted"))
            raise
        if done is None:
            raise CliError("the import vanished while running")
        return svc.summary(done)


def _print_summary(s: dict[str, Any]) -> None:
    typer.echo(
        f"import {s['id']}: {s['state']}\n"
        f"  rows        {s['rows']:>10,}\n"
        f"  imported    {s['imported']:>10,}\n"
        f"  updated     {s['updated']:>10,}\n"
        f"  skipped     {s['skipped']:>10,}  (existing, left alone)\n"
        f"  duplicates  {s['duplicates']:>10,}  (same number earlier in the file)\n"
        f"  suppressed  {s['suppressed']:>10,}  (on the suppression list, not imported)\n"
        f"  invalid     {s['invalid']:>10,}"
        + "".join(f"\n    {reason:<18}{n:>8,}" for reason, n in s["invalid_by_reason"].items())
    )
    if s.get("error"):
        typer.echo(f"  error: {s['error']}")


def _run(coro_fn: Any) -> Any:
    async def wrapper() -> Any:
        db = await _open_db()
        try:
            return await coro_fn()
        finally:
            await db.dispose()

    try:
        return asyncio.run(wrapper())
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@contacts_cli.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file."),
    ],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD (name, phone, email, tags, language, notes, basis, "
            "custom.<key>, ignore); repeatable. Unmapped columns keep the guess.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag for every contact; repeatable.")
    ] = None,
    basis: Annotated[
        str | None,
        typer.Option(help="consent or legitimate_interest (else from a basis column)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Provenance of the contacts (default: cli: FILE).")
    ] = None,
    on_duplicate: Annotated[
        str, typer.Option("--on-duplicate", help="update or skip existing contacts.")
    ] = "update",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import contacts from a CSV file (the same import as the dashboard and the API)."""
    if basis is not None and basis not in ("consent", "legitimate_interest"):
        typer.echo("error: --basis must be consent or legitimate_interest", err=True)
        raise typer.Exit(2)
    if on_duplicate not in ("update", "skip"):
        typer.echo("error: --on-duplicate must be update or skip", err=True)
        raise typer.Exit(2)
    _quiet_logs()

    async def go() -> dict[str, Any]:
        return await run_import_file(
            file,
            tenant=tenant,
            maps=parse_maps(map_ or []),
            tags=tag or [],
            basis=basis,
            source=source,
            on_duplicate=on_duplicate,
        )

    summary: dict[str, Any] = _run(go)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)
    if summary["state"] != "completed":
        raise typer.Exit(1)


EXPORT_COLUMNS = (
    "id",
    "name",
    "phone_e164",
    "email",
    "language",
    "notes",
    "tags",
    "custom_fields",
    "legal_basis",
    "li_assessment_ref",
    "consent_state",
    "opted_out_at",
    "suppressed",
    "provenance_source",
    "provenance_at",
    "created_at",
    "updated_at",
)


def _export_row(c: Any) -> dict[str, Any]:
    data = c.model_dump(mode="json")
    data["tags"] = [t["name"] for t in data.get("tags", [])]
    return {k: data.get(k) for k in EXPORT_COLUMNS}


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = "|".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    # Spreadsheet formula injection: a cell starting with = + - @ is written as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export_contacts(tenant: str, out: Any, fmt: Literal["json", "csv"]) -> int:
    """Every contact of the tenant to ``out`` (a text stream), page by page (bounded memory,
    each page its own short transaction). Returns the number written."""
    import csv

    from mirage.contacts import service as contacts
    from mirage.contacts.schemas import ContactFilterIn
    from mirage.db.engine import session_scope
    from mirage.db.tenancy import tenant_context

    principal = await _tenant_principal(tenant)
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(EXPORT_COLUMNS)
    else:
        out.write("[")
    count, cursor = 0, None
    with tenant_context(principal.tenant_id):
        while True:
            async with session_scope() as session:
                page = await contacts.list_contacts(
                    session, principal, ContactFilterIn(), cursor=cursor, limit=contacts.MAX_PAGE
                )
            for c in page.items:
                row = _export_row(c)
                if writer is not None:
                    writer.writerow([_csv_cell(row[k]) for k in EXPORT_COLUMNS])
                else:
                    out.write(("\n" if count == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
                count += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    if writer is None:
        out.write("\n]\n" if count else "]\n")
    return count


@contacts_cli.command("export")
def export_command(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV (the default).")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write to this file (default: standard output).")
    ] = None,
) -> None:
    """Export every contact of a tenant (tags joined with |, custom fields as JSON in CSV)."""
    if as_json and as_csv:
        typer.echo("error: choose --json or --csv", err=True)
        raise typer.Exit(2)
    fmt: Literal["json", "csv"] = "json" if as_json else "csv"
    _quiet_logs()

    async def go() -> int:
        if out is None:
            return await export_contacts(tenant, sys.stdout, fmt)
        with out.open("w", encoding="utf-8", newline="") as f:
            return await export_contacts(tenant, f, fmt)

    count: int = _run(go)
    if out is not None:
        typer.echo(f"{count} contacts written to {out}", err=True)


def _quiet_logs() -> None:
    from mirage.config import get_settings
    from mirage.kit.logging import configure_logging

    # Logs go to stderr as usual, but only warnings: stdout is the command's output.
    configure_logging("WARNING", get_settings().log_json)


__all__ = ["contacts_cli", "export_contacts", "run_import_file"]
