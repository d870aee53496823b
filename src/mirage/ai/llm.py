"""Replies from an LLM through the official `openai` SDK (any OpenAI-compatible endpoint).

`build_messages` is pure (the prompt is a function of the request); `generate_llm` is the only
I/O. Every way the provider can fail (no key, HTTP error, 429, timeout, empty or unusable
output) surfaces as `AIUnavailable(reason)`, which the service answers with the offline
generator.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mirage.ai.dialogue import Claim, DialogueState, question_sentences, read_state
from mirage.ai.persona import ReplyRequest, Turn
from mirage.ai.text import DAYPARTS, Daypart, clean_line, daypart_greetings_in
from mirage.config import get_settings
from mirage.kit.egress import guarded_client
from mirage.kit.netguard import ForbiddenAddress, UnsafeURL, check_url

if TYPE_CHECKING:
    # The SDK is imported where a request is made, not here: importing it costs ~0.5 s of
    # CPU, and every `mirage` process (API, worker, each CLI command) imports this module.
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from mirage.config import Settings

__all__ = [
    "AIConfig",
    "AIUnavailable",
    "build_messages",
    "clean_output",
    "generate_llm",
    "make_client",
    "system_prompt",
]

MAX_HISTORY_TURNS = 20
MAX_TURN_CHARS = 600
MAX_AVOID = 5
# Output longer than this many times the persona's maximum is not a chat message any more
# (the model ignored the instructions); shorter overshoots are trimmed at a word boundary.
OVERSIZE_FACTOR = 3
TEMPERATURE = 0.9

# "Agora é de tarde" ("Agora é tarde" would mean "now it is too late").
_DAYPART_NOW: dict[Daypart, str] = {
    "morning": "de manhã",
    "afternoon": "de tarde",
    "night": "de noite",
}
_DAYPART_OF: dict[Daypart, str] = {
    "morning": "da manhã",
    "afternoon": "da tarde",
    "night": "da noite",
}
_DAYPART_GREETING: dict[Daypart, str] = {
    "morning": "bom dia",
    "afternoon": "boa tarde",
    "night": "boa noite",
}
_STYLE_DESCRIPTION = {
    "formal": (
        "formal e educado: frases completas, pontuação correta, sem gírias nem abreviações "
        '("Bom dia, tudo bem?")'
    ),
    "casual": (
        'descontraído, como entre amigos: gírias leves ("eai", "de boa", "mano"), '
        'abreviações ("vc", "tb", "pq"), risadas como "kkk", pontuação relaxada'
    ),
    "playful": (
        "brincalhão e expressivo: exclamações, letras esticadas "
        '("demaaais"), risadas como "kkkkk" ou "hahaha", entusiasmo'
    ),
}
# How a remembered fact is named in the prompt ("time: Flamengo").
_FACT_LABELS = {
    "team": "time que torce",
    "sport": "atividade física",
    "pet": "pet",
    "petname": "nome do pet",
    "dest": "viagem planejada",
    "show": "série",
    "artist": "artista",
    "subject": "o que estuda",
    "plan": "plano de fim de semana",
    "deliverable": "entrega do trabalho",
    "weather": "tempo na cidade",
}
MAX_ASKED = 6
# Statements quoted back per side: the latest few are what a contradiction would hit.
MAX_SAID = 6
_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"), ("‘", "’"), ("«", "»"), ("`", "`"))


class AIUnavailable(Exception):
    """The LLM could not produce a usable reply; `reason` is a short machine-readable code
    (missing_api_key, rate_limited, timeout, http_503, empty_output, ...)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class AIConfig:
    """Where and how to ask for replies. The key never appears in repr or logs."""

    api_key: str = field(repr=False)
    base_url: str | None
    model: str
    timeout_s: float = 20
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if not self.model.strip():
            raise ValueError("model must not be empty")
        if not (math.isfinite(self.timeout_s) and 0 < self.timeout_s <= 300):
            raise ValueError("timeout_s must be in (0, 300]")
        if not 0 <= self.max_retries <= 10:
            raise ValueError("max_retries must be between 0 and 10")

    @property
    def has_key(self) -> bool:
        return bool(self.api_key.strip())

    @property
    def deadline_s(self) -> float:
        """Upper bound for one reply, retries and their back-off included: a provider asking
        to retry in a minute must not hold a conversation turn for a minute."""
        return self.timeout_s * (self.max_retries + 1) + 2.0 * self.max_retries

    @classmethod
    def from_settings(cls, settings: Settings) -> AIConfig | None:
        """The deployment-wide default (``MIRAGE_OPENAI_*``); None when no key is set."""
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key.strip():
            return None
        return cls(api_key=key, base_url=settings.openai_base_url, model=settings.openai_model)


