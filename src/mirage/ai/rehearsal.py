"""Rounds between two personas as they would unfold across a day, written offline.

What `mirage ai sample` prints and `bench/conversation_quality.py` measures: the same
generator, the same requests (history, earlier rounds, local time) and the same repetition
guard the engine uses, without a database, a gateway or a network. Pure: the clock is the
`start` passed in and advanced by drawn pauses; randomness comes from the `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from mirage.ai.dialogue import round_length
from mirage.ai.guard import RepetitionGuard, skeleton_repeat
from mirage.ai.offline import OfflineDraft, OfflineGenerator
from mirage.ai.persona import Daypart, PastRound, PersonaSpec, ReplyRequest, Turn, daypart_of

__all__ = ["RehearsedMessage", "RehearsedRound", "rehearse"]

_GENERATOR = OfflineGenerator()
# The engine hands the generator this many earlier rounds (memory reaches back 3 days: what
# someone said about themselves two days ago is still theirs, see `dialogue.Claim`).
MEMORY_ROUNDS = 20
RECENT_TEXTS = 200
MAX_ATTEMPTS = 4
# Between two rounds of a pair: a human pause (minutes). Nobody chats from 23:00 to 07:00.
PAUSE_MIN = (35.0, 150.0)
DAY_STARTS = time(7, 30)
DAY_ENDS = time(22, 30)


@dataclass(frozen=True, slots=True)
class RehearsedMessage:
    speaker: str
    text: str
    at: datetime
    draft: OfflineDraft
    repetition_score: float


@dataclass(frozen=True, slots=True)
class RehearsedRound:
    topic: str
    at: datetime
    daypart: Daypart
    messages: tuple[RehearsedMessage, ...]

    def past(self) -> PastRound:
        return PastRound(self.topic, tuple(Turn(m.speaker, m.text) for m in self.messages), self.at)


def _next_start(at: datetime, rng: random.Random) -> datetime:
    nxt = at + timedelta(minutes=rng.uniform(*PAUSE_MIN))
    if DAY_STARTS <= nxt.time() <= DAY_ENDS:
        return nxt
    day = nxt.date() if nxt.time() < DAY_STARTS else nxt.date() + timedelta(days=1)
    morning = datetime.combine(day, DAY_STARTS, tzinfo=at.tzinfo)
    return morning + timedelta(minutes=rng.uniform(0, 90))


def _guarded(
    req: ReplyRequest, recent: Sequence[str], rng: random.Random, guard: RepetitionGuard
) -> tuple[OfflineDraft, float]:
    """As `service.generate_reply` does offline: regenerate near-duplicates and sentence
    skeletons already used in the round, keep the least repetitive candidate."""
    prepared = guard.prepare(recent)
    in_round = [t.text for t in req.history]
    best: tuple[tuple[bool, float], OfflineDraft] | None = None
    for _ in range(MAX_ATTEMPTS):
        draft = _GENERATOR.compose(req, rng)
        score = guard.best_match(draft.text, prepared).score
        rank = (skeleton_repeat(draft.text, in_round) is not None, score)
        if best is None or rank < best[0]:
            best = (rank, draft)
        if not rank[0] and score < guard.threshold:
            break
    if best is None:
        raise RuntimeError("no candidate was generated")
    return best[1], best[0][1]


def rehearse(
    persona: PersonaSpec,
    partner: PersonaSpec,
    *,
    topics: Sequence[str],
    rounds: int,
    rng: random.Random,
    start: datetime,
    guard: RepetitionGuard | None = None,
    earlier: Sequence[RehearsedRound] = (),
    recent: Sequence[str] = (),
) -> list[RehearsedRound]:
    """`rounds` rounds between `persona` and `partner`, one after another from `start` (local
    time, tz-aware), each on a topic drawn from `topics`. Either side may open a round.
    `earlier` rounds of the pair and `recent` texts of the tenant (for the guard) carry over
    from a previous call."""
    if not topics:
        raise ValueError("at least one topic is needed")
    guard = guard or RepetitionGuard()
    done: list[RehearsedRound] = list(earlier)
    texts = list(recent)
    out: list[RehearsedRound] = []
    at = start
    for _ in range(rounds):
        topic = rng.choice(list(topics))
        length = round_length(rng)
        speakers = (persona, partner) if rng.random() < 0.5 else (partner, persona)
        history: list[Turn] = []
        messages: list[RehearsedMessage] = []
        now = at
        past = tuple(r.past() for r in done[-MEMORY_ROUNDS:])
        for i in range(length):
            me, other = speakers[i % 2], speakers[(i + 1) % 2]
            req = ReplyRequest(
                persona=me,
                partner_name=other.name,
                topic=topic,
                daypart=daypart_of(now),
                history=tuple(history),
                opening=i == 0,
                closing=i == length - 1,
                earlier=past,
                now=now,
            )
            draft, score = _guarded(req, texts[-RECENT_TEXTS:], rng, guard)
            messages.append(RehearsedMessage(me.name, draft.text, now, draft, score))
            history.append(Turn(me.name, draft.text))
            texts.append(draft.text)
            # Reading, thinking and typing: a reply comes within a few minutes.
            now += timedelta(seconds=rng.uniform(40, 240))
        rnd = RehearsedRound(topic, at, daypart_of(at), tuple(messages))
        out.append(rnd)
        done.append(rnd)
        at = _next_start(now, rng)
    return out
