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
_REPEATS = re.compile(r"([a-z])\1{2,}")


def fold(text: str) -> str:
    """A message as the rules read it: lower case, accents removed, every run of anything
    but letters and digits (punctuation, emoji, line breaks) one space, letters repeated
    three times or more squeezed to one ("paraaar" → "parar")."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _REPEATS.sub(r"\1", _NOT_WORD.sub(" ", plain)).strip()


def _strip_fillers(words: list[str]) -> list[str]:
    return [w for w in words if w not in FILLERS]


def bare_keyword(folded: str, keywords: Iterable[str]) -> str | None:
    """The keyword (as given) that the folded message is, once polite words are set aside
    (and repeats of the keyword itself: "PARAR PARAR"), or None."""
    if not folded or len(folded) > MAX_KEYWORD_MESSAGE:
        return None
    core = " ".join(_strip_fillers(folded.split()))
    for keyword in keywords:
        k = fold(keyword)
        if not k:
            continue
        if folded == k or core == k or (" " not in k and set(core.split()) == {k}):
            return keyword
    return None


def keyword_of(message_text: str) -> str | None:
    """The built-in keyword (opt-out or opt-in, upper case) a message is, if it is one."""
    folded = fold(message_text[: MAX_KEYWORD_MESSAGE * 4])
    return bare_keyword(folded, sorted(OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS))
