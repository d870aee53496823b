"""The import graph of a package, its cycles and its forbidden cross-domain imports.

Used by ``scripts/arch.py`` (``make arch``) and ``tests/test_architecture.py``. Standard library
only: it parses the source with :mod:`ast` and never imports the code it analyses.

What counts as an import
  * every ``import`` / ``from ... import`` anywhere in a module: at module level, in class
    bodies, inside functions and methods, under ``try:``. The only exemption is the body of
    ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``), which never runs; its ``else:``
    branch does run and counts.
  * relative imports are resolved against the importing module (a package ``__init__`` is its
    own package).
  * ``from pkg import name`` counts as importing ``pkg.name`` when that is a module of the
    package, and as importing ``pkg`` (its ``__init__``) otherwise. ``import a.b.c`` counts as
    importing ``a.b.c``. A package ``__init__`` is a module like any other, so its re-exports
    are edges: importing ``pkg`` imports whatever ``pkg/__init__.py`` imports.
  * implicit parent-package imports (running ``a/__init__`` before ``a.b``) are not edges, and
    imports of modules outside the analysed package are ignored.

Packages ("units")
  ``mirage.<x>...`` belongs to unit ``x`` (``instances``, ``kit``, ...); a top-level module
  (``app``, ``cli``, ``worker``, ``config``) is a unit of its own; the root ``__init__`` is
  ``mirage``.

Rules (DESIGN.md, "Layout")
  A domain imports ``kit/``, ``db/``, ``models/``, shared layers and other domains' *services*,
  never another domain's ``repository``, ``views``, ``router``, ``tasks`` or ``engine``.
  Concretely, an import of ``mirage.B.<part>[...]`` from a module of unit ``A`` is forbidden when
  ``part`` is one of :data:`PRIVATE_PARTS`, ``A != B``, ``B`` is not a shared layer and ``A`` is
  not a composition root:
  * shared layers (:data:`SHARED`: kit, db, models, web, config, providers, migrations) are not
    domains: their modules may be named ``engine`` (``db/engine.py``) and are importable from
    anywhere. They obey the same rule as importers (``web`` may not import a domain's router).
  * composition roots (:data:`ROOTS`: app, cli, worker, demo, __main__ and the root package) wire
    the application together (mount routers and views, register tasks, seed the demo, start the
    simulator); they may import anything, and nothing but another root imports them.
  A module cycle is a strongly connected component of more than one module (or a module
  importing itself). Both make the check fail; the package graph is printed with its cycle
  count (packages in a cycle are listed too) but package cycles do not fail the check.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PRIVATE_PARTS = frozenset({"repository", "views", "router", "tasks", "engine"})
SHARED = frozenset({"kit", "db", "models", "web", "config", "providers", "migrations"})
ROOTS = frozenset({"app", "cli", "worker", "demo", "__main__", "mirage"})


@dataclass(frozen=True, order=True)
class Import:
    """One import statement's edge: ``source`` imports ``target`` at ``source_file:line``."""

    source: str
    target: str
    line: int
    in_function: bool

    def where(self, graph: Graph) -> str:
        return f"{graph.files[self.source]}:{self.line}"


@dataclass
class Graph:
    """Modules of one package and the import edges between them."""

    package: str
    root: Path
    files: dict[str, str] = field(default_factory=dict)  # module -> path relative to root.parent
    imports: list[Import] = field(default_factory=list)

    @property
    def edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {module: set() for module in self.files}
        for imp in self.imports:
            out[imp.source].add(imp.target)
        return out

    def unit(self, module: str) -> str:
        """The package (domain or layer) a module belongs to."""
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else parts[0]

    def package_edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {self.unit(module): set() for module in self.files}
        for imp in self.imports:
            a, b = self.unit(imp.source), self.unit(imp.target)
            if a != b:
                out[a].add(b)
        return out


def build(root: Path) -> Graph:
    """Parse every module under ``root`` (a package directory such as ``src/mirage``)."""
    root = root.resolve()
    graph = Graph(package=root.name, root=root)
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
        graph.files[".".join(parts)] = str(path.relative_to(root.parent.parent))
    known = set(modules)
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _imports(tree):
            for target in _targets(node, module, is_package, known):
                if target in known:
                    graph.imports.append(Import(module, target, node.lineno, in_function))
    graph.imports = sorted(set(graph.imports))  # `from m import a, b` is one edge
    return graph


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append((node, in_function))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:  # the body never runs; `else:` does
                visit(statement, in_function)
            return
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]
) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base)
        origin = f"{prefix}.{node.module}" if node.module else prefix
    else:
        origin = node.module or ""
    out: list[str] = []
    for alias in node.names:
        submodule = f"{origin}.{alias.name}"
        out.append(submodule if submodule in known else origin)
    return out


