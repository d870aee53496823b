"""A connection update never fails because no gateway is configured (Evolution retries 5xx)."""

from __future__ import annotations

import pytest

from mirage.config import get_settings
from mirage.instances import gateway


def test_reset_breaker_without_a_gateway_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway, "_gateway", None)
    monkeypatch.setattr(get_settings(), "evolution_url", None)
    gateway.reset_breaker("mirage-anything")  # no gateway, no breaker: nothing to do


class _Spy:
    def __init__(self) -> None:
        self.reset: list[str] = []

    def reset_breaker(self, instance: str) -> None:
        self.reset.append(instance)


def test_reset_breaker_reaches_the_configured_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _Spy()
    monkeypatch.setattr(gateway, "_gateway", spy)
    gateway.reset_breaker("mirage-a")
    assert spy.reset == ["mirage-a"]
