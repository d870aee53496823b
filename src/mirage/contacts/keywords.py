"""The built-in consent keywords: one definition for the contacts' inbound rules (opt back in
with VOLTAR/START) and the opt-out detector (``outreach.optout``), which builds its phrases on
top of these words. Pure: no I/O.

A keyword counts only when it is the whole message: any case, accents or not, with
punctuation, emoji and a polite word ("por favor", "please", "obrigado") around it, repeated
letters squeezed ("PARAAAR"). "vou parar no mercado" is not a keyword.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

#: Single words that opt a number out (certain), with the language they are read as (a word
#: shared by Portuguese and Spanish is read as Portuguese: the product's first language).
OPT_OUT_WORDS: dict[str, str] = {
    # pt-BR
    "PARAR": "pt",
    "PARE": "pt",
    "SAIR": "pt",
    "CANCELAR": "pt",
    "DESCADASTRAR": "pt",
    "DESCADASTRE": "pt",
    "DESINSCREVER": "pt",
    "REMOVER": "pt",
    # English (the carriers' standard set)
    "STOP": "en",
    "STOPALL": "en",
    "UNSUBSCRIBE": "en",
    "CANCEL": "en",
    "END": "en",
    "QUIT": "en",
    "OPTOUT": "en",
    "OPT OUT": "en",
    # Spanish
    "BAJA": "es",
    "DARME DE BAJA": "es",
    "DETENER": "es",
    "SALIR": "es",
}
OPT_OUT_KEYWORDS = frozenset(OPT_OUT_WORDS)
#: Words by which a contact opts back in (the only way back from their own opt-out).
OPT_IN_KEYWORDS = frozenset({"VOLTAR", "START"})

#: Polite words that may stand next to a keyword without changing what it means.
FILLERS = frozenset(
    {
        "por",
        "favor",
        "porfavor",
        "pf",
        "pfv",
        "pfvr",
        "obrigado",
        "obrigada",
        "obg",
        "grato",
        "grata",
        "please",
        "pls",
        "plz",
        "thanks",
        "thank",
        "you",
        "gracias",
        "porfa",
    }
)

MAX_KEYWORD_MESSAGE = 80  # a message longer than this (folded) is never a bare keyword
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_REPEATS = re.compile(r"([a-z])\1{2,}")


def fold(text: str) -> str:
    """A message as the rules read it: lower case, accents removed, every run of anything
    but letters and digits (punctuation, emoji, line breaks) one space, letters repeated
    three times or more squeezed to one ("paraaar" → "parar")."""
    if text.isascii():
        plain = text.lower()
    else:  # accents are combining marks after NFKD: "não" → "na\u0303o" → "nao"
        plain = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()
    return _REPEATS.sub(r"\1", _NOT_WORD.sub(" ", plain)).strip()


class KeywordSet:
    """Keywords folded once, for ``bare_keyword``."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self.by_folded: dict[str, str] = {}
        for keyword in keywords:
            self.by_folded.setdefault(fold(keyword), keyword)
        self.by_folded.pop("", None)

    def __bool__(self) -> bool:
        return bool(self.by_folded)


@lru_cache(maxsize=4096)
def keyword_set(keywords: tuple[str, ...]) -> KeywordSet:
    """A (cached) ``KeywordSet``: a tenant's keywords are folded once, not per message."""
    return KeywordSet(keywords)


def bare_keyword(folded: str, keywords: KeywordSet) -> str | None:
    """The keyword (as given) that the folded message is, once polite words are set aside
    (and repeats of a one-word keyword: "PARAR PARAR"), or None."""
    if not folded or len(folded) > MAX_KEYWORD_MESSAGE:
        return None
    table = keywords.by_folded
    hit = table.get(folded)
    if hit is not None:
        return hit
    words = [w for w in folded.split() if w not in FILLERS]
    hit = table.get(" ".join(words))
    if hit is None and words and all(w == words[0] for w in words):
        hit = table.get(words[0])
    return hit


def keyword_of(message_text: str) -> str | None:
    """The built-in keyword (opt-out or opt-in, upper case) a message is, if it is one."""
    folded = fold(message_text[: MAX_KEYWORD_MESSAGE * 4])
    return bare_keyword(folded, _ALL)


_ALL = KeywordSet(sorted(OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS))
