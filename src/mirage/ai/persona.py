"""Personas and reply requests: the immutable inputs of reply generation.

A `PersonaSpec` validates itself on construction so that every generator can rely on it
(rates in [0, 1], a usable length range, greetings for every daypart that never name another
daypart). `DEFAULT_PERSONAS` are the Brazilian Portuguese personas a demo tenant is seeded with.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal, get_args

from mirage.ai.text import DAYPARTS, Daypart, clean_line, daypart_greetings_in, has_emoji

__all__ = [
    "DAYPARTS",
    "DEFAULT_PERSONAS",
    "MAX_LENGTH_LIMIT",
    "MIN_LENGTH_SPAN",
    "STYLES",
    "Daypart",
    "PastRound",
    "PersonaSpec",
    "ReplyRequest",
    "Style",
    "Turn",
    "daypart_of",
]

Style = Literal["formal", "casual", "playful"]
STYLES: tuple[Style, ...] = get_args(Style)

# A chat message, not a letter: long enough for a few sentences, short enough to read at a
# glance. The span keeps room between the bounds so a message can end at a word boundary.
MAX_LENGTH_LIMIT = 1000
MIN_LENGTH_SPAN = 10
MAX_NAME_CHARS = 80
MAX_VOCABULARY = 50
MAX_VOCABULARY_ITEM_CHARS = 40
MAX_GREETINGS_PER_DAYPART = 20

_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Z]{2}|-[0-9]{3})?$")


def daypart_of(local_dt: datetime) -> Daypart:
    """Morning 05:00–11:59, afternoon 12:00–17:59, night otherwise (in the given local time)."""
    hour = local_dt.hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    return "night"


def _check_text(what: str, value: object, *, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if clean_line(value) != value or not value:
        raise ValueError(f"{what} must be non-empty single-line text without control characters")
    if len(value) > max_chars:
        raise ValueError(f"{what} must be at most {max_chars} characters")
    if has_emoji(value):
        raise ValueError(f"{what} must not contain emoji (they are added at the persona's rate)")
    # Composed form: "é" is one character, so lengths and typos see what a reader sees.
    return unicodedata.normalize("NFC", value)


def _check_rate(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number")
    rate = float(value)
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ValueError(f"{what} must be between 0 and 1")
    return rate


@dataclass(frozen=True, slots=True)
class PersonaSpec:
    """How one participant writes. Rates are per message; lengths are in characters."""

    name: str
    style: Style
    vocabulary: tuple[str, ...]
    emoji_rate: float
    typo_rate: float
    min_length: int
    max_length: int
    # Hashing a mapping is impossible; equality still compares it.
    greetings: Mapping[Daypart, tuple[str, ...]] = field(hash=False)
    language: str = "pt-BR"

    def __post_init__(self) -> None:
        _check_text("name", self.name, max_chars=MAX_NAME_CHARS)
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}")
        if isinstance(self.vocabulary, str):
            raise ValueError("vocabulary must be a list of words, not a string")
        vocabulary = tuple(
            _check_text("vocabulary item", item, max_chars=MAX_VOCABULARY_ITEM_CHARS)
            for item in self.vocabulary
        )
        if len(vocabulary) > MAX_VOCABULARY:
            raise ValueError(f"vocabulary must have at most {MAX_VOCABULARY} items")
        for item in vocabulary:
            if daypart_greetings_in(item):
                raise ValueError(
                    f"vocabulary item {item!r} is a daypart greeting; put it in greetings"
                )
        object.__setattr__(self, "vocabulary", vocabulary)
        object.__setattr__(self, "emoji_rate", _check_rate("emoji_rate", self.emoji_rate))
        object.__setattr__(self, "typo_rate", _check_rate("typo_rate", self.typo_rate))
        for what in ("min_length", "max_length"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{what} must be an integer")
        if self.min_length < 1:
            raise ValueError("min_length must be at least 1")
        if self.max_length > MAX_LENGTH_LIMIT:
            raise ValueError(f"max_length must be at most {MAX_LENGTH_LIMIT}")
        if self.max_length - self.min_length < MIN_LENGTH_SPAN:
            raise ValueError(
                f"max_length must exceed min_length by at least {MIN_LENGTH_SPAN} characters"
            )
        object.__setattr__(self, "greetings", self._checked_greetings(self.greetings))
        if not isinstance(self.language, str) or not _LANGUAGE.match(self.language):
            raise ValueError("language must be a language tag such as 'pt-BR'")

    def _checked_greetings(
        self, greetings: Mapping[Daypart, tuple[str, ...]]
    ) -> Mapping[Daypart, tuple[str, ...]]:
        if not isinstance(greetings, Mapping):
            raise ValueError("greetings must map each daypart to a list of greetings")
        unknown = set(greetings) - set(DAYPARTS)
        if unknown:
            raise ValueError(f"greetings has unknown dayparts: {sorted(map(str, unknown))}")
        checked: dict[Daypart, tuple[str, ...]] = {}
        for part in DAYPARTS:
            raw = greetings.get(part, ())
            if isinstance(raw, str):
                raise ValueError(f"greetings for {part} must be a list, not a string")
            items = tuple(raw)
            if not items:
                raise ValueError(f"greetings for {part} must not be empty")
            if len(items) > MAX_GREETINGS_PER_DAYPART:
                raise ValueError(
                    f"greetings for {part} must have at most {MAX_GREETINGS_PER_DAYPART} items"
                )
            items = tuple(
                # An opening is the greeting plus at least a word, so leave a little room.
                _check_text(f"{part} greeting", greeting, max_chars=self.max_length - 2)
                for greeting in items
            )
            for greeting in items:
                wrong = daypart_greetings_in(greeting) - {part}
                if wrong:
                    raise ValueError(
                        f"{part} greeting {greeting!r} greets the {', '.join(sorted(wrong))}"
                    )
            checked[part] = items
        return MappingProxyType(checked)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a round. `speaker` is the persona name of whoever sent it: the turns
    whose speaker equals the requesting persona's name are that persona's own."""

    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class PastRound:
    """An earlier round of the same conversation: its topic, its messages and when it began
    (local time of the tenant). Memory across rounds is read from these, so it survives
    restarts without being stored anywhere but in the messages themselves."""

    topic: str
    turns: tuple[Turn, ...]
    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "turns", tuple(self.turns))


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """Everything a generator needs to write the next message of a round.

    `earlier` are the conversation's previous rounds, oldest first; `now` is the local time
    of this message. Without them every round is the first of its daypart (a greeting) and
    nothing is remembered."""

    persona: PersonaSpec
    partner_name: str | None
    topic: str
    daypart: Daypart
    history: tuple[Turn, ...]
    opening: bool
    closing: bool
    earlier: tuple[PastRound, ...] = ()
    now: datetime | None = None

    def __post_init__(self) -> None:
        if self.daypart not in DAYPARTS:
            raise ValueError(f"daypart must be one of {', '.join(DAYPARTS)}")
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "earlier", tuple(self.earlier))

    @property
    def own_turns(self) -> tuple[Turn, ...]:
        return tuple(t for t in self.history if t.speaker == self.persona.name)

    @property
    def partner_last(self) -> Turn | None:
        """The latest message someone else sent in this round (what a reply answers)."""
        for turn in reversed(self.history):
            if turn.speaker != self.persona.name:
                return turn
        return None


