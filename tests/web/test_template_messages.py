"""Templates translate literals with ``_("...")`` and show values with ``message(value)``:
``_`` applied to a variable reads as if the value were trusted catalog text, so it is refused
in every template (a new template is covered automatically)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

VARIABLE_MSGID = re.compile(r"\b(?:_|gettext|ngettext)\(\s*(?![\"'])")


def test_no_template_translates_a_variable() -> None:
    root = Path(str(resources.files("mirage")))
    templates = sorted(root.rglob("*.html"))
    assert len(templates) > 10
    offenders = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in templates
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if VARIABLE_MSGID.search(line)
    ]
    assert not offenders, "use message(value) for values:\n" + "\n".join(offenders)
