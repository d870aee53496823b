"""`mirage tenant create` / `mirage user create` on a real database, and the helpers that start
and stop `mirage demo` (its test, with the browser, is tests/e2e/test_demo_round.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from mirage.db.urls import RoleUrls
from mirage.kit.http import limits as pool_limits
from tests.clirun import mirage, mirage_batch, mirage_env
from tests.conftest import free_port, sql


def _start_demo(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env["MIRAGE_DATA_DIR"] = str(data_dir)
    # The demo as a newcomer runs it (dev settings), with the suite's compressed human waits.
    env["MIRAGE_TIME_SCALE"] = os.environ["MIRAGE_TIME_SCALE"]
    env["MIRAGE_JOB_POLL_SECONDS"] = os.environ["MIRAGE_JOB_POLL_SECONDS"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mirage",
            "demo",
            "--port",
            str(port),
            "--sim-port",
            str(free_port()),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError("demo exited early:\n" + "".join(lines))
        lines.append(line)
        if "Press Ctrl-C" in line:
            _keep_draining(proc, data_dir / "demo-output.log")
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("demo did not start:\n" + "".join(lines))


def _sign_in(base: str, email: str, password: str) -> tuple[httpx.Response, str]:
    """Sign in; returns the overview page and the Numbers page."""
    with httpx.Client(limits=pool_limits(), base_url=base) as c:
        c.get("/signin")
        home = c.post(
            "/signin",
            data={"email": email, "password": password, "csrf_token": c.cookies["mirage_csrf"]},
            follow_redirects=True,
        )
        numbers = c.get("/instances").text
        deadline = time.monotonic() + 20  # pairing in the sandbox settles within seconds
        while numbers.count('data-state="open"') < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            numbers = c.get("/instances").text
    return home, numbers


def _assert_seeded_numbers(numbers_page: str) -> None:
    for name in ("Vendas 01", "Vendas 02", "Suporte 01", "Suporte 02"):
        assert name in numbers_page
    # Two simulated numbers come connected, two wait for a QR scan in the sandbox.
    assert numbers_page.count('data-state="open"') == 2, numbers_page


def _keep_draining(proc: subprocess.Popen[str], path: Path) -> None:
    """Keep reading the demo's output (its JSON logs) into a file. Nobody reading a pipe is a
    hang, not a pause: once the pipe's buffer is full, the demo's next log line blocks its
    event loop, and with it the API, the worker and the simulator."""
    assert proc.stdout is not None
    out = proc.stdout

    def drain() -> None:
        with path.open("a") as log:
            for line in out:
                log.write(line)

    threading.Thread(target=drain, name="demo-output", daemon=True).start()


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_cli_creates_tenant_and_user(role_urls: RoleUrls) -> None:
    env = mirage_env(role_urls.bootstrap.render_as_string(hide_password=False))
    slug = f"cli-{os.getpid()}-{time.time_ns() % 100000}"

    # `mirage migrate` as a process of its own; the later commands, one after the other, in
    # one process (tests/clirun.py).
    r = await mirage(env, "migrate")
    assert r.code == 0 and "migrated" in r.out, r.err
    created, duplicate, user, short, bad_role = await mirage_batch(
        env,
        ["tenant", "create", "Agência CLI", "--slug", slug],
        ["tenant", "create", "Outra", "--slug", slug],
        [
            "user",
            "create",
            f"{slug}@example.com",
            "--tenant",
            slug,
            "--role",
            "admin",
            "--password",
            "long enough pw",
        ],
        ["user", "create", f"x{slug}@example.com", "--password", "short"],
        ["user", "create", f"y{slug}@example.com", "--role", "king", "--password", "x" * 12],
    )
    assert created.code == 0, created.err
    assert duplicate.code == 2 and "already exists" in duplicate.err
    assert user.code == 0 and "is now admin" in user.out, user.err
    assert short.code == 2 and "at least 10" in short.err
    assert bad_role.code == 2 and "role must be one of" in bad_role.err
    rows = await sql(
        RoleUrls.libpq(role_urls.bootstrap),
        "select m.role from memberships m join users u on u.id = m.user_id "
        "join tenants t on t.id = m.tenant_id where t.slug = %s",
        slug,
    )
    assert rows == [("admin",)]
