"""Repetition guard: how close a candidate message is to a tenant's recent messages.

The score is the highest similarity between the candidate and any recent message, in [0, 1]:
1.0 for the same text up to case, accents, emoji, punctuation and stretched letters. The
similarity of two texts is the larger of the Jaccard index of their character trigrams
(catches small edits) and of their word sets (catches reordered sentences). Pure; a few
hundred recent messages take a few milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mirage.ai.text import fold

__all__ = ["DEFAULT_THRESHOLD", "Match", "RecentTexts", "RepetitionGuard", "similarity"]

DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class _Shape:
    folded: str
    grams: frozenset[str]
    tokens: frozenset[str]
    # Emoji-only or punctuation-only messages fold to nothing; compare their raw characters.
    raw_chars: frozenset[str]


def _shape(text: str) -> _Shape:
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
