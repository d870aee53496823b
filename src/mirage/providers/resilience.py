"""Retries (tenacity) and circuit breakers (purgatory), configured for a WhatsApp gateway.

A breaker for the gateway as a whole guards every call and counts only gateway-level failures
(timeouts, connection errors, 429/5xx). A breaker per instance guards messaging calls and
also counts "not connected" — the "connected but cannot send" zombie of reference §6.2.
Both open after ``threshold`` consecutive failed attempts, refuse fast with ``CircuitOpen``,
and let a trial call through after ``cooldown_s`` (half-open): success closes, failure
re-opens. State is in memory, per process: share one client per process.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from mirage.providers.errors import CircuitOpen, GatewayDown, NotConnected, SendOutcomeUnknown

log = structlog.get_logger("mirage.providers")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, for idempotent calls only (reference §6)."""

    attempts: int = 3
    initial_s: float = 0.25
    max_s: float = 5.0
    jitter_s: float = 0.25

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")

    def retrying(self, predicate: Callable[[BaseException], bool], op: str) -> AsyncRetrying:
        def _before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "gateway call failed; retrying",
                operation=op,
                attempt=state.attempt_number,
                error=str(exc),
            )

        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(
                multiplier=self.initial_s, max=self.max_s, jitter=self.jitter_s
            ),
            retry=retry_if_exception(predicate),
            before_sleep=_before_sleep,
            reraise=True,
        )


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    instance_threshold: int = 5
    instance_cooldown_s: float = 30.0
    gateway_threshold: int = 20
    gateway_cooldown_s: float = 15.0

    def __post_init__(self) -> None:
        if min(self.instance_threshold, self.gateway_threshold) < 1:
            raise ValueError("thresholds must be >= 1")
        if min(self.instance_cooldown_s, self.gateway_cooldown_s) <= 0:
            raise ValueError("cool-downs must be positive")


def counts_against_gateway(exc: BaseException) -> bool:
    return isinstance(exc, GatewayDown | SendOutcomeUnknown)


def counts_against_instance(exc: BaseException) -> bool:
    return isinstance(exc, GatewayDown | SendOutcomeUnknown | NotConnected)


class Breakers:
    """The gateway breaker and one breaker per instance, in memory (per process)."""

    GATEWAY = "gateway"

    def __init__(self, policy: BreakerPolicy, *, name: str = "evolution") -> None:
        self.policy = policy
        self._prefix = name
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=policy.instance_threshold, default_ttl=policy.instance_cooldown_s
        )
        self._factory.add_listener(self._on_event)
        # purgatory treats an "excluded" exception as a success: everything that does not
        # reflect on the gateway's (or the instance's) health is excluded this way.
        self._gateway_exclude: list[Any] = [(BaseException, _not(counts_against_gateway))]
        self._instance_exclude: list[Any] = [(BaseException, _not(counts_against_instance))]

    def _name(self, instance: str | None) -> str:
        return (
            f"{self._prefix}:{self.GATEWAY}" if instance is None else f"{self._prefix}:i:{instance}"
        )

    @staticmethod
    def _on_event(name: str, kind: str, event: Any) -> None:
        if kind == "state_changed":
            log.warning("circuit breaker state changed", circuit=name, state=event.state)

    def _contexts(self) -> dict[str, Any]:
        # The in-memory repository keeps contexts in a plain dict, read synchronously.
        contexts: dict[str, Any] = getattr(self._factory.uow.contexts, "breakers", {})
        return contexts

    def reset(self, instance: str | None = None) -> None:
        # Forgetting the context is purgatory's "closed, no failures": it is re-created on use.
        self._contexts().pop(self._name(instance), None)

    def state(self, instance: str | None = None) -> str:
        ctx = self._contexts().get(self._name(instance))
        if ctx is None:
            return "closed"
        if ctx.state == "opened" and time.time() > ctx.opened_at + ctx.ttl:
            return "half-opened"  # the next call will be the trial
        return str(ctx.state)

    @asynccontextmanager
    async def guard(self, instance: str | None) -> AsyncIterator[None]:
        p = self.policy
        gw_name = self._name(None)
        gateway = await self._factory.get_breaker(
            gw_name, p.gateway_threshold, p.gateway_cooldown_s, self._gateway_exclude
        )
        inst = None
        if instance is not None:
            inst = await self._factory.get_breaker(
                self._name(instance),
                p.instance_threshold,
                p.instance_cooldown_s,
                self._instance_exclude,
            )
            # Refuse before touching the gateway breaker: a refusal is not a gateway success.
            ctx = inst.context
            if ctx.state == "opened" and time.time() <= (ctx.opened_at or 0) + ctx.ttl:
                raise CircuitOpen(
                    f"circuit open for instance {instance!r}",
                    circuit=ctx.name,
                    scope="instance",
                    instance=instance,
                )
        try:
            async with gateway:
                if inst is None:
                    yield
                else:
                    async with inst:
                        yield
        except OpenedState as exc:
            scope: Literal["gateway", "instance"] = (
                "gateway" if exc.circuit_name == gw_name else "instance"
            )
            raise CircuitOpen(
                f"circuit open for the {scope}",
                circuit=exc.circuit_name,
                scope=scope,
                instance=instance,
            ) from None


def _not(fn: Callable[[BaseException], bool]) -> Callable[[BaseException], bool]:
    return lambda exc: not fn(exc)
