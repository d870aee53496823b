"""Do the offline generator's rounds hold together as conversations?

    .venv/bin/python bench/conversation_quality.py [--rounds 500] [--seed 7] [--show 0]

Rehearses `--rounds` rounds (`mirage.ai.rehearsal`: the engine's requests, earlier rounds
and repetition guard, rounds following each other across days) over every pair of default
personas and a spread of topics, then prints:

- questions answered: of the questions asked (how-are-you, and topic questions by intent and
  entity), the share the next message answers with an answer act about the same intent and
  entity; a question left in a round's last message counts as unanswered;
- greeting after the first round of the day, and greeting repeated within a daypart;
- rounds ending in a goodbye; mean messages per round;
- off-topic messages: messages naming another topic's things (aliases, entities) and none of
  the round's own, by a classifier independent of the generator's bookkeeping;
- exact duplicates and distinct word bigrams, as in bench/generator_diversity.py;
- reactions that fit the share's mood: of the reactions (the reacting words a message opens
  with), the share whose mood (`mirage.ai.mood`, read from the text) fits the mood of what
  the partner just said: good news gets no sympathy, bad news no "que massa";
- contradictions: a speaker stating a value of something about themselves ("parei de jogar
  bola") and later another value of it ("joguei uma pelada ontem") within what memory holds
  (the pair's last `MEMORY_ROUNDS` rounds, three days at most), statements read from the
  text (`mirage.ai.dialogue.claims_in`);
- follow-ups on earlier statements: rounds that open by picking up what the partner said in
  an earlier round ("E a academia nova, tá gostando?"), per 100 rounds;
- skeleton repeats: messages with a sentence skeleton already used in their round
  (`mirage.ai.guard.skeleton_repeat`: "Tô numa fase de X" twice);
- CPU time per message (generation and repetition guard).

Targets (issue 9): answered ≥ 95%, greeting after the first of the day ≤ 5%, goodbyes ≤ 30%,
mean ≥ 3 messages per round, contradictions 0, skeleton repeats 0.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mirage.ai import lexicon as lx
from mirage.ai.dialogue import MEMORY_SPAN, claims_in, resolve_topic, statement_text
from mirage.ai.guard import skeleton_repeat
from mirage.ai.mood import fits, mood_of
from mirage.ai.persona import DEFAULT_PERSONAS
from mirage.ai.rehearsal import MEMORY_ROUNDS, RehearsedRound, rehearse
from mirage.ai.text import fold, words

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
)
ZONE = ZoneInfo("America/Sao_Paulo")
# Words that name a topic only loosely ("faz tempo", "o sol da tarde"): not evidence of one.
_LOOSE = frozenset(
    fold(w)
    for w in (
        *("tempo", "sol", "time", "jogo", "show", "tv", "corrida", "firma", "saúde"),
        *("descanso", "folga", "feriado", "domingo", "sábado", "dormir", "amigos", "visitar"),
    )
)


def _patterns() -> dict[str, re.Pattern[str]]:
    out = {}
    for topic in lx.TOPICS:
        names = {fold(a) for a in topic.aliases}
        for options in topic.slots.values():
            names.update(fold(e.forms["name"]) for e in options)
        names = {n for n in names if n and n not in _LOOSE}
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        out[topic.key] = re.compile(rf"\b(?:{alternatives})\b")
    return out


_TOPIC_WORDS = _patterns()


def off_topic(text: str, topic_key: str) -> bool:
    folded = fold(text)
    hits = {key for key, rx in _TOPIC_WORDS.items() if rx.search(folded)}
    return bool(hits) and topic_key not in hits


@dataclass
class Figures:
    rounds: int
    messages: int
    questions: int
    answered: int
    later_rounds: int
    later_greeted: int
    same_part_rounds: int
    same_part_greeted: int
    goodbyes: int
    off_topic: int
    duplicates: int
    bigrams: int
    distinct_bigrams: int
    examples_off: list[str]
    examples_unanswered: list[str]
    reactions: int = 0
    reactions_fitting: int = 0
    statements: int = 0
    contradictions: int = 0
    followups: int = 0
    skeleton_repeats: int = 0
    examples_misfit: list[str] = field(default_factory=list)
    examples_contradiction: list[str] = field(default_factory=list)
    examples_skeleton: list[str] = field(default_factory=list)
    examples_followup: list[str] = field(default_factory=list)


def measure(rounds: Sequence[tuple[str, RehearsedRound]]) -> Figures:
    f = Figures(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, [], [])
    # What each speaker of each pair said about themselves: (pair, speaker, key) -> last
    # (value, round number, time, text).
    said: dict[tuple[str, str, str], _Said] = {}
    numbers: dict[str, int] = {}
    seen_days: set[tuple[str, object]] = set()
    seen_parts: set[tuple[str, object, str]] = set()
    texts: set[str] = set()
    grams: set[tuple[str, str]] = set()
    for pair, rnd in rounds:
        f.rounds += 1
        numbers[pair] = numbers.get(pair, -1) + 1
        day = (pair, rnd.at.date())
        part = (pair, rnd.at.date(), rnd.daypart)
        greeted = rnd.messages[0].draft.greeting is not None
        if day in seen_days:
            f.later_rounds += 1
            f.later_greeted += greeted
        if part in seen_parts:
            f.same_part_rounds += 1
            f.same_part_greeted += greeted
        seen_days.add(day)
        seen_parts.add(part)
        topic_key = resolve_topic(rnd.topic).key
        last = rnd.messages[-1]
        f.goodbyes += "close" in last.draft.acts
        for i, msg in enumerate(rnd.messages):
            f.messages += 1
            f.duplicates += msg.text in texts
            texts.add(msg.text)
            tokens = words(msg.text)
            pairs = list(itertools.pairwise(tokens))
            f.bigrams += len(pairs)
            grams.update(pairs)
            if off_topic(msg.text, topic_key):
                f.off_topic += 1
                if len(f.examples_off) < 8:
                    f.examples_off.append(f"[{rnd.topic}] {msg.text}")
            _mood_and_memory(f, pair, numbers[pair], rnd, i, said)
            nxt = rnd.messages[i + 1] if i + 1 < len(rnd.messages) else None
            for ref in msg.draft.asked:
                f.questions += 1
                if nxt is not None and ref in nxt.draft.answered:
                    f.answered += 1
                elif len(f.examples_unanswered) < 8:
                    reply = nxt.text if nxt else "(end of round)"
                    f.examples_unanswered.append(f"{ref}: {msg.text} → {reply}")
    f.distinct_bigrams = len(grams)
    return f


_Said = tuple[str, int, datetime, str]


def _mood_and_memory(
    f: Figures,
    pair: str,
    number: int,
    rnd: RehearsedRound,
    i: int,
    said: dict[tuple[str, str, str], _Said],
) -> None:
    msg = rnd.messages[i]
    previous = rnd.messages[i - 1] if i else None
    if msg.draft.reaction and previous is not None:
        share = statement_text(previous.text)
        if share:
            f.reactions += 1
            if fits(mood_of(msg.draft.reaction), mood_of(share)):
                f.reactions_fitting += 1
            elif len(f.examples_misfit) < 6:
                f.examples_misfit.append(f"{previous.text} → {msg.text}")
    if i == 0 and msg.draft.callback:
        f.followups += 1
        if len(f.examples_followup) < 6:
            f.examples_followup.append(f"[{rnd.topic}] {msg.text}")
    if skeleton_repeat(msg.text, [m.text for m in rnd.messages[:i]]) is not None:
        f.skeleton_repeats += 1
        if len(f.examples_skeleton) < 6:
            earlier = " / ".join(m.text for m in rnd.messages[:i])
            f.examples_skeleton.append(f"{earlier} → {msg.text}")
    for frag in claims_in(msg.text, resolve_topic(rnd.topic)):
        if frag.claim is None:
            continue
        key, value = frag.claim
        f.statements += 1
        before = said.get((pair, msg.speaker, key))
        if before is not None and before[0] != value:
            remembered = number - before[1] <= MEMORY_ROUNDS and msg.at - before[2] <= MEMORY_SPAN
            if remembered:
                f.contradictions += 1
                if len(f.examples_contradiction) < 6:
                    f.examples_contradiction.append(f"{msg.speaker}: {before[3]} … {msg.text}")
        said[(pair, msg.speaker, key)] = (value, number, msg.at, msg.text)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=0, help="print N rounds")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pairs = list(itertools.combinations(DEFAULT_PERSONAS, 2))
    per_pair = -(-args.rounds // len(pairs))
    collected: list[tuple[str, RehearsedRound]] = []
    recent: list[str] = []
    started = time.process_time()
    for a, b in pairs:
        # A conversation has a few topics (as the dashboard sets them); rounds draw from them.
        topics = rng.sample(TOPICS, 3)
        start = datetime(2026, 3, 2, 8, 0, tzinfo=ZONE)
        rounds = rehearse(
            a, b, topics=topics, rounds=per_pair, rng=rng, start=start, recent=recent[-200:]
        )
        recent += [m.text for r in rounds for m in r.messages]
        collected += [(f"{a.name}/{b.name}", r) for r in rounds]
    cpu = time.process_time() - started
    generated = sum(len(r.messages) for _, r in collected)
    collected = collected[: args.rounds]
    f = measure(collected)
    rows = [
        ("rounds", f"{f.rounds}", ""),
        ("messages", f"{f.messages}", ""),
        (
            "questions answered (same intent and thing)",
            f"{_share(f.answered, f.questions):.1%} of {f.questions}",
            "≥ 95%",
        ),
        (
            "greeting after the first round of the day",
            f"{_share(f.later_greeted, f.later_rounds):.1%} of {f.later_rounds}",
            "≤ 5%",
        ),
        (
            "greeting repeated within a daypart",
            f"{_share(f.same_part_greeted, f.same_part_rounds):.1%} of {f.same_part_rounds}",
            "",
        ),
        ("rounds ending in a goodbye", f"{_share(f.goodbyes, f.rounds):.1%}", "≤ 30%"),
        ("mean messages per round", f"{_share(f.messages, f.rounds):.2f}", "≥ 3"),
        ("off-topic messages", f"{_share(f.off_topic, f.messages):.1%}", ""),
        ("exact duplicates", f"{_share(f.duplicates, f.messages):.2%}", ""),
        ("distinct word bigrams", f"{_share(f.distinct_bigrams, f.bigrams):.3f}", ""),
        (
            "reactions fitting the share's mood",
            f"{_share(f.reactions_fitting, f.reactions):.1%} of {f.reactions}",
            "",
        ),
        ("contradictions (a statement, then its opposite)", f"{f.contradictions}", "0"),
        ("statements read back from the text", f"{f.statements}", ""),
        (
            "follow-ups on earlier statements / 100 rounds",
            f"{100 * _share(f.followups, f.rounds):.1f}",
            "",
        ),
        ("skeleton repeats within a round", f"{f.skeleton_repeats}", "0"),
        ("CPU per message (generation + guard)", f"{1000 * _share(cpu, generated):.1f} ms", ""),
    ]
    for label, value, target in rows:
        print(f"{label:<44} {value:>18}   {target}")
    if f.examples_unanswered:
        print("\nunanswered, for example:")
        for line in f.examples_unanswered:
            print(f"  {line}")
    for title, lines in (
        ("off-topic", f.examples_off),
        ("reaction not fitting the share's mood", f.examples_misfit),
        ("contradiction", f.examples_contradiction),
        ("skeleton repeated", f.examples_skeleton),
        ("follow-up on an earlier statement", f.examples_followup),
    ):
        if lines:
            print(f"\n{title}, for example:")
            for line in lines:
                print(f"  {line}")
    for pair, rnd in collected[: args.show]:
        print(f"\n— {pair} {rnd.at:%a %H:%M} · {rnd.topic}")
        for m in rnd.messages:
            print(f"  {m.speaker}: {m.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
