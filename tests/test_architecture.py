"""The import architecture of src/mirage (DESIGN.md, "Layout"): no module cycles, and no domain
importing another domain's repository, views, router, tasks or engine. `make arch` prints the
same analysis with the package graph."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mirage.ops import arch


def _lines(report: arch.Report, imports: list[arch.Import]) -> str:
    return "\n".join(f"  {i.source} -> {i.target}  ({i.where(report.graph)})" for i in imports)


@pytest.fixture(scope="module")
def report() -> arch.Report:
    return arch.analyse(arch.default_root())


def test_the_analyser_sees_the_whole_package(report: arch.Report) -> None:
    # Guards against a vacuous pass (a wrong root, a parser that finds nothing).
    assert len(report.graph.files) > 100
    assert len(report.graph.imports) > 300
    assert {"kit", "db", "models", "instances", "webhooks", "messaging"} <= set(
        report.graph.package_edges()
    )


def test_no_module_import_cycles(report: arch.Report) -> None:
    details = "\n".join(
        f"[{len(c)} modules] {', '.join(c)}\n{_lines(report, arch.cycle_imports(report.graph, c))}"
        for c in report.cycles
    )
    assert not report.cycles, f"{len(report.cycles)} import cycle(s) between modules:\n{details}"


def test_no_domain_imports_another_domains_internals(report: arch.Report) -> None:
    assert not report.forbidden, (
        f"{len(report.forbidden)} import(s) of another domain's repository/views/router/tasks/"
        f"engine (import its service, or defer its job by name):\n"
        f"{_lines(report, report.forbidden)}"
    )


def test_packages_are_layered_without_cycles(report: arch.Report) -> None:
    cycles = report.package_cycles
    assert not cycles, "package cycle(s): " + "; ".join(" <-> ".join(c) for c in cycles)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_analyser_on_a_synthetic_package(tmp_path: Path) -> None:
    pkg = tmp_path / "demo"
    _write(
        pkg,
        {
            "__init__.py": "",
            "kit/__init__.py": "",
            "kit/jobs.py": "",
            "db/__init__.py": "",
            "db/engine.py": "from ..kit import jobs\n",
            "alpha/__init__.py": "from .service import run\n",  # a re-export is an edge
            "alpha/service.py": """
                from typing import TYPE_CHECKING
                from demo.db import engine  # a shared layer's `engine` is fine

                if TYPE_CHECKING:
                    from demo.beta import repository  # exempt: never runs
                else:
                    from demo.kit import jobs  # runs, counts

                def run() -> None:
                    from demo.beta import service  # inside a function: counts (closes a cycle)
            """,
            "alpha/repository.py": "",
            "beta/__init__.py": "",
            "beta/repository.py": "",
            "beta/tasks.py": "",
            "beta/service.py": """
                import demo.alpha.service

                class Handler:
                    def handle(self) -> None:
                        from ..alpha.repository import Row  # forbidden, inside a method
                        from . import tasks  # own domain: allowed
            """,
            "gamma/__init__.py": "",
            "gamma/service.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from demo.beta.tasks import job  # exempt: not forbidden
                import demo.alpha  # the package: its re-export makes this reach alpha.service
            """,
            "app.py": "from demo.beta import tasks, repository  # a composition root may\n",
        },
    )
    report = arch.analyse(pkg)
    edges = report.graph.edges

    assert "demo.beta.service" in edges["demo.alpha.service"]  # function-level import counted
    assert "demo.kit.jobs" in edges["demo.alpha.service"]  # `else:` of TYPE_CHECKING counted
    assert "demo.beta.repository" not in edges["demo.alpha.service"]  # TYPE_CHECKING exempt
    assert "demo.beta.tasks" not in edges["demo.gamma.service"]
    assert "demo.kit.jobs" in edges["demo.db.engine"]  # relative import resolved
    assert "demo.beta.tasks" in edges["demo.beta.service"]  # `from . import submodule`
    assert "demo.alpha.service" in edges["demo.alpha"]  # __init__ re-export

    assert report.cycles == [["demo.alpha.service", "demo.beta.service"]]
    closing = {
        (i.source, i.target, i.in_function)
        for i in arch.cycle_imports(report.graph, report.cycles[0])
    }
    assert closing == {
        ("demo.alpha.service", "demo.beta.service", True),
        ("demo.beta.service", "demo.alpha.service", False),
    }
    assert [(i.source, i.target, i.in_function) for i in report.forbidden] == [
        ("demo.beta.service", "demo.alpha.repository", True)
    ]
    assert not report.ok
    assert report.package_cycles == [["alpha", "beta"]]
    text = report.text()
    assert "Module cycles: 1" in text
    assert "Forbidden cross-domain imports: 1" in text
    assert "Package cycles: 1" in text


def test_the_analyser_passes_a_clean_package(tmp_path: Path) -> None:
    pkg = tmp_path / "clean"
    _write(
        pkg,
        {
            "__init__.py": "",
            "kit/__init__.py": "",
            "kit/live.py": "",
            "alpha/__init__.py": "",
            "alpha/service.py": "from clean.kit import live\n",
            "beta/__init__.py": "",
            "beta/service.py": "from clean.alpha import service\n",
        },
    )
    report = arch.analyse(pkg)
    assert report.ok
    assert report.cycles == [] and report.forbidden == [] and report.package_cycles == []
    assert arch.layers(report.graph) == [["clean", "kit"], ["alpha"], ["beta"]]
