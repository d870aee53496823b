"""Requests and personas for the ai tests."""

from __future__ import annotations

import random
from collections.abc import Mapping

from mirage.ai.persona import (
    DAYPARTS,
    DEFAULT_PERSONAS,
    Daypart,
    PersonaSpec,
    ReplyRequest,
    Style,
    Turn,
)

PERSONAS = {p.name: p for p in DEFAULT_PERSONAS}
TOPICS = (
    "futebol",
    "trabalho",
    "fim de semana",
    "comida",
    "clima",
    "família",
    "séries",
    "viagem",
    "música",
    "academia",
    "estudos",
    "pets",
    "eleições municipais",
    "",
)
PARTNER_LINES = (
    "Oi, tudo bem?",
    "Tudo certo por aqui! E você?",
    "Vi o jogo do Flamengo ontem, que sufoco",
    "Fui pra Bahia semana passada, foi incrível.",
    "Tô com saudade da minha mãe.",
    "O que você acha disso?",
    "kkkkk verdade",
    "Hoje o trabalho tá puxado demais",
)


def persona(
    *,
    name: str = "Teste",
    style: Style = "casual",
    vocabulary: tuple[str, ...] = ("tipo", "mano"),
    emoji_rate: float = 0.3,
    typo_rate: float = 0.1,
    min_length: int = 20,
    max_length: int = 140,
    greetings: Mapping[Daypart, tuple[str, ...]] | None = None,
    language: str = "pt-BR",
) -> PersonaSpec:
    return PersonaSpec(
        name=name,
        style=style,
        vocabulary=vocabulary,
        emoji_rate=emoji_rate,
        typo_rate=typo_rate,
        min_length=min_length,
        max_length=max_length,
        greetings=greetings
        or {
            "morning": ("Bom dia", "Oi, bom dia"),
            "afternoon": ("Boa tarde", "Oi"),
            "night": ("Boa noite", "Oi"),
        },
        language=language,
    )


def request(
    p: PersonaSpec | None = None,
    *,
    topic: str = "futebol",
    daypart: Daypart = "morning",
    history: tuple[Turn, ...] = (),
    opening: bool = False,
    closing: bool = False,
    partner_name: str | None = "Ana",
) -> ReplyRequest:
    return ReplyRequest(
        persona=p or persona(),
        partner_name=partner_name,
        topic=topic,
        daypart=daypart,
        history=history,
        opening=opening,
        closing=closing,
    )


def mixed_requests(p: PersonaSpec, count: int, seed: int) -> list[ReplyRequest]:
    """A spread of dayparts, topics and turn positions, replies answering a partner line."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        opening = i % 3 == 0
        history = () if opening else (Turn("Parceira", rng.choice(PARTNER_LINES)),)
        out.append(
            request(
                p,
                topic=rng.choice(TOPICS),
                daypart=DAYPARTS[i % 3],
                history=history,
                opening=opening,
                closing=i % 5 == 4,
                partner_name=rng.choice(("Ana", "Marcos", None)),
            )
        )
    return out
