"""Good, bad or neutral news: the sentiment of a share and of the reaction it gets.

"Faltei no treino, bateu a preguiça" is bad news: it gets "putz" or "acontece", never "que
massa!". The mood is read from the words alone (cue phrases, a negation flipping a good cue),
so a message written by the LLM or by a person is read the same way as one written offline,
and `bench/conversation_quality.py` measures with the same reading. Pure and cheap: one
regular expression per cue list.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Literal

from mirage.ai.text import fold

__all__ = ["Mood", "fits", "is_personal", "mood_of"]

Mood = Literal["good", "bad", "neutral", "mixed"]

# Phrases, not single letters: written as people write them, folded at import.
_GOOD_CUES = (
    "bom",
    "boa",
    "bons",
    "ótimo",
    "ótima",
    "excelente",
    "maravilhoso",
    "maravilha",
    "incrível",
    "perfeito",
    "massa",
    "top",
    "show",
    "show de bola",
    "da hora",
    "daora",
    "irado",
    "um sonho",
    "que sonho",
    "tudo de bom",
    "um arraso",
    "realmente especial",
    "muito agradável",
    "bom demais",
    "adorei",
    "amei",
    "adoro",
    "curti",
    "tô gostando",
    "tá gostando",
    "gostando muito",
    "gostando mais",
    "feliz",
    "felizmente",
    "consegui",
    "deu certo",
    "deu tudo certo",
    "ganhou",
    "ganhamos",
    "recorde",
    "parabéns",
    "aí sim",
    "bacana",
    "legal",
    "delícia",
    "delicioso",
    "inesquecível",
    "festa",
    "elogio",
    "ainda bem",
    "graças a deus",
    "que máximo",
    "que tudo",
    "que luxo",
    "que chique",
    "uma animação só",
    "mandando muito bem",
    "mandando bem",
    "fofo",
    "fofa",
    "fofura",
    "lindo",
    "linda",
    "terapia",
    "rende mais",
    "rendeu",
    "terminei",
    "resolvi",
    "inspira",
    "milagre",
    "é tudo",
    "fica outro",
    "comprei",
    "disposição",
    "melhorou",
    "tranquilo",
    "tranquila",
    "morri",
    "babado",
    "que demais",
    "água na boca",
    "sonhar",
    "merece",
    "fico feliz",
    "que notícia boa",
)
_BAD_CUES = (
    "ruim",
    "péssimo",
    "péssima",
    "horrível",
    "tenso",
    "tensa",
    "puxado",
    "puxada",
    "osso",
    "complicado",
    "complicada",
    "punk",
    "chato",
    "chata",
    "um caos",
    "um drama",
    "uma novela",
    "um filme de terror",
    "cansativo",
    "cansativa",
    "cansaço",
    "difícil",
    "perdeu",
    "perdi",
    "perdemos",
    "tomou a virada",
    "não sinto as pernas",
    "não sinto nada",
    "acabou comigo",
    "pegou pesado",
    "sem paciência",
    "não convenceu",
    "tá devendo",
    "dor de cabeça",
    "preguiça",
    "faltei",
    "caiu",
    "dando trabalho",
    "machucar",
    "machuquei",
    "doente",
    "gripe",
    "infelizmente",
    "que pena",
    "putz",
    "vish",
    "poxa",
    "eita",
    "nem me fala",
    "nem gosto de lembrar",
    "não superei",
    "sem unha",
    "nervoso",
    "triste",
    "tristeza",
    "saudade",
    "lotada",
    "lotado",
    "tá muito caro",
    "terrível",
    "não aguento",
    "não me prendeu",
    "o bolso não deixa",
    "imprevisto",
    "adiei",
    "atrasou",
    "atrasado",
    "cruel",
    "erro grave",
    "o joelho não deixa",
    "parado",
    "estresse",
    "estressante",
    "sinto muito",
    "aguenta firme",
    "força aí",
    "tomara que melhore",
    "tomara que o próximo",
    "ninguém aguenta",
    "não tá fácil",
    "não dá trégua",
    "correria",
    "sufoco",
    "acontece",
    "faz parte",
    "que chato",
    "ah, não",
    "que droga",
    "aff",
    "choveu",
    "velório",
    "me matar",
)
# "não foi bom", "nem deu certo": a negation just before a good cue makes it bad news.
_NEGATIONS = ("não", "nem", "nunca", "sem")


def _alternation(phrases: Iterable[str]) -> str:
    folded = sorted({fold(p) for p in phrases if fold(p)}, key=len, reverse=True)
    return "|".join(re.escape(p) for p in folded)


_GOOD = re.compile(rf"\b(?:{_alternation(_GOOD_CUES)})\b")
_BAD = re.compile(rf"\b(?:{_alternation(_BAD_CUES)})\b")
_NEGATED = re.compile(rf"\b(?:{_alternation(_NEGATIONS)})\s+(?:\w+\s+)?$")


# First-person news ("troquei de academia", "vou viajar sábado"): "verdade" does not answer it.
_PERSONAL = re.compile(
    r"\b(?:eu|to|tou|estou|tava|vou|quero|fiz|fui|tenho|tive|comecei|comprei|troquei|voltei"
    r"|pasei|conheci|acabei|consegui|corri|joguei|levei|dei|almocei|acordei|descobri|terminei"
    r"|queria|minha|meu|meus|minhas|sou|parei|treinei|faltei|cheguei|recebi|resolvi|arumei|vi)\b"
)


def is_personal(text: str) -> bool:
    """Whether the text tells something about its writer (rather than an opinion)."""
    return bool(_PERSONAL.search(fold(text)))


@functools.lru_cache(maxsize=4096)
def mood_of(text: str) -> Mood:
    """Good news, bad news, neither, or both at once ("mixed": only a neutral reaction fits)."""
    folded = fold(text)
    bad = bool(_BAD.search(folded))
    good = False
    for match in _GOOD.finditer(folded):
        if _NEGATED.search(folded[: match.start()]):
            bad = True
        else:
            good = True
    if good and bad:
        return "mixed"
    if good:
        return "good"
    if bad:
        return "bad"
    return "neutral"


def fits(reaction: Mood, share: Mood) -> bool:
    """Whether a reaction of this mood fits a share of that one: a neutral reaction fits
    anything; a happy one fits good or neutral news; a sympathetic one only bad news."""
    if reaction == "neutral":
        return True
    if reaction == "good":
        return share in {"good", "neutral"}
    if reaction == "bad":
        return share == "bad"
    return share == "mixed"
