"""Diversity of the offline reply generator.

    .venv/bin/python bench/generator_diversity.py [--messages 1000] [--seed 7] [--all]

Simulates warm-up rounds (2-4 exchanges, mixed dayparts, topics and turn positions, the
partner's messages as history) until one persona has written `--messages` messages, then
prints the share of exact duplicates (messages identical to an earlier one) and the
distinct-bigram ratio (distinct word bigrams / all word bigrams). Two personas by default
(casual and formal), every default persona with --all. Targets: duplicates well under 5%,
a high distinct-bigram ratio.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mirage.ai.offline import OfflineGenerator
from mirage.ai.persona import DAYPARTS, DEFAULT_PERSONAS, PersonaSpec, ReplyRequest, Turn
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
PARTNER_NAMES = ("Ana", "Marcos", "Lu", "Dona Célia", None)


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
    """`count` messages written by `persona` in simulated rounds with `partner`."""
    rng = random.Random(seed)
    generator = OfflineGenerator()
    written: list[str] = []
    while len(written) < count:
        topic = rng.choice(TOPICS)
        daypart = rng.choice(DAYPARTS)
        exchanges = rng.randint(2, 4)
        speakers = [persona, partner] if rng.random() < 0.5 else [partner, persona]
        history: list[Turn] = []
        total = exchanges * 2
        for i in range(total):
            me = speakers[i % 2]
            other = speakers[(i + 1) % 2]
            req = ReplyRequest(
                persona=me,
                partner_name=rng.choice(PARTNER_NAMES) if me is persona else other.name,
                topic=topic,
                daypart=daypart,
                history=tuple(history),
                opening=i == 0,
                closing=i >= total - 2,
            )
            text = generator.generate(req, rng)
            history.append(Turn(me.name, text))
            if me is persona:
                written.append(text)
                if len(written) == count:
                    break
    return written


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
