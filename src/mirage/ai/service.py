"""Reply generation as the rest of Mirage sees it: LLM when configured, offline otherwise,
never a near-duplicate of what the tenant sent recently, nor a sentence skeleton already used
in the round ("Tô numa fase de..." twice), if another candidate can avoid it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mirage.ai.guard import RepetitionGuard, skeleton_repeat
from mirage.ai.llm import AIConfig, AIUnavailable, generate_llm
from mirage.ai.offline import OfflineGenerator
from mirage.ai.persona import ReplyRequest
from mirage.kit.logging import get_logger

if TYPE_CHECKING:
    import openai

__all__ = ["GeneratedReply", "generate_reply"]

log = get_logger(__name__)
_OFFLINE = OfflineGenerator()

Source = Literal["llm", "offline"]


@dataclass(frozen=True, slots=True)
class GeneratedReply:
    """The chosen message, where it came from and how repetitive it is (stored and shown)."""

    text: str
    source: Source
    repetition_score: float
    attempts: int
    # Why the offline generator wrote it although an LLM was wanted (or None).
    fallback_reason: str | None


async def generate_reply(
    req: ReplyRequest,
    *,
    config: AIConfig | None,
    recent_texts: Sequence[str],
    rng: random.Random,
    guard: RepetitionGuard | None = None,
    max_attempts: int = 4,
    client: openai.AsyncOpenAI | None = None,
) -> GeneratedReply:
    """Generate a reply, regenerating near-duplicates of `recent_texts` (the tenant's recent
    messages) up to `max_attempts` candidates; returns the least repetitive candidate.

    The LLM is used when `config` carries a key. The first `AIUnavailable` switches the rest
    of this reply to the offline generator and is reported as `fallback_reason`.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    guard = guard or RepetitionGuard()
    recent = guard.prepare(recent_texts)
    use_llm = config is not None and config.has_key
    fallback_reason = None if use_llm else "missing_api_key"
    avoid: list[str] = []
    in_round = [t.text for t in req.history]
    best: tuple[tuple[bool, float], str, Source] | None = None
    attempts = 0
    for _ in range(max_attempts):
        attempts += 1
        source: Source = "offline"
        text: str | None = None
        if use_llm and config is not None:
            try:
                text = await generate_llm(config, req, avoid=avoid, client=client)
                source = "llm"
            except AIUnavailable as exc:
                use_llm = False
                fallback_reason = exc.reason
                log.warning("ai.llm_unavailable", reason=exc.reason, detail=exc.detail)
        if text is None:
            text = _OFFLINE.generate(req, rng)
        match = guard.best_match(text, recent)
        skeleton = skeleton_repeat(text, in_round)
        rank = (skeleton is not None, match.score)
        if best is None or rank < best[0]:
            best = (rank, text, source)
        if skeleton is None and match.score < guard.threshold:
            break
        # Tell the LLM what not to say again on the next attempt.
        avoid.append(text)
        if match.text is not None and match.score >= guard.threshold:
            avoid.append(match.text)
    if best is None:  # the loop runs at least once
        raise RuntimeError("no candidate reply was generated")
    (_, score), text, source = best
    if score >= guard.threshold:
        log.info("ai.repetitive_reply_kept", score=round(score, 3), attempts=attempts)
    return GeneratedReply(
        text=text,
        source=source,
        repetition_score=score,
        attempts=attempts,
        fallback_reason=fallback_reason if source == "offline" else None,
    )
