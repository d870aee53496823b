"""Every user-visible message has a pt-BR translation; locale negotiation behaves."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from mirage.kit import i18n

ROOT = Path(__file__).resolve().parents[2]


def _source_messages() -> set[str]:
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT / "src" / "mirage"),
        method_map=method_map,
        options_map=options,
        keywords={"_": None, "N_": None, "gettext": None, "translate": (2,)},
    ):
        if isinstance(message, str) and message:
            found.add(message)
    return found


def test_every_message_is_translated_to_pt_br() -> None:
    with (ROOT / "src/mirage/locale/pt_BR/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh) if m.id}
    messages = _source_messages()
    assert len(messages) > 50
    missing = sorted(m for m in messages if not catalog.get(m))
    assert not missing, f"run scripts/i18n.py and translate: {missing}"


def test_negotiation() -> None:
    assert i18n.negotiate(None) == "pt_BR"
    assert i18n.negotiate("en-GB,en;q=0.8") == "en"
    assert i18n.negotiate("de-DE,fr;q=0.9") == "pt_BR"
    assert i18n.negotiate("pt-PT;q=0.9,en;q=0.8") == "pt_BR"
    assert i18n.negotiate("en;q=0.1,pt-BR;q=0.9") == "pt_BR"
    assert i18n.negotiate(";;;q=abc,,") == "pt_BR"
    assert i18n.translations("pt_BR").gettext("Sign in") == "Entrar"
    assert i18n.translations("en").gettext("Sign in") == "Sign in"
