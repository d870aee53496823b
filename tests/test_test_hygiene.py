"""The suite's own hazards, checked over every test file (a new test is covered automatically).

Tests run the app, the simulator and a job worker in the test's own event loop. A database
write made with a *blocking* driver call from that loop can wait for a row lock held by one
of those in-loop transactions, which can never finish while the loop is blocked: the test
hangs until its timeout, and only when the timing lines up (a flaky test). So a write (UPDATE,
INSERT, DELETE, ...) reached from an ``async def`` must be awaited (``tests.conftest.sql``),
whether it is written in the async function itself or in a sync helper it calls.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).parent
# Statements that wait for row or table locks others hold (a fresh INSERT does not).
WRITE = re.compile(
    r"^\s*(update|delete|truncate|alter|drop|lock|select\b.*\bfor update)\b",
    re.IGNORECASE | re.DOTALL,
)


def _sql_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):  # implicit concatenation is a Constant; "a" + "b" is not
        return _sql_text(node.left)
    return None


def _blocking_writes(fn: ast.AST) -> list[int]:
    """Lines of ``x.execute(<locking SQL>)`` calls in ``fn`` that are not awaited."""
    awaited = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Await)}
    lines = []
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "execute"
            and node.args
            and id(node) not in awaited
        ):
            text = _sql_text(node.args[0])
            # NOWAIT fails at once instead of waiting: it cannot hang the loop.
            if text and WRITE.match(text) and "nowait" not in text.lower():
                lines.append(node.lineno)
    return lines


def _called_names(fn: ast.AST) -> set[str]:
    """Plain function calls (``start_now(...)``): helpers are called by name."""
    return {
        node.func.id
        for node in ast.walk(fn)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def blocking_writes_in_async_code(files: list[Path]) -> list[str]:
    trees = {path: ast.parse(path.read_text(), str(path)) for path in files}
    sync_writers: dict[str, str] = {}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.FunctionDef)
                and not node.name.startswith("test_")
                and (lines := _blocking_writes(node))
            ):
                sync_writers[node.name] = f"{path.name}:{lines[0]}"
    problems = []

    def where(path: Path) -> str:
        return (
            str(path.relative_to(TESTS.parent)) if path.is_relative_to(TESTS.parent) else path.name
        )

    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.AsyncFunctionDef):
                continue
            for line in _blocking_writes(node):
                problems.append(f"{where(path)}:{line} in {node.name}")
            for name in sorted(_called_names(node) & sync_writers.keys()):
                problems.append(
                    f"{where(path)}:{node.lineno} {node.name} calls "
                    f"{name} ({sync_writers[name]}), a blocking write"
                )
    return problems


def test_async_code_never_makes_a_blocking_database_write() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 50  # the whole suite was scanned
    problems = blocking_writes_in_async_code(files)
    assert not problems, "await tests.conftest.sql(...) instead:\n" + "\n".join(problems)


def test_the_check_finds_direct_and_indirect_blocking_writes(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import psycopg\n"
        "def helper(c):\n"
        "    with psycopg.connect(c) as conn:\n"
        "        conn.execute('update t set x = 1')\n"
        "def reader(c):\n"
        "    with psycopg.connect(c) as conn:\n"
        "        conn.execute('select 1')\n"
        "async def test_direct(c):\n"
        "    with psycopg.connect(c) as conn:\n"
        "        conn.execute('delete from t')\n"
        "async def test_indirect(c):\n"
        "    helper(c)\n"
        "    reader(c)\n"
        "async def test_fine(c, conn):\n"
        "    await conn.execute('update t set x = 2')\n"
        "def test_sync(c):\n"
        "    helper(c)\n"
    )
    problems = blocking_writes_in_async_code([sample])
    assert len(problems) == 2
    assert "in test_direct" in problems[0] and "test_indirect calls helper" in problems[1]