def _percent(rate: float) -> int:
    return round(rate * 100)


def system_prompt(req: ReplyRequest, *, avoid: Sequence[str] = ()) -> str:
    """The instructions: persona, topic, daypart and greeting rule, turn position."""
    p = req.persona
    own_greeting = _DAYPART_GREETING[req.daypart]
    others = [f'"{_DAYPART_GREETING[d]}"' for d in DAYPARTS if d != req.daypart]
    partner = clean_line(req.partner_name or "", max_chars=80) or "o contato"
    lines = [
        f"Você escreve mensagens de WhatsApp em {p.language} como {p.name}, uma pessoa real "
        f"conversando com {partner}.",
        f"Estilo de {p.name}: {_STYLE_DESCRIPTION[p.style]}.",
    ]
    if p.vocabulary:
        lines.append(
            f"Expressões típicas de {p.name} (use de vez em quando, com naturalidade): "
            + ", ".join(f'"{w}"' for w in p.vocabulary)
            + "."
        )
    lines += [
        f"Emojis: cerca de {_percent(p.emoji_rate)}% das mensagens de {p.name} têm emoji "
        "(no máximo três).",
        f"Erros de digitação: cerca de {_percent(p.typo_rate)}% das mensagens de {p.name} têm "
        "um pequeno erro de digitação natural.",
        f"Tamanho: entre {p.min_length} e {p.max_length} caracteres.",
        f"Assunto da conversa: {clean_line(req.topic, max_chars=200) or 'conversa do dia a dia'}.",
        f"Agora é {_DAYPART_NOW[req.daypart]} (período: {req.daypart}). Se cumprimentar, use "
        f'"{own_greeting}" ou um cumprimento neutro; nunca use {" nem ".join(others)}.',
    ]
    lines += _dialogue_lines(req, read_state(req), partner)
    if avoid:
        quoted = "; ".join(f'"{clean_line(t, max_chars=200)}"' for t in avoid[:MAX_AVOID])
        lines.append(f"Não repita nem parafraseie estas mensagens já enviadas: {quoted}.")
    lines.append(
        "Escreva apenas o texto da mensagem: sem aspas, sem o nome de quem fala, sem explicações."
    )
    return "\n".join(lines)


def _facts(facts: dict[str, str]) -> str:
    return "; ".join(f"{_FACT_LABELS.get(slot, slot)}: {name}" for slot, name in facts.items())


def _said(claims: Iterable[Claim]) -> str:
    """Statements as quoted, the latest last (at most a few: the prompt stays short)."""
    sentences: list[str] = []
    for claim in sorted(claims, key=lambda c: c.index):
        if claim.sentence and claim.sentence not in sentences:
            sentences.append(claim.sentence)
    return "; ".join(f'"{s}"' for s in sentences[-MAX_SAID:])


def _dialogue_lines(req: ReplyRequest, state: DialogueState, partner: str) -> list[str]:
    """The conversation model's state as instructions: greet or not, what is owed an
    answer, what each side said before, what not to ask again, how the round ends."""
    p = req.persona
    lines: list[str] = []
    if req.opening:
        if state.first_of_daypart:
            examples = ", ".join(f'"{g}"' for g in p.greetings[req.daypart])
            lines.append(
                f"Esta é a primeira mensagem da conversa neste período: comece com um destes "
                f"cumprimentos {_DAYPART_OF[req.daypart]}: {examples}."
            )
        else:
            lines.append(
                f"Vocês já conversaram {_DAYPART_NOW[req.daypart]} hoje: não cumprimente de "
                "novo; puxe o assunto direto, como quem retoma a conversa."
            )
        if state.callback is not None:
            intent, entity = state.callback
            label = _FACT_LABELS.get(intent.slot or "", "assunto")
            claim = state.partner_claims.get(intent.after[0]) if intent.after else None
            if entity is not None:
                lines.append(
                    f"Você pode retomar o que {partner} contou da última vez "
                    f"({label}: {entity.forms['name']}), perguntando como ficou."
                )
            elif claim is not None:
                lines.append(
                    f'Você pode retomar o que {partner} contou da última vez ("{claim.sentence}"), '
                    "perguntando como ficou."
                )
    else:
        lines.append(
            f"Responda à última mensagem de {partner} de forma natural, sem cumprimentar de novo."
        )
        for asked in state.owed:
            if asked.how:
                lines.append(f"{partner} perguntou como você está: responda isso primeiro.")
            else:
                question = clean_line(asked.sentence, max_chars=200)
                lines.append(
                    f'{partner} perguntou: "{question}". Responda exatamente a essa pergunta, '
                    "sobre a mesma coisa, antes de qualquer outro assunto."
                )
        if state.shared and not state.owed:
            lines.append(f"Reaja ao que {partner} contou antes de mudar de assunto.")
    own = {slot: e.forms["name"] for slot, e in state.own_facts.items()}
    theirs = {slot: e.forms["name"] for slot, e in state.partner_facts.items()}
    if own:
        lines.append(f"O que {p.name} já contou antes (mantenha coerente): {_facts(own)}.")
    if theirs:
        lines.append(f"O que {partner} já contou antes (não pergunte de novo): {_facts(theirs)}.")
    said = _said(state.own_claims.values())
    if said:
        lines.append(
            f"O que {p.name} já disse de si (não contradiga nem conte de novo como novidade): "
            f"{said}."
        )
    heard = _said(state.partner_claims.values())
    if heard:
        lines.append(
            f"O que {partner} já disse de si (não pergunte o que já se sabe; pode comentar ou "
            f"perguntar como ficou): {heard}."
        )
    asked_before = [
        clean_line(q, max_chars=120)
        for r in req.earlier[-3:]
        for t in r.turns
        if t.speaker == p.name
        for q in question_sentences(t.text)
    ]
    asked_before += [q for t in req.own_turns for q in question_sentences(t.text)]
    if asked_before:
        quoted = "; ".join(f'"{q}"' for q in asked_before[-MAX_ASKED:])
        lines.append(f"Perguntas que {p.name} já fez (não repita): {quoted}.")
    if req.closing:
        lines.append(
            "Esta é a última mensagem desta rodada: não faça nenhuma pergunta; despeça-se só "
            "se for natural (na maioria das vezes, apenas responda ou comente)."
        )
    else:
        lines.append(
            f"Deixe algo para {partner} responder: no máximo uma pergunta, ou algo seu sobre "
            "o assunto."
        )
    return lines


