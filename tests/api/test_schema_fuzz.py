"""Schemathesis fuzzes every /api/v1 operation from the OpenAPI schema against the real server:
no 5xx, responses match the schema, bad input is a documented 4xx.

The operations are split into a few groups by their OpenAPI tag, one test (and one
schemathesis run) each, so that pytest-xdist runs the groups in parallel. Every group runs
with the same options (mode, phases, seed, examples per operation, checks, config file) as one
run over the whole API would: an operation gets the same examples and the same checks. The
last group takes every operation the others do not name, so a new tag is fuzzed too, and each
run checks that schemathesis selected exactly the operations of its group.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mirage.kit.http import limits as pool_limits
from tests.conftest import LiveServer, TenantFixture, make_token

# Groups of OpenAPI tags, roughly even in fuzzing time (20-35 s each in a profile at load 7 on
# two cores, so that none nears the per-test timeout on a loaded machine). An operation
# belongs to the first group that names one of its tags; the catch-all ("account") takes the
# rest.
GROUPS: dict[str, frozenset[str]] = {
    "numbers": frozenset({"numbers"}),
    "personas": frozenset({"personas"}),
    "conversations": frozenset({"conversations", "policy"}),
    "contacts": frozenset({"contacts"}),
    "tags": frozenset({"tags"}),
    "compliance": frozenset({"suppressions", "data-requests"}),
    "imports": frozenset({"contact imports"}),
    "outreach": frozenset({"outreach", "campaigns"}),
    "metrics": frozenset({"metrics", "number safety"}),
    "account": frozenset(),  # tokens, audit, settings, me, and every tag not named above
}
CATCH_ALL = "account"


def group_of(tags: list[str]) -> str:
    for name, members in GROUPS.items():
        if members & set(tags):
            return name
    return CATCH_ALL


def operations_by_group(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Operation ids of the schema, by group (every operation in exactly one group)."""
    groups: dict[str, list[str]] = {name: [] for name in GROUPS}
    for path_item in schema["paths"].values():
        for method, op in path_item.items():
            if method in ("get", "put", "post", "delete", "patch", "options", "head", "trace"):
                assert op.get("operationId"), (method, op)
                groups[group_of(op.get("tags", []))].append(op["operationId"])
    return groups


@pytest.mark.parametrize("group", list(GROUPS))
async def test_schemathesis_finds_no_server_errors_or_schema_violations(
    group: str, live_server: LiveServer, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    schema_url = f"{live_server.url}/api/v1/openapi.json"
    async with httpx.AsyncClient(
        limits=pool_limits(), timeout=60
    ) as http:  # a loaded machine answers slowly
        schema = (await http.get(schema_url)).raise_for_status().json()
    operation_ids = operations_by_group(schema)[group]
    assert operation_ids, f"no operation in group {group}"
    token = await make_token(tenant_a)
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        # All checks but two that a schema cannot express (see the file).
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        schema_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--mode",
        "all",
        "--max-examples",
        os.environ.get("MIRAGE_FUZZ_EXAMPLES", "100"),
        "--seed",
        "20261126",
        # One thread: CPython 3.11's ast.parse is not thread-safe (hypothesis describes
        # filter lambdas with it; two threads fail with "AST constructor recursion depth
        # mismatch"), and xdist runs the groups in parallel anyway.
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        # The stateful phase follows links and may revoke the very token the run uses.
        "--phases",
        "examples,coverage,fuzzing",
    ]
    for operation_id in operation_ids:
        cmd += ["--include-operation-id", operation_id]
    result = await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "passed" in output.lower()
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    assert selected, output[-3000:]
    assert int(selected.group(1)) == len(operation_ids), (group, operation_ids, output[:2000])
