"""The tenant's AI base URL cannot reach the deployment's own network (SSRF): refused when it
is saved (API and dashboard form, with the reason), and refused again on the resolved address
when a reply is generated — the reply then comes from the offline generator, and the key is
never sent anywhere."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mirage.ai.llm import AIConfig, AIUnavailable, generate_llm
from mirage.ai.service import generate_reply
from mirage.config import get_settings
from tests.ai.conftest import completion
from tests.ai.factories import PERSONAS, request
from tests.conftest import TenantFixture, make_token, sign_in
from tests.kit.test_netguard import BAD_URLS

SETTINGS = {
    "timezone": "America/Sao_Paulo",
    "delay_min_s": 1,
    "delay_max_s": 2,
    "hourly_cap_per_number": 100,
    "daily_cap_per_number": 500,
    "burst_per_hour": 1000,
    "min_gap_seconds": 0,
    "reply_timeout_s": 60,
    "kill_switch": False,
    "ai_model": "gpt-test",
    "ai_api_key": "sk-tenant",
}
# The settings API and form refuse these; the parser-level ones (no scheme, spaces) are
# covered in tests/kit/test_netguard.py.
REFUSED = [
    "http://127.0.0.1:11434/v1",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8000/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://localhost:8000/v1",
    "http://2130706433/v1",
    "http://0x7f000001/v1",
    "http://0177.0.0.1/v1",
    "http://10.1.2.3/v1",
    "http://192.168.0.10/v1",
    "http://100.64.0.1/v1",
    "http://[fd00::1]/v1",
    "http://0.0.0.0/v1",
    "http://metadata.google.internal/v1",
    "http://evil.example.com@127.0.0.1/v1",
    "ftp://api.openai.com/v1",
    "file:///etc/passwd",
]
KEY = "sk-tenant-secret-0123456789"


@dataclass
class FakeLLM:
    """An OpenAI-compatible server on 127.0.0.1 that records every byte it receives."""

    port: int = 0
    received: bytearray = field(default_factory=bytearray)


@pytest.fixture
async def local_llm() -> AsyncIterator[FakeLLM]:
    rec = FakeLLM()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        rec.received += head + await reader.readexactly(length)
        body = json.dumps(completion("Oi! Tudo bem por aí?")).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with server:
        yield rec


@pytest.fixture
def rebind(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A public-looking name that the system resolver answers with 127.0.0.1."""
    name = "llm.rebind.example.com"
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == name else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield name


def _config(base_url: str) -> AIConfig:
    return AIConfig(api_key=KEY, base_url=base_url, model="gpt-test", max_retries=0)


async def test_a_name_resolving_to_loopback_falls_back_offline_without_sending_the_key(
    local_llm: FakeLLM, rebind: str
) -> None:
    config = _config(f"http://{rebind}:{local_llm.port}/v1")
    with pytest.raises(AIUnavailable) as info:
        await generate_llm(config, request(PERSONAS["Rafa"]))
    assert info.value.reason == "forbidden_address"
    assert "127.0.0.1" in str(info.value.detail) and "loopback" in str(info.value.detail)

    reply = await generate_reply(
        request(PERSONAS["Rafa"]), config=config, recent_texts=[], rng=random.Random(1)
    )
    assert reply.source == "offline" and reply.fallback_reason == "forbidden_address"
    assert reply.text
    assert local_llm.received == b""  # not a byte, let alone the key


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]", "2130706433"])
async def test_a_stored_private_url_is_refused_before_any_connection(
    local_llm: FakeLLM, host: str
) -> None:
    """URLs saved before the check existed (or written to the database directly)."""
    reply = await generate_reply(
        request(PERSONAS["Helena"]),
        config=_config(f"http://{host}:{local_llm.port}/v1"),
        recent_texts=[],
        rng=random.Random(2),
    )
    assert reply.source == "offline" and reply.fallback_reason == "forbidden_url"
    assert local_llm.received == b""


