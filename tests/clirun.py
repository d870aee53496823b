"""Run `mirage` commands as a process: one command (`python -m mirage …`, end to end), or
several in one Python process, one after the other.

A batch saves a Python start-up and the heavy imports per command (about 2 s of CPU each) and
runs every command through the same Typer app, options parsing, database set-up, exit codes
and output streams as `python -m mirage` does; an exception that would end the real process
with a traceback ends its command with status 1 and the traceback on its standard error.
Each suite that uses batches still runs at least one command as a real `python -m mirage`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass

_BATCH = r"""
import json, sys, traceback
from typer.testing import CliRunner
from mirage.cli import cli

results = []
for args in json.loads(sys.stdin.read()):
    r = CliRunner().invoke(cli, args, prog_name="mirage")
    stderr = r.stderr
    code = r.exit_code
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        stderr += "".join(traceback.format_exception(r.exception))
        code = 1
    results.append([code, r.stdout, stderr])
sys.stdout.write(json.dumps(results))
"""


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def mirage_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MIRAGE_DATABASE_URL"] = database_url
    return env


async def mirage(env: dict[str, str], *args: str) -> CliResult:
    """`python -m mirage ARGS` as its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mirage",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


async def mirage_batch(env: dict[str, str], *commands: list[str]) -> list[CliResult]:
    """Each command's result, the commands run in order in one process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _BATCH,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        proc.communicate(json.dumps([list(c) for c in commands]).encode()), 180
    )
    assert proc.returncode == 0, err.decode()[-4000:]
    results = [CliResult(code, o, e) for code, o, e in json.loads(out)]
    assert len(results) == len(commands)
    return results
