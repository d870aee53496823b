"""respx for the OpenAI SDK.

The installed `openai` speaks HTTP through `httpx2`/`httpcore2`, which respx does not patch
out of the box. This mocker is respx's own httpcore mocker pointed at httpcore2's transports,
so tests stub the OpenAI endpoint with ordinary respx routes: `respx.mock(using="httpcore2")`.
Nothing in `mirage.ai` knows about it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import httpcore2
import httpx
import pytest
import respx
from respx.mocks import HTTPCoreMocker, Mocker

BASE_URL = "http://llm.test/v1"

if "httpcore2" not in Mocker.registry:

    class HTTPCore2Mocker(HTTPCoreMocker):
        name = "httpcore2"
        targets: ClassVar[list[str]] = [
            "httpcore2._sync.connection.HTTPConnection",
            "httpcore2._sync.connection_pool.ConnectionPool",
            "httpcore2._sync.http_proxy.HTTPProxy",
            "httpcore2._async.connection.AsyncHTTPConnection",
            "httpcore2._async.connection_pool.AsyncConnectionPool",
            "httpcore2._async.http_proxy.AsyncHTTPProxy",
        ]

        @classmethod
        def from_sync_httpx_response(
            cls, httpx_response: httpx.Response, target: Any, **kwargs: Any
        ) -> httpcore2.Response:
            return httpcore2.Response(
                status=httpx_response.status_code,
                headers=httpx_response.headers.raw,
                content=httpx_response.read(),
                extensions=httpx_response.extensions,
            )


def completion(content: str | None, *, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat.completions response body as OpenAI sends it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


@pytest.fixture
def llm() -> Iterator[respx.MockRouter]:
    """A stubbed OpenAI-compatible endpoint at BASE_URL; unmatched requests fail the test."""
    with respx.mock(using="httpcore2", base_url=BASE_URL, assert_all_called=False) as router:
        yield router
