"""generate_reply: LLM when configured, offline on any failure, regeneration of repeats."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import httpcore2
import httpx
import respx

from mirage.ai.guard import Match, RecentTexts, RepetitionGuard
from mirage.ai.llm import AIConfig
from mirage.ai.offline import OfflineGenerator
from mirage.ai.persona import Turn
from mirage.ai.service import generate_reply
from mirage.ai.text import daypart_greetings_in
from tests.ai.conftest import BASE_URL, completion
from tests.ai.factories import PERSONAS, request

CONFIG = AIConfig(api_key="sk-test", base_url=BASE_URL, model="gpt-test", max_retries=0)
REQ = request(
    PERSONAS["Juliana"],
    topic="viagem",
    daypart="afternoon",
    history=(Turn("Rafa", "eai, boa tarde! vou pra Bahia nas férias"),),
)


async def test_llm_reply_when_configured(llm: respx.MockRouter) -> None:
    llm.post("/chat/completions").respond(200, json=completion("Que demais! Vai pra onde?"))
    reply = await generate_reply(
        REQ, config=CONFIG, recent_texts=["outra coisa"], rng=random.Random(1)
    )
    assert reply.text == "Que demais! Vai pra onde?"
    assert reply.source == "llm"
    assert reply.fallback_reason is None
    assert reply.attempts == 1
    assert 0 <= reply.repetition_score < 0.8


async def test_rate_limit_falls_back_to_offline(llm: respx.MockRouter) -> None:
    route = llm.post("/chat/completions").respond(429, json={"error": {"message": "slow down"}})
    reply = await generate_reply(REQ, config=CONFIG, recent_texts=[], rng=random.Random(2))
    assert route.called
    assert reply.source == "offline"
    assert reply.fallback_reason == "rate_limited"
    assert PERSONAS["Juliana"].min_length <= len(reply.text) <= PERSONAS["Juliana"].max_length
    assert daypart_greetings_in(reply.text) <= {"afternoon"}


async def test_timeout_falls_back_to_offline(llm: respx.MockRouter) -> None:
    llm.post("/chat/completions").mock(side_effect=httpcore2.ReadTimeout("timed out"))
    reply = await generate_reply(REQ, config=CONFIG, recent_texts=[], rng=random.Random(3))
    assert reply.source == "offline"
    assert reply.fallback_reason == "timeout"
    assert reply.text


async def test_no_key_means_offline_without_a_call(llm: respx.MockRouter) -> None:
    route = llm.post("/chat/completions").respond(200, json=completion("nunca"))
    for config in (None, AIConfig(api_key="", base_url=BASE_URL, model="m")):
        reply = await generate_reply(REQ, config=config, recent_texts=[], rng=random.Random(4))
        assert reply.source == "offline"
        assert reply.fallback_reason == "missing_api_key"
        assert reply.text
    assert not route.called


async def test_a_failure_switches_the_whole_reply_to_offline(llm: respx.MockRouter) -> None:
    # First LLM candidate repeats a recent message; the retry hits a 503: offline from there.
    recent = ["Que demais, vai pra onde?"]
    route = llm.post("/chat/completions").mock(
        side_effect=[
            httpx.Response(200, json=completion("Que demais! Vai pra onde?")),
            httpx.Response(503, json={"error": {"message": "down"}}),
        ]
    )
    reply = await generate_reply(REQ, config=CONFIG, recent_texts=recent, rng=random.Random(5))
    assert route.call_count == 2
    assert reply.source == "offline"
    assert reply.fallback_reason == "http_503"
    assert reply.attempts == 2
    assert reply.repetition_score < 0.8


async def test_llm_regenerates_a_near_duplicate_and_is_told_what_to_avoid(
    llm: respx.MockRouter,
) -> None:
    recent = ["Que demais!! Vai pra onde? 😍", "Bom demais, aproveita a viagem"]
    route = llm.post("/chat/completions").mock(
        side_effect=[
            httpx.Response(200, json=completion("que demais, vai pra onde?")),
            httpx.Response(200, json=completion("Bahia é lindo demais, já fui duas vezes")),
        ]
    )
    reply = await generate_reply(REQ, config=CONFIG, recent_texts=recent, rng=random.Random(6))
    assert reply.text == "Bahia é lindo demais, já fui duas vezes"
    assert reply.source == "llm"
    assert reply.attempts == 2
    assert reply.repetition_score < 0.8
    second_prompt = json.loads(route.calls[1].request.content)["messages"][0]["content"]
    assert "que demais, vai pra onde?" in second_prompt
    assert "Não repita" in second_prompt


async def test_offline_regenerates_when_the_first_candidate_repeats_recent_texts() -> None:
    # The same seed writes the same first candidate, so it is already in the recent texts.
    first = OfflineGenerator().generate(REQ, random.Random(7))
    reply = await generate_reply(REQ, config=None, recent_texts=[first], rng=random.Random(7))
    assert reply.attempts >= 2
    assert reply.text != first
    assert reply.repetition_score < 0.8
    assert reply.source == "offline"


class RecordingGuard(RepetitionGuard):
    """A guard so strict that every candidate is repetitive; remembers the scores it gave."""

    def __init__(self) -> None:
        super().__init__(threshold=0.01)
        self.scores: list[tuple[float, str]] = []

    def best_match(self, candidate: str, recent: Sequence[str] | RecentTexts) -> Match:
        match = super().best_match(candidate, recent)
        self.scores.append((match.score, candidate))
        return match


async def test_when_every_candidate_repeats_the_least_repetitive_is_kept() -> None:
    recent = [OfflineGenerator().generate(REQ, random.Random(seed)) for seed in range(40)]
    guard = RecordingGuard()
    reply = await generate_reply(
        REQ, config=None, recent_texts=recent, rng=random.Random(8), guard=guard, max_attempts=4
    )
    assert reply.attempts == 4 == len(guard.scores)
    best_score, best_text = min(guard.scores, key=lambda s: s[0])
    assert reply.repetition_score == best_score
    assert reply.text == best_text
