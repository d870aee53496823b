"""Refresh the translation catalogs: extract messages, merge into each locale's .po.

Usage: python scripts/i18n.py   (then translate the empty pt_BR entries it lists)
Existing translations are kept; English entries stay empty (the message id is English).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "src" / "mirage" / "locale"
POT = LOCALE_DIR / "messages.pot"


def main() -> int:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_",
            "-k",
            "N_",
            "-k",
            "gettext",
            "-k",
            "translate:2",
            "-k",
            "Message",
            "--no-location",
            "--omit-header",
            "-o",
            str(POT),
            ".",
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    with POT.open("rb") as fh:
        template = read_po(fh)
    missing: list[str] = []
    for locale in ("pt_BR", "en"):
        path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
        old: dict[str, str] = {}
        if path.exists():
            with path.open("rb") as fh:
                old = {str(m.id): str(m.string) for m in read_po(fh) if m.id and m.string}
        catalog = Catalog(locale=locale, project="mirage")
        for message in template:
            if message.id:
                catalog.add(message.id, old.get(str(message.id), ""))
                if locale == "pt_BR" and not old.get(str(message.id)):
                    missing.append(str(message.id))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100)
    for m in missing:
        print(f"untranslated (pt_BR): {m!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