def _greetings(
    morning: tuple[str, ...], afternoon: tuple[str, ...], night: tuple[str, ...]
) -> Mapping[Daypart, tuple[str, ...]]:
    return {"morning": morning, "afternoon": afternoon, "night": night}


# Seeded in demos. Different registers, vocabularies and rates so that a transcript shows two
# people, not one generator talking to itself.
DEFAULT_PERSONAS: tuple[PersonaSpec, ...] = (
    PersonaSpec(
        name="Helena",
        style="formal",
        vocabulary=("com certeza", "de fato", "sem dúvida", "inclusive", "aliás"),
        emoji_rate=0.15,
        typo_rate=0.02,
        min_length=40,
        max_length=200,
        greetings=_greetings(
            ("Bom dia", "Olá, bom dia", "Muito bom dia"),
            ("Boa tarde", "Olá, boa tarde"),
            ("Boa noite", "Olá, boa noite"),
        ),
    ),
    PersonaSpec(
        name="Rafa",
        style="casual",
        vocabulary=("mano", "tipo", "pô", "suave", "firmeza", "na moral"),
        emoji_rate=0.35,
        typo_rate=0.12,
        min_length=12,
        max_length=120,
        greetings=_greetings(
            ("bom dia", "eai, bom dia", "opa, bom dia", "salve"),
            ("eai", "opa, boa tarde", "salve", "fala"),
            ("eai", "boa noite", "opa, boa noite", "salve"),
        ),
    ),
    PersonaSpec(
        name="Bia",
        style="playful",
        vocabulary=("amiga", "gente", "socorro", "menina", "aff", "mds"),
        emoji_rate=0.7,
        typo_rate=0.08,
        min_length=20,
        max_length=160,
        greetings=_greetings(
            ("Bom diaaa", "Diaaa", "Oiee, bom dia"),
            ("Oiii", "Boa tardeee", "Oiee, boa tarde"),
            ("Oiii", "Boa noiteee", "Oiee, boa noite"),
        ),
    ),
    PersonaSpec(
        name="Seu Carlos",
        style="formal",
        vocabulary=("meu caro", "graças a Deus", "se Deus quiser", "pois não", "veja bem"),
        emoji_rate=0.1,
        typo_rate=0.06,
        min_length=30,
        max_length=220,
        greetings=_greetings(
            ("Bom dia", "Bom dia, meu amigo", "Bom dia a você"),
            ("Boa tarde", "Boa tarde, meu amigo", "Boa tarde a você"),
            ("Boa noite", "Boa noite, meu amigo", "Boa noite a você"),
        ),
    ),
    PersonaSpec(
        name="Juliana",
        style="casual",
        vocabulary=("enfim", "aliás", "sério", "tipo assim", "real"),
        emoji_rate=0.25,
        typo_rate=0.05,
        min_length=25,
        max_length=140,
        greetings=_greetings(
            ("Oi, bom dia", "Bom dia", "Oi"),
            ("Oi, boa tarde", "Boa tarde", "Oi"),
            ("Oi, boa noite", "Boa noite", "Oi"),
        ),
    ),
    PersonaSpec(
        name="Léo",
        style="playful",
        vocabulary=("bora", "brabo", "tenso", "papo reto", "mano do céu"),
        emoji_rate=0.5,
        typo_rate=0.15,
        min_length=10,
        max_length=100,
        greetings=_greetings(
            ("Bom diaa", "Salve, bom dia", "Coé"),
            ("Salve", "Coé", "Boa tardee"),
            ("Salve", "Coé", "Boa noitee"),
        ),
    ),
)
