"""The OpenAI client: the prompt it sends, how it reads answers, how every failure surfaces."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpcore2
import httpx
import pytest
import respx

from mirage.ai.llm import AIConfig, AIUnavailable, build_messages, clean_output, generate_llm
from mirage.ai.persona import Turn
from tests.ai.conftest import BASE_URL, completion
from tests.ai.factories import PERSONAS, persona, request

CONFIG = AIConfig(api_key="sk-test", base_url=BASE_URL, model="gpt-test", max_retries=0)


def _sent(route: respx.Route, call: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[call].request.content)
    return body


async def test_the_prompt_carries_persona_topic_daypart_and_history(
    llm: respx.MockRouter,
) -> None:
    route = llm.post("/chat/completions").respond(200, json=completion("Tudo ótimo, e você?"))
    p = PERSONAS["Rafa"]
    req = request(
        p,
        topic="futebol",
        daypart="night",
        partner_name="Helena",
        history=(
            Turn("Helena", "Boa noite! Tudo bem?"),
            Turn("Rafa", "eai, boa noite"),
            Turn("Rafa", "tudo certo e vc?"),
            Turn("Helena", "Tudo ótimo. Viu o jogo?"),
        ),
    )
    assert await generate_llm(CONFIG, req) == "Tudo ótimo, e você?"

    sent = _sent(route)
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test"
    assert sent["model"] == "gpt-test"
    system = sent["messages"][0]
    assert system["role"] == "system"
    prompt = system["content"]
    for expected in (
        "Rafa",  # persona
        "descontraído",  # style
        '"mano"',  # vocabulary
        "35%",  # emoji rate
        "12%",  # typo rate
        "entre 12 e 120 caracteres",
        "Assunto da conversa: futebol",
        "noite",
        'use "boa noite"',
        'nunca use "bom dia" nem "boa tarde"',
        "Helena",
        "apenas o texto da mensagem",
    ):
        assert expected in prompt, expected
    # The round as alternating messages: own turns are the assistant's, merged when adjacent.
    assert [m["role"] for m in sent["messages"][1:]] == ["user", "assistant", "user"]
    assert sent["messages"][2]["content"] == "eai, boa noite\ntudo certo e vc?"
    assert sent["messages"][-1]["content"] == "Tudo ótimo. Viu o jogo?"


def test_opening_prompt_asks_for_a_daypart_greeting() -> None:
    p = PERSONAS["Helena"]
    messages = build_messages(request(p, daypart="morning", opening=True, topic="viagem"))
    prompt = messages[0]["content"]
    assert "primeira mensagem" in prompt
    assert '"Bom dia", "Olá, bom dia", "Muito bom dia"' in prompt
    assert 'nunca use "boa tarde" nem "boa noite"' in prompt
    # No history: the model is asked to write, as the user's turn.
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Helena" in messages[1]["content"]


def test_closing_and_group_prompts() -> None:
    p = persona(name="Zé")
    req = request(
        p,
        closing=True,
        history=(Turn("Ana", "oi gente"), Turn("Bia", "oii"), Turn("Zé", "opa")),
    )
    messages = build_messages(req)
    assert "despeça-se" in messages[0]["content"]
    # Several partners: each line says who wrote it; the last turn was ours, so we are asked.
    assert messages[1] == {"role": "user", "content": "Ana: oi gente\nBia: oii"}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]


def test_avoid_list_reaches_the_prompt() -> None:
    prompt = build_messages(request(), avoid=["vi o jogo ontem", "bora ver o jogo"])[0]["content"]
    assert 'Não repita nem parafraseie estas mensagens já enviadas: "vi o jogo ontem"' in prompt


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"Tudo certo por aqui!"', "Tudo certo por aqui!"),
        ("“Tudo certo por aqui!”", "Tudo certo por aqui!"),
        ("Teste: tudo certo", "tudo certo"),
        ("  tudo\n\ncerto  ", "tudo certo"),
        ("tudo\x00 certo\u202e", "tudo certo"),
    ],
)
def test_output_is_cleaned(raw: str, expected: str) -> None:
    assert clean_output(raw, request(persona(name="Teste"))) == expected


def test_long_output_is_trimmed_at_a_word_boundary() -> None:
    p = persona(min_length=10, max_length=40)
    text = clean_output(
        "Vi o jogo ontem e achei que o time jogou muito bem, de verdade", request(p)
    )
    assert text == "Vi o jogo ontem e achei que o time jogou"
    assert len(text) <= 40


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty_output"),
        ('  ""  ', "empty_output"),
        ("palavra " * 100, "oversized_output"),
        ("Boa noite! Tudo bem?", "wrong_daypart_greeting"),
    ],
)
def test_unusable_output_is_refused(raw: str, reason: str) -> None:
    with pytest.raises(AIUnavailable) as err:
        clean_output(raw, request(persona(max_length=100), daypart="morning"))
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "rate_limited"),
        (401, "auth_failed"),
        (403, "auth_failed"),
        (500, "http_500"),
        (503, "http_503"),
        (400, "http_400"),
    ],
)
async def test_http_errors_become_reasons(llm: respx.MockRouter, status: int, reason: str) -> None:
    llm.post("/chat/completions").respond(status, json={"error": {"message": "nope"}})
    with pytest.raises(AIUnavailable) as err:
        await generate_llm(CONFIG, request())
    assert err.value.reason == reason


async def test_a_read_timeout_becomes_timeout(llm: respx.MockRouter) -> None:
    llm.post("/chat/completions").mock(side_effect=httpcore2.ReadTimeout("read timed out"))
    with pytest.raises(AIUnavailable) as err:
        await generate_llm(CONFIG, request())
    assert err.value.reason == "timeout"


async def test_connection_refused_becomes_connection_error(llm: respx.MockRouter) -> None:
    llm.post("/chat/completions").mock(side_effect=httpcore2.ConnectError("refused"))
    with pytest.raises(AIUnavailable) as err:
        await generate_llm(CONFIG, request())
    assert err.value.reason == "connection_error"


async def test_a_hanging_provider_is_cut_off_by_the_deadline(llm: respx.MockRouter) -> None:
    async def hang(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=completion("tarde demais"))

    llm.post("/chat/completions").mock(side_effect=hang)
    config = AIConfig(api_key="k", base_url=BASE_URL, model="m", timeout_s=0.05, max_retries=0)
    with pytest.raises(AIUnavailable) as err:
        await generate_llm(config, request())
    assert err.value.reason == "deadline_exceeded"


async def test_retries_are_the_sdks_and_honour_retry_after(llm: respx.MockRouter) -> None:
    route = llm.post("/chat/completions").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after-ms": "1"}, json={"error": {}}),
            httpx.Response(200, json=completion("Agora foi")),
        ]
    )
    config = AIConfig(api_key="k", base_url=BASE_URL, model="m", max_retries=1)
    assert await generate_llm(config, request()) == "Agora foi"
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (completion(None), "empty_output"),
        (completion("   "), "empty_output"),
        (completion("algo", finish_reason="content_filter"), "content_filtered"),
        ({**completion("x"), "choices": []}, "empty_output"),
    ],
)
async def test_empty_or_filtered_answers_are_refused(
    llm: respx.MockRouter, body: dict[str, Any], reason: str
) -> None:
    llm.post("/chat/completions").respond(200, json=body)
    with pytest.raises(AIUnavailable) as err:
        await generate_llm(CONFIG, request())
    assert err.value.reason == reason


async def test_a_missing_key_never_calls_out(llm: respx.MockRouter) -> None:
    route = llm.post("/chat/completions").respond(200, json=completion("oi"))
    with pytest.raises(AIUnavailable) as err:
        await generate_llm(AIConfig(api_key=" ", base_url=BASE_URL, model="m"), request())
    assert err.value.reason == "missing_api_key"
    assert not route.called


def test_config_is_validated_and_hides_the_key() -> None:
    assert "sk-secret" not in repr(AIConfig(api_key="sk-secret", base_url=None, model="m"))
    with pytest.raises(ValueError, match="base_url"):
        AIConfig(api_key="k", base_url="llm.test", model="m")
    with pytest.raises(ValueError, match="timeout"):
        AIConfig(api_key="k", base_url=None, model="m", timeout_s=0)
    with pytest.raises(ValueError, match="model"):
        AIConfig(api_key="k", base_url=None, model=" ")
    assert AIConfig(api_key="k", base_url=None, model="m", timeout_s=10, max_retries=2).deadline_s


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"text": "<html>proxy error</html>"}, "invalid_response"),
        ({"json": [1, 2]}, "invalid_response"),
        ({"json": {"unexpected": 1}}, "empty_output"),
        ({"json": {"choices": [{"message": None}]}}, "empty_output"),
    ],
)
async def test_a_body_that_is_not_a_completion_is_refused(
    llm: respx.MockRouter, kwargs: dict[str, Any], reason: str
) -> None:
    llm.post("/chat/completions").respond(200, **kwargs)
    with pytest.raises(AIUnavailable) as err:
        await generate_llm(CONFIG, request())
    assert err.value.reason == reason


def test_deployment_default_config_comes_from_settings() -> None:
    from pydantic import SecretStr

    from mirage.config import Settings

    assert AIConfig.from_settings(Settings(openai_api_key=None)) is None
    assert AIConfig.from_settings(Settings(openai_api_key=SecretStr(" "))) is None
    config = AIConfig.from_settings(
        Settings(openai_api_key=SecretStr("sk-x"), openai_base_url=BASE_URL, openai_model="m1")
    )
    assert config == AIConfig(api_key="sk-x", base_url=BASE_URL, model="m1")
