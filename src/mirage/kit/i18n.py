"""Translations: gettext catalogs (Babel .po files) for pt-BR (default) and English.

Catalogs are compiled in memory from the .po files at first use, so a fresh clone needs no
build step. Message ids are English; pt-BR is the default language shown to users.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

DEFAULT_LOCALE = "pt_BR"
SUPPORTED = ("pt_BR", "en")
LABELS = {"pt_BR": "Português (Brasil)", "en": "English"}


@cache
def translations(locale: str | None) -> gettext.NullTranslations:
    if locale is None:
        return gettext.NullTranslations()
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


def gettext_for(locale: str, message: object, **params: object) -> str:
    """Plain translated text; a Message's parameters are filled in (see ``text``)."""
    return text(locale, message, **params)


# --- messages with parameters --------------------------------------------------------------
#
# A message is a catalog id plus the values that go into it. User input only ever travels as a
# parameter: it is escaped (HTML) and never becomes a format string or part of a message id.


@dataclass(frozen=True)
class Message:
    """A translatable text: a catalog message id and the values put into its placeholders."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:  # English, for logs and the JSON API
        return text(None, self)


Translatable = str | Message


@cache
def known_ids() -> frozenset[str]:
    """Every message id in the catalogs: only these are format strings we wrote ourselves."""
    ids: set[str] = set()
    for locale in SUPPORTED:
        po_path = resources.files("mirage").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
        try:
            with po_path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
        except FileNotFoundError:
            continue
        for m in catalog:
            if isinstance(m.id, str) and m.id:
                ids.add(m.id)
            elif isinstance(m.id, tuple | list):
                ids.update(str(i) for i in m.id)
    return frozenset(ids)


def _unpack(message: object, params: Mapping[str, object]) -> tuple[str, dict[str, object], bool]:
    """(msgid, params, trusted): a bare string not in the catalog is plain text, not a format."""
    if isinstance(message, Message):
        return message.msgid, {**message.params, **params}, True
    msgid = "" if message is None else str(message)
    return msgid, dict(params), msgid in known_ids()


def _param_text(locale: str | None, value: object) -> object:
    # A parameter may itself be a message (a translated field label): translate it first.
    return text(locale, value) if isinstance(value, Message) else value


def text(locale: str | None, message: object, **params: object) -> str:
    """The translated plain text (no HTML): for toasts, headers, logs and the JSON API."""
    msgid, values, trusted = _unpack(message, params)
    translated = translations(locale).gettext(msgid) if locale and msgid else msgid
    if not trusted:
        return translated
    try:
        return translated % {k: _param_text(locale, v) for k, v in values.items()}
    except (KeyError, ValueError, TypeError):
        return translated


def markup(locale: str | None, message: object, **params: object) -> Markup:
    """The translated text as safe HTML: the catalog text is trusted, parameters are escaped,
    and a string that is not a catalog id (an exception text, user input) is escaped whole."""
    msgid, values, trusted = _unpack(message, params)
    translated = translations(locale).gettext(msgid) if locale and msgid else msgid
    if not trusted:
        return escape(translated)
    # Catalog texts are ours (trusted HTML); anything else is escaped.
    base = Markup(translated) if msgid in known_ids() else escape(translated)  # noqa: S704
    try:
        # Markup's % escapes every value.
        return base % {k: _param_text(locale, v) for k, v in values.items()}
    except (KeyError, ValueError, TypeError):
        return base


def nmarkup(locale: str | None, singular: str, plural: str, num: int, **params: object) -> Markup:
    msgid = singular if num == 1 else plural
    if locale and singular in known_ids():
        msgid = translations(locale).ngettext(singular, plural, num)
    values = {"num": num, **params}
    base = Markup(msgid) if singular in known_ids() else escape(msgid)  # noqa: S704
    try:
        return base % values
    except (KeyError, ValueError, TypeError):
        return base
