"""Reply generation for warm-up conversations.

- `persona`: `PersonaSpec`, `ReplyRequest`, `Turn`, `daypart_of`, `DEFAULT_PERSONAS`;
- `offline`: `OfflineGenerator`, varied pt-BR messages without an LLM (pure, seeded);
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
