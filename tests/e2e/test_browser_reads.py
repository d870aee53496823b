"""Browser tests never read a page that is still changing: Playwright's many-element reads
(``all_inner_texts``, ``all_text_contents``, ``count``, ``all``) do not wait, unlike ``expect``
and single-element reads. One right after an action (a click that submits a form…) reads
whatever the old page or a half-loaded new one holds — a test that fails now and then (a
full-run failure read ``[]`` for the ten recovery codes a click had just asked for). Every
browser test, present and future, is scanned: between an action and such a read there must be
a wait (``expect``, ``goto``, a ``wait_for…``)."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent
ACTIONS = {
    "click",
    "dblclick",
    "tap",
    "fill",
    "type",
    "press",
    "check",
    "uncheck",
    "select_option",
    "set_input_files",
    "dispatch_event",
}
WAITS = {
    "expect",
    "goto",
    "reload",
    "go_back",
    "wait_for",
    "wait_for_url",
    "wait_for_load_state",
    "wait_for_selector",
    "wait_for_function",
    "wait_for_timeout",
    "eventually",
}
READS = {"all_inner_texts", "all_text_contents", "count", "all"}


def _name(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return None


def unwaited_reads(source: str) -> list[int]:
    """Lines of many-element reads whose nearest earlier browser call, in the same function,
    is an action rather than a wait."""
    found = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.AsyncFunctionDef | ast.FunctionDef):
            continue
        events: list[tuple[int, int, str]] = []
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and (name := _name(node)) is not None:
                if name in ACTIONS:
                    kind = "action"
                elif name in WAITS:
                    kind = "wait"
                elif name in READS and isinstance(node.func, ast.Attribute):
                    kind = "read"
                else:
                    continue
                events.append((node.lineno, node.col_offset, kind))
        last = None
        for line, _col, kind in sorted(events):
            if kind == "read" and last == "action":
                found.append(line)
            if kind != "read":
                last = kind
    return found


def test_the_scan_finds_a_read_right_after_an_action() -> None:
    bad = (
        "async def t(page):\n"
        "    await page.click('#go')\n"
        "    codes = await page.locator('code').all_inner_texts()\n"
    )
    good = (
        "async def t(page):\n"
        "    await page.click('#go')\n"
        "    await expect(page.locator('code')).to_have_count(10)\n"
        "    codes = await page.locator('code').all_inner_texts()\n"
    )
    assert unwaited_reads(bad) == [3]
    assert unwaited_reads(good) == []


def test_no_browser_test_reads_a_page_an_action_is_still_changing() -> None:
    offenders = [
        f"{path.name}:{line}"
        for path in sorted(HERE.glob("test_*.py"))
        if path.name != Path(__file__).name
        for line in unwaited_reads(path.read_text())
    ]
    assert offenders == [], (
        "wait (expect(...), wait_for...) before these many-element reads: " + ", ".join(offenders)
    )
