"""Diversity of the offline reply generator.

    .venv/bin/python bench/generator_diversity.py [--messages 1000] [--seed 7] [--all]

Rehearses warm-up rounds (`mirage.ai.rehearsal`: 2-4 messages, rounds across days, topics
drawn three at a time, the repetition guard) until one persona has written `--messages`
messages, then prints the share of exact duplicates (messages identical to an earlier one)
and the distinct-bigram ratio (distinct word bigrams / all word bigrams). Two personas by default
(casual and formal), every default persona with --all. Targets: duplicates well under 5%,
a high distinct-bigram ratio.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mirage.ai.persona import DEFAULT_PERSONAS, PersonaSpec
from mirage.ai.rehearsal import RehearsedRound, rehearse
from mirage.ai.text import has_emoji, words

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
    "reforma da cozinha",
)


@dataclass
class Figures:
    persona: str
    messages: int
    duplicate_share: float
    distinct_bigram_ratio: float
    distinct_trigram_ratio: float
    mean_length: float
    emoji_share: float


def simulate(persona: PersonaSpec, partner: PersonaSpec, count: int, seed: int) -> list[str]:
    """`count` messages written by `persona` in rounds with `partner` as the engine runs them
    (`mirage.ai.rehearsal`: earlier rounds, local time, the repetition guard), topics drawn
    from TOPICS, rounds following each other across days."""
    rng = random.Random(seed)
    written: list[str] = []
    done: list[RehearsedRound] = []
    recent: list[str] = []
    start = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    while len(written) < count:
        rounds = rehearse(
            persona,
            partner,
            topics=rng.sample(TOPICS, 3),
            rounds=10,
            rng=rng,
            start=start,
            earlier=done[-6:],
            recent=recent[-200:],
        )
        done += rounds
        for rnd in rounds:
            recent += [m.text for m in rnd.messages]
            written += [m.text for m in rnd.messages if m.speaker == persona.name]
        start = rounds[-1].at + timedelta(hours=2)
    return written[:count]


def _ngrams(messages: list[str], n: int) -> tuple[int, int]:
    total, distinct = 0, set()
    for message in messages:
        tokens = words(message)
        grams = list(zip(*(tokens[i:] for i in range(n)), strict=False))
        total += len(grams)
        distinct.update(grams)
    return len(distinct), total


def figures(persona: PersonaSpec, messages: list[str]) -> Figures:
    distinct_bigrams, bigrams = _ngrams(messages, 2)
    distinct_trigrams, trigrams = _ngrams(messages, 3)
    return Figures(
        persona=f"{persona.name} ({persona.style})",
        messages=len(messages),
        duplicate_share=1 - len(set(messages)) / len(messages),
        distinct_bigram_ratio=distinct_bigrams / bigrams if bigrams else 0.0,
        distinct_trigram_ratio=distinct_trigrams / trigrams if trigrams else 0.0,
        mean_length=sum(map(len, messages)) / len(messages),
        emoji_share=sum(map(has_emoji, messages)) / len(messages),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--all", action="store_true", help="every default persona")
    parser.add_argument("--show", type=int, default=0, help="print N sample messages each")
    args = parser.parse_args()

    by_name = {p.name: p for p in DEFAULT_PERSONAS}
    chosen = list(DEFAULT_PERSONAS) if args.all else [by_name["Rafa"], by_name["Helena"]]
    print(
        f"{'persona':<22} {'messages':>8} {'exact dup':>10} {'distinct 2-grams':>17} "
        f"{'distinct 3-grams':>17} {'mean len':>9} {'emoji':>6}"
    )
    for index, persona in enumerate(chosen):
        partner = next(p for p in DEFAULT_PERSONAS if p.name != persona.name)
        messages = simulate(persona, partner, args.messages, args.seed + index)
        f = figures(persona, messages)
        print(
            f"{f.persona:<22} {f.messages:>8} {f.duplicate_share:>10.2%} "
            f"{f.distinct_bigram_ratio:>17.3f} {f.distinct_trigram_ratio:>17.3f} "
            f"{f.mean_length:>9.1f} {f.emoji_share:>6.0%}"
        )
        for text in messages[: args.show]:
            print(f"    {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