async def test_the_operator_can_allow_a_private_llm_server(
    local_llm: FakeLLM, rebind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "ai_allow_private_hosts", "127.0.0.0/8")
    text = await generate_llm(
        _config(f"http://{rebind}:{local_llm.port}/v1"), request(PERSONAS["Rafa"])
    )
    assert text == "Oi! Tudo bem por aí?"
    assert f"Bearer {KEY}".encode() in local_llm.received

    monkeypatch.setattr(get_settings(), "ai_allow_private_hosts", rebind)
    local_llm.received.clear()
    assert await generate_llm(
        _config(f"http://{rebind}:{local_llm.port}/v1"), request(PERSONAS["Rafa"])
    )
    assert local_llm.received


# --- input validation: the settings API and the dashboard form -----------------------------


@pytest.mark.parametrize("url", REFUSED)
async def test_settings_api_refuses_private_and_odd_ai_urls(
    client: httpx.AsyncClient, tenant_a: TenantFixture, url: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    r = await client.put("/api/v1/settings", headers=auth, json={**SETTINGS, "ai_base_url": url})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["field"] == "ai_base_url"
    assert "AI base URL is not allowed" in problem["detail"]
    stored = (await client.get("/api/v1/settings", headers=auth)).json()
    assert stored["ai_base_url"] != url


async def test_settings_api_accepts_a_public_url_with_the_tenants_own_key(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    url = "https://api.openai.com/v1"
    without_key = {**SETTINGS, "ai_base_url": url, "ai_api_key": None}
    r = await client.put("/api/v1/settings", headers=auth, json=without_key)
    # The deployment's key is never sent to a URL a tenant chose.
    assert r.status_code == 422 and r.json()["field"] == "ai_api_key", r.text
    r = await client.put("/api/v1/settings", headers=auth, json={**SETTINGS, "ai_base_url": url})
    assert r.status_code == 200 and r.json()["ai_base_url"] == url, r.text
    # Keeping the stored key (null) is fine now.
    r = await client.put("/api/v1/settings", headers=auth, json=without_key)
    assert r.status_code == 200, r.text


def test_every_refused_api_example_is_also_refused_by_the_url_check() -> None:
    assert set(REFUSED) - set(BAD_URLS) <= {
        "http://[::1]:8000/v1",
        "http://localhost:8000/v1",
        "http://10.1.2.3/v1",
        "http://192.168.0.10/v1",
        "http://[fd00::1]/v1",
        "http://metadata.google.internal/v1",
        "http://169.254.169.254/latest/meta-data/",
    }


async def test_dashboard_form_refuses_each_private_ai_url_with_a_readable_message(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    csrf = await sign_in(client, tenant_a)
    for url in REFUSED:
        form = {
            **{k: str(v) for k, v in SETTINGS.items() if k != "kill_switch"},
            "ai_base_url": url,
            "csrf_token": csrf,
        }
        r = await client.post("/settings/cadence", data=form)
        assert r.status_code == 422, (url, r.text[:500])
        assert "a URL base da IA não é permitida" in r.text, url
        assert 'id="f-ai_base_url-error"' in r.text, url
    page = await client.get("/settings")
    assert not any(f'value="{url}"' in page.text for url in REFUSED)


async def test_the_deployment_key_is_never_sent_to_a_tenant_url(
    local_llm: FakeLLM, rebind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant URL stored without the tenant's own key (engine falls back to the deployment
    key): refused before connecting, even where the operator allowed the address."""
    from pydantic import SecretStr

    monkeypatch.setattr(get_settings(), "openai_api_key", SecretStr(KEY))
    monkeypatch.setattr(get_settings(), "ai_allow_private_hosts", "127.0.0.0/8")
    with pytest.raises(AIUnavailable) as info:
        await generate_llm(
            _config(f"http://{rebind}:{local_llm.port}/v1"), request(PERSONAS["Rafa"])
        )
    assert info.value.reason == "deployment_key_elsewhere"
    assert local_llm.received == b""
    # The deployment's own endpoint gets it (used as the operator configured it).
    own = f"http://127.0.0.1:{local_llm.port}/v1"
    monkeypatch.setattr(get_settings(), "openai_base_url", own)
    assert await generate_llm(_config(own), request(PERSONAS["Rafa"]))
    assert f"Bearer {KEY}".encode() in local_llm.received