def _history_messages(req: ReplyRequest) -> list[dict[str, str]]:
    turns: list[Turn] = list(req.history[-MAX_HISTORY_TURNS:])
    partners = {t.speaker for t in turns if t.speaker != req.persona.name}
    group = len(partners) > 1
    messages: list[dict[str, str]] = []
    for turn in turns:
        own = turn.speaker == req.persona.name
        text = clean_line(turn.text, max_chars=MAX_TURN_CHARS)
        if not text:
            continue
        if group and not own:
            text = f"{clean_line(turn.speaker, max_chars=40)}: {text}"
        role = "assistant" if own else "user"
        # Strict alternation: several consecutive messages of one side become one.
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + text
        else:
            messages.append({"role": role, "content": text})
    return messages


def build_messages(req: ReplyRequest, *, avoid: Sequence[str] = ()) -> list[dict[str, str]]:
    """Chat messages for the request: the system prompt, then the round's history with this
    persona's turns as "assistant" and the others' as "user", alternating."""
    messages = [{"role": "system", "content": system_prompt(req, avoid=avoid)}]
    history = _history_messages(req)
    messages += history
    if not history or history[-1]["role"] == "assistant":
        what = "a primeira mensagem" if req.opening else "a próxima mensagem"
        messages.append({"role": "user", "content": f"Escreva agora {what} de {req.persona.name}."})
    return messages


def _params(messages: Sequence[dict[str, str]]) -> list[ChatCompletionMessageParam]:
    from openai.types.chat import (
        ChatCompletionAssistantMessageParam,
        ChatCompletionSystemMessageParam,
        ChatCompletionUserMessageParam,
    )

    params: list[ChatCompletionMessageParam] = []
    for m in messages:
        if m["role"] == "system":
            params.append(ChatCompletionSystemMessageParam(role="system", content=m["content"]))
        elif m["role"] == "assistant":
            params.append(
                ChatCompletionAssistantMessageParam(role="assistant", content=m["content"])
            )
        else:
            params.append(ChatCompletionUserMessageParam(role="user", content=m["content"]))
    return params


