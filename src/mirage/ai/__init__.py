"""Reply generation for warm-up conversations.

- `persona`: `PersonaSpec`, `ReplyRequest`, `Turn`, `PastRound`, `daypart_of`, `DEFAULT_PERSONAS`;
- `dialogue`: the conversation model (acts, who owes what answer, greetings per daypart,
  memory across rounds), read from text; `threads`: the questions and their answers;
- `offline`: `OfflineGenerator`, varied pt-BR messages without an LLM (pure, seeded);
- `rehearsal`: rounds across a day without I/O (`mirage ai sample`, the quality bench);
- `guard`: `RepetitionGuard`, similarity of a candidate to the tenant's recent messages;
- `llm`: `AIConfig`, `build_messages`, `generate_llm` (official `openai` SDK), `AIUnavailable`;
- `service`: `generate_reply`, LLM first, offline fallback, regeneration of near-duplicates.
"""

from mirage.ai.guard import RepetitionGuard
from mirage.ai.llm import AIConfig, AIUnavailable, build_messages, generate_llm
from mirage.ai.offline import OfflineDraft, OfflineGenerator
from mirage.ai.persona import (
    DEFAULT_PERSONAS,
    Daypart,
    PastRound,
    PersonaSpec,
    ReplyRequest,
    Style,
    Turn,
    daypart_of,
)
from mirage.ai.service import GeneratedReply, generate_reply

__all__ = [
    "DEFAULT_PERSONAS",
    "AIConfig",
    "AIUnavailable",
    "Daypart",
    "GeneratedReply",
    "OfflineDraft",
    "OfflineGenerator",
    "PastRound",
    "PersonaSpec",
    "RepetitionGuard",
    "ReplyRequest",
    "Style",
    "Turn",
    "build_messages",
    "daypart_of",
    "generate_llm",
    "generate_reply",
]
