"""Repetition guard: how close a candidate message is to a tenant's recent messages.

The score is the highest similarity between the candidate and any recent message, in [0, 1]:
1.0 for the same text up to case, accents, emoji, punctuation and stretched letters. The
similarity of two texts is the larger of the Jaccard index of their character trigrams
(catches small edits) and of their word sets (catches reordered sentences). Pure; a few
hundred recent messages take a few milliseconds.

Within a round, a second guard looks at sentence skeletons: the first words of a sentence
once lead-ins ("Olha,", "Helena,") and the names of things (teams, places, sports) are set
aside. "Tô numa fase de MPB" and "Tô numa fase de filme antigo" in one round read like a
template, however different the messages are as a whole.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mirage.ai import lexicon as lx
from mirage.ai.text import fold

__all__ = [
    "DEFAULT_THRESHOLD",
    "Match",
    "RecentTexts",
    "RepetitionGuard",
    "similarity",
    "skeleton_repeat",
    "skeletons",
]

DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class _Shape:
    folded: str
    grams: frozenset[str]
    tokens: frozenset[str]
    # Emoji-only or punctuation-only messages fold to nothing; compare their raw characters.
    raw_chars: frozenset[str]


@functools.lru_cache(maxsize=4096)
def _shape(text: str) -> _Shape:
    # The recent texts are the same few hundred for every reply: shaped once each.
    folded = fold(text)
    padded = f" {folded} "
    grams = frozenset(padded[i : i + 3] for i in range(len(padded) - 2)) if folded else frozenset()
    return _Shape(
        folded=folded,
        grams=grams,
        tokens=frozenset(folded.split()),
        raw_chars=frozenset(ch for ch in text if not ch.isspace()),
    )


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _size_bound(a: frozenset[str], b: frozenset[str]) -> float:
    # Jaccard(a, b) <= min/max: lets most recent texts be skipped without intersecting sets.
    big = max(len(a), len(b))
    return min(len(a), len(b)) / big if big else 0.0


def _similarity(c: _Shape, r: _Shape, floor: float = 0.0) -> float:
    if not c.folded or not r.folded:
        if c.folded or r.folded:
            return 0.0
        return 1.0 if c.raw_chars == r.raw_chars else _jaccard(c.raw_chars, r.raw_chars)
    if c.folded == r.folded:
        return 1.0
    best = 0.0
    if _size_bound(c.grams, r.grams) > floor:
        best = _jaccard(c.grams, r.grams)
    if _size_bound(c.tokens, r.tokens) > max(best, floor):
        best = max(best, _jaccard(c.tokens, r.tokens))
    return best


def similarity(a: str, b: str) -> float:
    """Similarity of two messages in [0, 1] (symmetric)."""
    return _similarity(_shape(a), _shape(b))


@dataclass(frozen=True, slots=True)
class RecentTexts:
    """Recent messages prepared once, for scoring several candidates against them."""

    texts: tuple[str, ...]
    shapes: tuple[_Shape, ...]

    @classmethod
    def of(cls, texts: Iterable[str]) -> RecentTexts:
        kept = tuple(texts)
        return cls(kept, tuple(_shape(t) for t in kept))

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True, slots=True)
class Match:
    score: float
    # The recent message the candidate is closest to (None when there are none).
    text: str | None


class RepetitionGuard:
    """Flags candidates whose score reaches the threshold (1.0: only exact duplicates)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not (math.isfinite(threshold) and 0.0 < threshold <= 1.0):
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold

    def __repr__(self) -> str:
        return f"RepetitionGuard(threshold={self.threshold})"

    @staticmethod
    def prepare(recent: Iterable[str]) -> RecentTexts:
        return RecentTexts.of(recent)

    def best_match(self, candidate: str, recent: Sequence[str] | RecentTexts) -> Match:
        prepared = recent if isinstance(recent, RecentTexts) else RecentTexts.of(recent)
        shape = _shape(candidate)
        best, best_text = 0.0, None
        for text, other in zip(prepared.texts, prepared.shapes, strict=True):
            score = _similarity(shape, other, floor=best)
            if best_text is None or score > best:
                best, best_text = score, text
            if best >= 1.0:
                break
        return Match(best, best_text)

    def score(self, candidate: str, recent: Sequence[str] | RecentTexts) -> float:
        return self.best_match(candidate, recent).score

    def is_repetitive(self, candidate: str, recent: Sequence[str] | RecentTexts) -> bool:
        return self.score(candidate, recent) >= self.threshold


# --- sentence skeletons within a round --------------------------------------------------------

# Sentences shorter than this are formulas ("tudo bem por aqui", "que bom"), said by anyone.
SKELETON_MIN_WORDS = 5
# A skeleton is the first two or three fixed words, up to one of four letters or more.
SKELETON_WORDS = 3
# One spelling for the formal and casual forms of a word ("Estou fazendo", "tô fazendo").
_CANON = {"estou": "to", "esta": "ta", "estava": "tava", "para": "pra", "voce": "vc"}
_SENTENCES = re.compile(r"[^.!?…]+")
# A lead-in before a comma ("Olha,", "Helena,", "Inclusive,"): not part of the skeleton.
_LEAD_IN_MAX_WORDS = 2


def _slot_words() -> frozenset[str]:
    """Every word of every slot filler: what varies between two uses of one template."""
    entities: list[lx.Entity] = []
    for topic in (*lx.TOPICS, lx.GENERIC_TOPIC):
        for options in topic.slots.values():
            entities += options
    for shared in lx.SHARED_SLOTS.values():
        entities += shared
    per_key: list[Mapping[str, tuple[lx.Entity, ...]]] = [
        *lx.STYLE_SLOTS.values(),
        *lx.DAYPART_SLOTS.values(),
    ]
    for mapping in per_key:
        for options in mapping.values():
            entities += options
    words = {w for e in entities for form in e.forms.values() for w in fold(form).split()}
    # Short words ("de", "com", "bem") belong to the template, not to what fills it.
    return frozenset(w for w in words if len(w) > 3)


_SLOT_WORDS = _slot_words()


@functools.lru_cache(maxsize=4096)
def skeletons(text: str) -> frozenset[tuple[str, ...]]:
    """The skeletons of a message's sentences of five words or more."""
    out = set()
    for sentence in _SENTENCES.findall(text):
        parts = sentence.split(",")
        while len(parts) > 1 and len(fold(parts[0]).split()) <= _LEAD_IN_MAX_WORDS:
            parts = parts[1:]
        words = [_CANON.get(w, w) for w in fold(",".join(parts)).split()]
        if len(words) < SKELETON_MIN_WORDS:
            continue
        fixed = [w for w in words if w not in _SLOT_WORDS]
        # Up to the first word that carries meaning ("tô numa fase", "estou planejando"): "e
        # o", "a do" alone are in every other sentence.
        end = next((i for i, w in enumerate(fixed[:SKELETON_WORDS]) if len(w) >= 4), None)
        if end is not None:
            out.add(tuple(fixed[: max(end + 1, 2)]))
    return frozenset(out)


def skeleton_repeat(candidate: str, round_texts: Iterable[str]) -> tuple[str, ...] | None:
    """A sentence skeleton the candidate shares with a message of the same round (or with
    itself, two sentences alike), or None."""
    own: set[tuple[str, ...]] = set()
    for sentence in _SENTENCES.findall(candidate):
        for sk in skeletons(sentence):
            if sk in own:
                return sk
            own.add(sk)
    for text in round_texts:
        common = own & skeletons(text)
        if common:
            return min(common)
    return None
