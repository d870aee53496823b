"""The ``WhatsAppGateway`` protocol: what Mirage needs from a gateway, whatever it is.

Implementations: ``EvolutionGateway`` (Evolution API v2, or the simulator, which it cannot
tell apart). Every instance-scoped call accepts ``token``: the per-instance key returned by
``create_instance``; without it the gateway-wide key is used.
Errors are the classes of ``mirage.providers.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from mirage.providers.models import (
    ConnectionState,
    ConnectResult,
    CreatedInstance,
    GatewayInfo,
    InstanceInfo,
    InstanceSettings,
    MessageKey,
    NumberCheck,
    Presence,
    SentMessage,
    WebhookSpec,
)


@runtime_checkable
class WhatsAppGateway(Protocol):
    async def info(self) -> GatewayInfo:
        """Liveness and version of the gateway (no credentials needed)."""
        ...

    async def create_instance(
        self,
        name: str,
        *,
        webhook: WebhookSpec | None = None,
        token: str | None = None,
        qrcode: bool = False,
        number: str | None = None,
        settings: InstanceSettings | None = None,
    ) -> CreatedInstance:
        """Create an instance with its webhook pre-configured. With ``qrcode`` the first QR
        (or, with ``number``, a pairing code) comes back in the result when available."""
        ...

    async def connect(self, instance: str, *, token: str | None = None) -> ConnectResult:
        """Start (or continue) pairing: the current QR, or ``open`` if already connected."""
        ...

    async def request_pairing_code(
        self, instance: str, number: str, *, token: str | None = None
    ) -> ConnectResult:
        """Pair by code instead of QR: ``result.qr.pairing_code`` is typed on the phone."""
        ...

    async def connection_state(
        self, instance: str, *, token: str | None = None
    ) -> ConnectionState: ...

    async def fetch_instances(
        self, *, name: str | None = None, token: str | None = None
    ) -> list[InstanceInfo]: ...

    async def restart(self, instance: str, *, token: str | None = None) -> ConnectResult: ...

    async def logout(self, instance: str, *, token: str | None = None) -> None: ...

    async def delete_instance(self, instance: str, *, token: str | None = None) -> None: ...

    async def send_text(
        self,
        instance: str,
        number: str,
        text: str,
        *,
        delay_ms: int | None = None,
        link_preview: bool | None = None,
        quoted: MessageKey | None = None,
        token: str | None = None,
    ) -> SentMessage:
        """Send a text. Never retried once the request may have reached the gateway: raises
        ``SendOutcomeUnknown`` and the caller reconciles from webhooks. ``delay_ms`` shows
        'composing' first and holds the call that long (as Evolution does)."""
        ...

    async def send_presence(
        self,
        instance: str,
        number: str,
        presence: Presence,
        *,
        delay_ms: int = 0,
        token: str | None = None,
    ) -> None: ...

    async def check_numbers(
        self, instance: str, numbers: Sequence[str], *, token: str | None = None
    ) -> list[NumberCheck]: ...

    async def mark_read(
        self, instance: str, keys: Sequence[MessageKey], *, token: str | None = None
    ) -> None: ...

    async def set_webhook(
        self,
        instance: str,
        webhook: WebhookSpec,
        *,
        enabled: bool = True,
        token: str | None = None,
    ) -> None: ...

    async def find_webhook(
        self, instance: str, *, token: str | None = None
    ) -> WebhookSpec | None: ...

    def breaker_state(self, instance: str | None = None) -> str:
        """``closed``, ``opened`` or ``half-opened``: the instance's breaker, or the gateway's."""
        ...

    def reset_breaker(self, instance: str) -> None:
        """Close the instance's breaker now (e.g. it is ``open`` again after a re-pair)."""
        ...

    async def aclose(self) -> None: ...
