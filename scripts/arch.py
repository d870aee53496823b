"""Print Mirage's import architecture and check it (``make arch``).

Usage: python scripts/arch.py [--json] [--function-imports]

Prints (a) the package graph in layers, (b) module-level import cycles with their members and
the imports that close them, (c) forbidden cross-domain imports (a domain importing another
domain's repository, views, router, tasks or engine), (d) the package-level cycle count.
Exits 1 when there is a module cycle or a forbidden import.

The rules (what counts as an import, which packages are shared layers or composition roots) are
documented at the top of src/mirage/ops/arch.py, which does the analysis (standard library only,
the code is parsed, never imported) and is shared with tests/test_architecture.py:
  * every import counts, inside functions too; only `if TYPE_CHECKING:` bodies are exempt;
  * `from pkg import submodule` imports the submodule; package __init__ re-exports are edges;
  * forbidden: unit A importing mirage.B.{repository,views,router,tasks,engine} with A != B,
    unless B is a shared layer (kit, db, models, web, config, providers, migrations) or A is a
    composition root (app, cli, worker, demo, __main__), which wires routers and tasks together.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "mirage"


def load_arch():  # type: ignore[no-untyped-def]
    """The analyser, loaded from its file (no need for an installed mirage)."""
    spec = importlib.util.spec_from_file_location("mirage_arch", SOURCE / "ops" / "arch.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--function-imports", action="store_true", help="also list imports inside functions"
    )
    args = parser.parse_args()
    arch = load_arch()
    report = arch.analyse(SOURCE)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.text())
        if args.function_imports:
            for imp in report.function_imports():
                print(f"  {imp.source} -> {imp.target}  ({imp.where(report.graph)})")
        print()
        print("OK" if report.ok else "FAILED: module cycles or forbidden imports (see above)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
