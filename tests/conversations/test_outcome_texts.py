"""Every outcome the engine writes on a round is one the pages can show in the reader's words.

Outcomes are stored as short English texts and translated when shown
(``conversations.outcomes``); a new literal outcome passed to ``finish`` without a translation
would reach a pt-BR transcript as English. This reads every ``finish(...)`` call in the
conversations package and checks each literal outcome (or module constant) is known; an
f-string outcome is checked with every value it formats set to "n" (a name or a code)."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

from mirage.conversations import outcomes


def _constants(tree: ast.Module) -> dict[str, str]:
    return {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for t in node.targets
        if isinstance(t, ast.Name) and isinstance(node.value.value, str)
    }


def _sample(arg: ast.expr) -> str | None:
    """An f-string outcome (``f"number {name} deleted"``, maybe cut ``[:200]``) with "n" for
    each value it formats."""
    if isinstance(arg, ast.Subscript):
        arg = arg.value
    if not isinstance(arg, ast.JoinedStr):
        return None
    return "".join(
        v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "n"
        for v in arg.values
    )


def test_every_literal_round_outcome_has_a_translation() -> None:
    root = Path(str(resources.files("mirage"))) / "conversations"
    trees = {p: ast.parse(p.read_text()) for p in sorted(root.glob("*.py"))}
    constants: dict[str, str] = {}
    for tree in trees.values():
        constants.update(_constants(tree))
    seen: list[str] = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else None
            name = name or (node.func.id if isinstance(node.func, ast.Name) else None)
            if name != "finish" or len(node.args) < 4:
                continue
            arg = node.args[3]
            text = None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                text = arg.value
            elif isinstance(arg, ast.Name) and arg.id in constants:
                text = constants[arg.id]
            else:
                text = _sample(arg)
            if text is None:
                continue  # computed (policy decisions, "X cannot send: …"): parsed by pattern
            seen.append(text)
            assert outcomes.known(text), f"{path.name}:{node.lineno}: {text!r} untranslated"
    assert "the reply never arrived" in seen and "number n deleted" in seen and len(seen) >= 4


def test_a_round_cancelled_by_a_deleted_number_says_so() -> None:
    from jinja2.runtime import new_context

    from mirage.web.templating import environment

    for locale, expected in (("pt_BR", "o número Vendas B foi excluído"), ("en", "its number")):
        ctx = new_context(environment(locale), "t", {}, {"locale": locale})
        shown = str(outcomes.round_outcome(ctx, "number Vendas B deleted"))
        assert shown.startswith(expected), shown
