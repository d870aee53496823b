"""Text helpers shared by the generators and the guard: normalization, emoji, daypart greetings.

Pure functions of their input; no I/O. "Characters" everywhere in `mirage.ai` are Unicode code
points (``len(str)``), the unit WhatsApp counts and the one the persona length range uses.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Daypart = Literal["morning", "afternoon", "night"]
DAYPARTS: tuple[Daypart, ...] = ("morning", "afternoon", "night")

# Code point ranges that render as emoji (or glue emoji together: ZWJ, variation selector,
# skin tones, keycaps). Enough for detection and stripping; not a full UTS #51 parser.
_EMOJI_RANGES: tuple[tuple[int, int], ...] = (
    (0x1F000, 0x1FAFF),  # mahjong .. symbols & pictographs extended-A (incl. skin tones)
    (0x2600, 0x27BF),  # misc symbols, dingbats (☀ ☕ ✨ ❤ ✌)
    (0x2B00, 0x2BFF),  # arrows & stars (⭐)
    (0x2190, 0x21FF),  # arrows used as emoji
    (0x2300, 0x23FF),  # misc technical (⌛ ⏰)
    (0xFE00, 0xFE0F),  # variation selectors
    (0x200D, 0x200D),  # zero-width joiner
    (0x20E3, 0x20E3),  # combining keycap
    (0xE0020, 0xE007F),  # tag characters (subdivision flags)
)

_WS = re.compile(r"\s+")
_REPEATS = re.compile(r"(.)\1+")
_NON_WORD = re.compile(r"[^\w\s]|_", re.UNICODE)

# Greetings that name a daypart, matched on `fold` output (lowercase, no accents, letter runs
# collapsed), so "Bom diaaa!", "BOA  NOITE" and "boa noitee" all count. The collapsed spelling
# is why English reads "god morning". Portuguese first; English and Spanish because personas
# may be written in them.
_DAYPART_GREETINGS: dict[Daypart, re.Pattern[str]] = {
    "morning": re.compile(r"\b(?:bom dia|bomdia|god morning|buenos dias|buen dia)\b"),
    "afternoon": re.compile(r"\b(?:boa tarde|god afternon|buenas tardes)\b"),
    "night": re.compile(r"\b(?:boa noite|god evening|god night|godnight|buenas noches)\b"),
}


# The same ranges as one character class: a regex scan instead of a Python loop per character
# (every message is folded many times while a round is read).
_EMOJI = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _EMOJI_RANGES) + "]")


def is_emoji_char(ch: str) -> bool:
    return _EMOJI.fullmatch(ch) is not None


def has_emoji(text: str) -> bool:
    return _EMOJI.search(text) is not None


def strip_emoji(text: str) -> str:
    return _EMOJI.sub("", text)


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def is_control(ch: str) -> bool:
    # Cc (C0/C1 controls), Cf (format: bidi overrides, BOM; ZWJ is kept only inside emoji),
    # Cs/Co/Cn (surrogates, private use, unassigned): none belongs in a chat message.
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} and not is_emoji_char(ch)


def clean_line(text: str, *, max_chars: int | None = None) -> str:
    """One printable line: control and format characters dropped, whitespace collapsed."""
    kept = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or not is_control(ch))
    line = _WS.sub(" ", kept).strip()
    if max_chars is not None and len(line) > max_chars:
        line = line[:max_chars].rstrip()
    return line


def fold(text: str) -> str:
    """Lowercase, accents/emoji/punctuation removed, letter runs collapsed, single spaces.

    Two messages that differ only in case, accents, emoji, punctuation or stretched letters
    ("simmm", "kkkkk") fold to the same string.
    """
    lowered = strip_accents(strip_emoji(text)).casefold()
    words = _NON_WORD.sub(" ", lowered)
    return _WS.sub(" ", _REPEATS.sub(r"\1", words)).strip()


def daypart_greetings_in(text: str) -> frozenset[Daypart]:
    """The dayparts whose greeting ("bom dia", "boa tarde", "boa noite"...) appears in text."""
    folded = fold(text)
    return frozenset(part for part, rx in _DAYPART_GREETINGS.items() if rx.search(folded))


def words(text: str) -> list[str]:
    """Lowercase word tokens (letters and digits), accents kept."""
    return re.findall(r"\w+", strip_emoji(text).casefold())
