"""Translations: gettext catalogs (Babel .po files) for pt-BR (default) and English.

Catalogs are compiled in memory from the .po files at first use, so a fresh clone needs no
build step. Message ids are English; pt-BR is the default language shown to users.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT_LOCALE = "pt_BR"
SUPPORTED = ("pt_BR", "en")
LABELS = {"pt_BR": "Português (Brasil)", "en": "English"}


@cache
def translations(locale: str) -> gettext.NullTranslations:
    if locale not in SUPPORTED:
        locale = DEFAULT_LOCALE
    po_path = resources.files("mirage").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
    try:
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
    except FileNotFoundError:
        return gettext.NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


def normalize(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("-", "_").lower()
    for loc in SUPPORTED:
        if value == loc.lower() or value.split("_")[0] == loc.split("_")[0].lower():
            return loc
    return None


def negotiate(accept_language: str | None) -> str:
    """Pick a supported locale from an Accept-Language header (quality values honoured)."""
    if not accept_language:
        return DEFAULT_LOCALE
    prefs: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        bits = part.strip().split(";")
        tag = bits[0].strip()
        q = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    q = float(b.strip()[2:])
                except ValueError:
                    q = 0.0
        if tag:
            prefs.append((q, tag.replace("-", "_")))
    ordered = [tag for q, tag in sorted(prefs, key=lambda p: -p[0]) if q > 0]
    # By language, in preference order: any Portuguese means pt_BR, any English means en.
    for tag in ordered:
        n = normalize(tag)
        if n:
            return n
    return DEFAULT_LOCALE


def html_lang(locale: str) -> str:
    return Locale.parse(locale).language + ("-BR" if locale == "pt_BR" else "")


def gettext_for(locale: str, message: str) -> str:
    return translations(locale).gettext(message)
