"""Fill empty pt_BR translations from a JSON file of {msgid: translation}.

Usage: python scripts/translate.py translations.json   (after `make i18n` listed the gaps)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "src/mirage/locale/pt_BR/LC_MESSAGES/messages.po"


def main() -> int:
    translations = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    with PO.open("rb") as fh:
        catalog = read_po(fh, locale="pt_BR")
    for message in catalog:
        if message.id and not message.string and message.id in translations:
            message.string = translations[message.id]
    with PO.open("wb") as fh:
        write_po(fh, catalog, width=100)
    missing = [m.id for m in catalog if m.id and not m.string]
    for m in missing:
        print(f"still untranslated: {m!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
