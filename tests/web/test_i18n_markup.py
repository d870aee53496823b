"""The template ``_`` (and messages built in code) never turn user text into HTML or a format
string: only catalog ids are trusted; everything else is escaped plain text."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from mirage.kit.i18n import Message, known_ids, markup, text
from mirage.web.templating import environment

HOSTILE = ["<img src=x onerror=alert(1)>", "5%", "%(x)s", "%s %d", "{{7*7}}", "100%%"]


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
@pytest.mark.parametrize("value", HOSTILE)
def test_template_gettext_escapes_any_non_catalog_text(locale: str, value: str) -> None:
    env = environment(locale)
    out = env.from_string("{{ _(v) }}|{{ gettext(v) }}|{{ _(m) }}").render(
        v=value, m=Message("%(field)s: enter a number", {"field": value})
    )
    assert "<img" not in out
    escaped = str(Markup.escape(value))
    assert out.split("|")[0] == escaped and out.split("|")[1] == escaped
    assert escaped in out.split("|")[2]


def test_catalog_messages_are_translated_and_formatted() -> None:
    assert (
        text("pt_BR", Message("%(field)s: enter a number", {"field": Message("Emoji rate")}))
        == "Taxa de emojis: informe um número"
    )
    assert str(markup("pt_BR", "Emoji rate (%%)")).endswith("(%)")
    # A catalog text with a missing parameter is shown, not a 500.
    assert "%(field)s" in str(markup("en", "%(field)s: enter a number"))


def test_every_template_literal_is_in_the_catalog() -> None:
    """The template ``_`` treats unknown ids as plain text: a literal missing from the catalog
    would show untranslated (run `make i18n`)."""
    import re
    from importlib import resources
    from pathlib import Path

    root = Path(str(resources.files("mirage")))
    literal = re.compile(r"""_\(\s*(["'])(.+?)\1\s*[,)]""")
    missing = {
        (p.name, m.group(2))
        for p in root.glob("*/templates/**/*.html")
        for m in literal.finditer(p.read_text())
        if m.group(2) not in known_ids()
    }
    assert not missing, sorted(missing)