def module_cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components that are cycles, largest first, members sorted."""
    edges = graph.edges
    cycles = [
        sorted(component)
        for component in _scc(edges)
        if len(component) > 1 or next(iter(component)) in edges[next(iter(component))]
    ]
    return sorted(cycles, key=lambda c: (-len(c), c))


def package_cycles(graph: Graph) -> list[list[str]]:
    edges = graph.package_edges()
    return sorted(
        (sorted(c) for c in _scc(edges) if len(c) > 1),
        key=lambda c: (-len(c), c),
    )


def cycle_imports(graph: Graph, cycle: list[str]) -> list[Import]:
    """The import statements that make up one module cycle (edges inside the component)."""
    members = set(cycle)
    return [i for i in graph.imports if i.source in members and i.target in members]


def forbidden_imports(graph: Graph) -> list[Import]:
    out: list[Import] = []
    for imp in graph.imports:
        source_unit, target_unit = graph.unit(imp.source), graph.unit(imp.target)
        if source_unit == target_unit or source_unit in ROOTS or target_unit in SHARED:
            continue
        parts = imp.target.split(".")
        if len(parts) > 2 and parts[2] in PRIVATE_PARTS:
            out.append(imp)
    return out


def layers(graph: Graph) -> list[list[str]]:
    """Packages in dependency order: each layer imports only packages in earlier layers
    (packages of one cycle are one node, shown together)."""
    edges = graph.package_edges()
    component_of: dict[str, int] = {}
    components = _scc(edges)
    for index, component in enumerate(components):
        for unit in component:
            component_of[unit] = index
    depth: dict[int, int] = {}

    def level(index: int) -> int:
        if index not in depth:
            depth[index] = 0
            deps = {
                component_of[t] for u in components[index] for t in edges[u] if t in component_of
            } - {index}
            depth[index] = 1 + max((level(d) for d in deps), default=-1)
        return depth[index]

    by_level: dict[int, list[str]] = defaultdict(list)
    for index, component in enumerate(components):
        name = "+".join(sorted(component)) if len(component) > 1 else next(iter(component))
        by_level[level(index)].append(name)
    return [sorted(by_level[k]) for k in sorted(by_level)]


def _scc(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on deep graphs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in edges:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                result.append(component)
    return result


@dataclass
class Report:
    graph: Graph
    cycles: list[list[str]]
    forbidden: list[Import]
    package_cycles: list[list[str]]

    @property
    def ok(self) -> bool:
        return not self.cycles and not self.forbidden

    def function_imports(self) -> list[Import]:
        return [i for i in self.graph.imports if i.in_function]

    def as_dict(self) -> dict[str, object]:
        g = self.graph
        return {
            "ok": self.ok,
            "modules": len(g.files),
            "imports": len(g.imports),
            "function_level_imports": [
                {"module": i.source, "imports": i.target, "where": i.where(g)}
                for i in self.function_imports()
            ],
            "packages": {u: sorted(t) for u, t in sorted(g.package_edges().items())},
            "layers": layers(g),
            "package_cycles": self.package_cycles,
            "package_cycle_count": len(self.package_cycles),
            "module_cycles": [
                {
                    "members": cycle,
                    "imports": [
                        {"module": i.source, "imports": i.target, "where": i.where(g)}
                        for i in cycle_imports(g, cycle)
                    ],
                }
                for cycle in self.cycles
            ],
            "module_cycle_count": len(self.cycles),
            "forbidden_imports": [
                {"module": i.source, "imports": i.target, "where": i.where(g)}
                for i in self.forbidden
            ],
        }

    def text(self) -> str:
        g = self.graph
        lines = [f"{g.package}: {len(g.files)} modules, {len(g.imports)} internal imports"]
        lines.append("")
        lines.append("Package graph (each package -> the packages it imports), in layers:")
        edges = g.package_edges()
        for depth, layer in enumerate(layers(g)):
            lines.append(f"  layer {depth}:")
            for name in layer:
                for unit in name.split("+"):
                    deps = ", ".join(sorted(edges[unit])) or "-"
                    lines.append(f"    {unit:<14} -> {deps}")
        lines.append("")
        lines.append(f"Package cycles: {len(self.package_cycles)}")
        lines.extend(f"  {' <-> '.join(c)}" for c in self.package_cycles)
        lines.append("")
        lines.append(f"Module cycles: {len(self.cycles)}")
        for cycle in self.cycles:
            lines.append(f"  [{len(cycle)} modules] {', '.join(cycle)}")
            lines.extend(
                f"      {i.source} -> {i.target}  ({i.where(g)}"
                f"{', in a function' if i.in_function else ''})"
                for i in cycle_imports(g, cycle)
            )
        lines.append("")
        lines.append(f"Forbidden cross-domain imports: {len(self.forbidden)}")
        lines.extend(f"  {i.source} -> {i.target}  ({i.where(g)})" for i in self.forbidden)
        lines.append("")
        lines.append(f"Imports inside functions: {len(self.function_imports())}")
        return "\n".join(lines)


def analyse(root: Path) -> Report:
    graph = build(root)
    return Report(graph, module_cycles(graph), forbidden_imports(graph), package_cycles(graph))


def default_root() -> Path:
    return Path(__file__).resolve().parent.parent


if __name__ == "__main__":  # pragma: no cover - `python -m mirage.ops.arch`
    report = analyse(default_root())
    print(report.text())  # noqa: T201
    sys.exit(0 if report.ok else 1)