def _trim_words(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if text[limit] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–")


def clean_output(raw: str, req: ReplyRequest) -> str:
    """The model's text as a sendable message, or AIUnavailable when it is not usable."""
    text = clean_line(raw)
    name = req.persona.name
    for _ in range(3):
        before = text
        if text.casefold().startswith(name.casefold() + ":"):
            text = text[len(name) + 1 :].strip()
        for left, right in _QUOTES:
            if len(text) >= 2 and text.startswith(left) and text.endswith(right):
                text = text[len(left) : -len(right)].strip()
        if text == before:
            break
    if not text:
        raise AIUnavailable("empty_output")
    limit = req.persona.max_length
    if len(text) > OVERSIZE_FACTOR * limit:
        raise AIUnavailable("oversized_output", f"{len(text)} characters")
    text = _trim_words(text, limit)
    if not text:
        raise AIUnavailable("empty_output")
    wrong = daypart_greetings_in(text) - {req.daypart}
    if wrong:
        raise AIUnavailable("wrong_daypart_greeting", ", ".join(sorted(wrong)))
    return text


def _operator_endpoint(base_url: str | None) -> bool:
    """The deployment's own MIRAGE_OPENAI_BASE_URL is the operator's choice, not a tenant's:
    it is used as configured (a private LLM server needs no extra setting)."""
    operator = get_settings().openai_base_url
    return base_url is not None and operator is not None and base_url == operator


def make_client(config: AIConfig) -> openai.AsyncOpenAI:
    """An SDK client for `config`. Tenant-chosen endpoints get a client whose every
    connection is checked against MIRAGE_AI_ALLOW_PRIVATE_HOSTS and the private-address
    policy on the resolved address (`mirage.kit.egress`); an unsafe URL is refused before
    anything is sent (`AIUnavailable("forbidden_url")`)."""
    import openai

    settings = get_settings()
    operator_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if (
        operator_key
        and config.api_key == operator_key
        and config.base_url != settings.openai_base_url
    ):
        # The deployment's key goes to the deployment's endpoint only, never to a URL a
        # tenant chose (a tenant URL without the tenant's own key).
        raise AIUnavailable("deployment_key_elsewhere", "the tenant's AI base URL has no key")
    if _operator_endpoint(config.base_url):
        return openai.AsyncOpenAI(
            api_key=config.api_key,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )
    policy = settings.ai_address_policy
    if config.base_url is not None:
        try:
            check_url(config.base_url, policy)
        except UnsafeURL as exc:
            raise AIUnavailable("forbidden_url", str(exc)) from exc
    return openai.AsyncOpenAI(
        api_key=config.api_key,
        base_url=config.base_url,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
        http_client=guarded_client(policy, timeout=config.timeout_s),
    )


def _max_tokens(req: ReplyRequest) -> int:
    # Portuguese runs at ~3.5 characters a token; leave room for an overshoot we then trim.
    return max(32, req.persona.max_length // 2 + 16)


def _short(exc: BaseException) -> str:
    return clean_line(str(exc), max_chars=200)


async def generate_llm(
    config: AIConfig,
    req: ReplyRequest,
    *,
    avoid: Sequence[str] = (),
    client: openai.AsyncOpenAI | None = None,
) -> str:
    """One reply from the configured endpoint. Pass `client` to reuse a connection pool
    (its own timeout and retry settings then apply; build it with `make_client` so the
    address guard applies); otherwise one is made with `make_client` and closed."""
    import openai

    if not config.has_key:
        raise AIUnavailable("missing_api_key")
    messages = _params(build_messages(req, avoid=avoid))
    owned = client is None
    api = client or make_client(config)
    try:
        async with asyncio.timeout(config.deadline_s):
            completion = await api.chat.completions.create(
                model=config.model,
                messages=messages,
                temperature=TEMPERATURE,
                max_tokens=_max_tokens(req),
                n=1,
            )
    except openai.RateLimitError as exc:
        raise AIUnavailable("rate_limited", _short(exc)) from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise AIUnavailable("auth_failed", _short(exc)) from exc
    except openai.APIStatusError as exc:
        raise AIUnavailable(f"http_{exc.status_code}", _short(exc)) from exc
    except openai.APITimeoutError as exc:
        raise AIUnavailable("timeout", _short(exc)) from exc
    except openai.APIConnectionError as exc:
        raise AIUnavailable("connection_error", _short(exc)) from exc
    except openai.OpenAIError as exc:
        raise AIUnavailable("invalid_response", _short(exc)) from exc
    except TimeoutError as exc:
        raise AIUnavailable("deadline_exceeded", f"{config.deadline_s:g}s") from exc
    except ForbiddenAddress as exc:
        # The name resolved to a private/loopback/metadata address at connection time (DNS
        # rebinding, or a name that was never public): nothing was sent, the key included.
        raise AIUnavailable("forbidden_address", str(exc)) from exc
    finally:
        if owned:
            await api.close()
    # Compatible servers differ; a body without the expected shape is an unusable answer.
    try:
        choice = completion.choices[0] if completion.choices else None
        finish = choice.finish_reason if choice is not None else None
        content = choice.message.content if choice is not None and choice.message else None
    except (AttributeError, IndexError, TypeError) as exc:
        raise AIUnavailable("invalid_response", _short(exc)) from exc
    if finish == "content_filter":
        raise AIUnavailable("content_filtered")
    if not isinstance(content, str):
        raise AIUnavailable("empty_output")
    return clean_output(content, req)
