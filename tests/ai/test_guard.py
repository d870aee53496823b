"""The repetition guard flags near-duplicates and lets different messages through."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirage.ai.guard import RepetitionGuard, similarity
from mirage.ai.offline import OfflineGenerator
from tests.ai.factories import PERSONAS, mixed_requests

RECENT = [
    "Bom dia! Tudo bem? Vi o jogo do Flamengo ontem e foi muito bom.",
    "tô maratonando Stranger Things na Netflix",
    "Fui pra Bahia semana passada, foi incrível 😍",
]


@pytest.mark.parametrize(
    "candidate",
    [
        "bom dia tudo bem vi o jogo do flamengo ontem e foi muito bom",  # case, punctuation
        "Bom dia!!! Tudo bem?? Vi o jogo do Flamengo ontem e foi muito bom 😂⚽",  # emoji
        "Bom diaaa! Tudo bem? Vi o jogo do Flamengo ontem e foi muiiito bom.",  # stretched
        "TÔ MARATONANDO STRANGER THINGS NA NETFLIX!!",  # shouting, accents
        "to maratonando stranger things na netflix kkk",  # dropped accent, a laugh added
        "Fui pra Bahia semana passada, foi incrivel",  # emoji and accent gone
        "Vi o jogo do Flamengo ontem e foi muito bom. Bom dia! Tudo bem?",  # reordered
    ],
)
def test_near_duplicates_are_flagged(candidate: str) -> None:
    guard = RepetitionGuard(threshold=0.8)
    assert guard.is_repetitive(candidate, RECENT)
    assert guard.score(candidate, RECENT) >= 0.8


@pytest.mark.parametrize(
    "candidate",
    [
        "Boa tarde! Como foi a reunião que você comentou?",
        "Tô com uma vontade de comer uma feijoada.",
        "Vi o jogo do Palmeiras no domingo, que sufoco.",  # same shape, different content
        "kkkkk verdade",
        "Você já foi pra Floripa?",
    ],
)
def test_different_messages_pass(candidate: str) -> None:
    guard = RepetitionGuard()
    assert not guard.is_repetitive(candidate, RECENT)
    assert guard.score(candidate, RECENT) < 0.6


def test_exact_duplicate_scores_one_and_names_the_match() -> None:
    guard = RepetitionGuard()
    match = guard.best_match("tô maratonando stranger things na netflix!", RECENT)
    assert match.score == 1.0
    assert match.text == RECENT[1]
    assert guard.best_match("qualquer coisa", []).score == 0.0
    assert guard.best_match("qualquer coisa", []).text is None


def test_emoji_only_messages_compare_by_their_emoji() -> None:
    guard = RepetitionGuard()
    assert guard.score("😂😂😂", ["😂"]) == 1.0
    assert guard.score("👍", ["❤️"]) == 0.0
    assert guard.score("👍", ["ok 👍"]) == 0.0


def test_prepared_recent_texts_score_the_same() -> None:
    guard = RepetitionGuard()
    prepared = guard.prepare(RECENT)
    assert len(prepared) == len(RECENT)
    for candidate in ("Bom dia! Tudo bem?", "Fui pra Bahia", "nada a ver"):
        assert guard.score(candidate, prepared) == guard.score(candidate, RECENT)


def test_generated_messages_are_mostly_not_repetitive_of_each_other() -> None:
    # A few hundred recent messages, as the service sees them.
    rng = random.Random(3)
    texts = [
        OfflineGenerator().generate(req, rng) for req in mixed_requests(PERSONAS["Juliana"], 400, 3)
    ]
    guard = RepetitionGuard()
    recent = guard.prepare(texts[:300])
    flagged = sum(guard.is_repetitive(t, recent) for t in texts[300:])
    assert flagged <= 10


@pytest.mark.parametrize("threshold", [0.0, -1.0, 1.5, float("nan")])
def test_threshold_must_be_a_fraction(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        RepetitionGuard(threshold)


TEXTS = st.text(max_size=120)


@given(TEXTS, TEXTS)
def test_similarity_is_a_symmetric_fraction(a: str, b: str) -> None:
    s = similarity(a, b)
    assert 0.0 <= s <= 1.0
    assert s == similarity(b, a)


@given(TEXTS, st.lists(TEXTS, max_size=20))
def test_score_is_the_best_similarity(candidate: str, recent: list[str]) -> None:
    guard = RepetitionGuard()
    expected = max((similarity(candidate, r) for r in recent), default=0.0)
    assert guard.score(candidate, recent) == pytest.approx(expected)
    if recent:
        assert guard.score(candidate, [*recent, candidate]) == 1.0
