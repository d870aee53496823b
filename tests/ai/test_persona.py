"""Personas validate themselves; dayparts follow the local clock."""

from __future__ import annotations

import unicodedata
from datetime import datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirage.ai.persona import (
    DEFAULT_PERSONAS,
    STYLES,
    ReplyRequest,
    Turn,
    daypart_of,
)
from tests.ai.factories import persona, request


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        (time(0, 0), "night"),
        (time(4, 59), "night"),
        (time(5, 0), "morning"),
        (time(11, 59), "morning"),
        (time(12, 0), "afternoon"),
        (time(17, 59), "afternoon"),
        (time(18, 0), "night"),
        (time(23, 59), "night"),
    ],
)
def test_daypart_boundaries(clock: time, expected: str) -> None:
    assert daypart_of(datetime.combine(datetime(2025, 3, 1), clock)) == expected


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_daypart_depends_only_on_the_local_hour(moment: datetime) -> None:
    hours = {"morning": range(5, 12), "afternoon": range(12, 18)}
    expected = next((part for part, span in hours.items() if moment.hour in span), "night")
    assert daypart_of(moment) == expected
    assert daypart_of(moment.replace(minute=0, second=0, microsecond=0)) == expected


def test_default_personas_are_varied_and_valid() -> None:
    assert 4 <= len(DEFAULT_PERSONAS) <= 6
    assert len({p.name for p in DEFAULT_PERSONAS}) == len(DEFAULT_PERSONAS)
    assert {p.style for p in DEFAULT_PERSONAS} == set(STYLES)
    assert len({p.emoji_rate for p in DEFAULT_PERSONAS}) >= 4
    assert len({(p.min_length, p.max_length) for p in DEFAULT_PERSONAS}) >= 4
    for p in DEFAULT_PERSONAS:
        assert p.language == "pt-BR"
        assert p.vocabulary
        assert all(p.greetings[d] for d in ("morning", "afternoon", "night"))
        hash(p)  # usable as a cache key


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name"),
        ({"name": "Ana\nMaria"}, "name"),
        ({"style": "sarcastic"}, "style"),
        ({"emoji_rate": 1.5}, "emoji_rate"),
        ({"emoji_rate": float("nan")}, "emoji_rate"),
        ({"typo_rate": -0.1}, "typo_rate"),
        ({"min_length": 0}, "min_length"),
        ({"min_length": 50, "max_length": 55}, "exceed min_length"),
        ({"max_length": 5000}, "max_length"),
        ({"vocabulary": ("mano", "")}, "vocabulary"),
        ({"vocabulary": ("boa noite",)}, "daypart greeting"),
        ({"vocabulary": ("top 👍",)}, "emoji"),
        ({"vocabulary": "mano"}, "list"),
        ({"language": "portuguese"}, "language"),
        ({"greetings": {"morning": ("Bom dia",), "afternoon": ("Oi",)}}, "night"),
        (
            {"greetings": {"morning": ("Boa noite",), "afternoon": ("Oi",), "night": ("Oi",)}},
            "greets the night",
        ),
        (
            {"greetings": {"morning": ("Bom dia ☀️",), "afternoon": ("Oi",), "night": ("Oi",)}},
            "emoji",
        ),
        (
            {"greetings": {"morning": ("Oi",), "afternoon": ("Oi",), "night": ("Oi",), "x": ()}},
            "unknown",
        ),
    ],
)
def test_invalid_personas_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        persona(**changes)  # type: ignore[arg-type]


def test_text_is_stored_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Olá, bom dia")
    p = persona(
        greetings={"morning": (decomposed,), "afternoon": ("Oi",), "night": ("Oi",)},
        vocabulary=(unicodedata.normalize("NFD", "né"),),
    )
    assert p.greetings["morning"] == ("Olá, bom dia",)
    assert p.vocabulary == ("né",)


def test_greetings_are_read_only() -> None:
    p = persona()
    with pytest.raises(TypeError):
        p.greetings["morning"] = ("Oi",)  # type: ignore[index]


def test_request_knows_own_turns_and_partner_last() -> None:
    p = persona(name="Bia")
    req = request(
        p,
        history=(
            Turn("Rafa", "oi"),
            Turn("Bia", "oie"),
            Turn("Rafa", "tudo bem?"),
            Turn("Bia", "sim"),
        ),
    )
    assert [t.text for t in req.own_turns] == ["oie", "sim"]
    assert req.partner_last == Turn("Rafa", "tudo bem?")
    assert request(p).partner_last is None


def test_request_refuses_an_unknown_daypart() -> None:
    with pytest.raises(ValueError, match="daypart"):
        ReplyRequest(persona(), None, "x", "evening", (), True, False)  # type: ignore[arg-type]
