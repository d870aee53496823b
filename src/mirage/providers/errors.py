"""Typed gateway errors: what the caller must do differs per class, so they are distinct.

* ``Unauthorized``, ``InstanceAlreadyExists``, ``BadRequest``: a bug or misconfiguration;
  never retried.
* ``InstanceNotFound``: the instance is gone on the gateway: re-create it.
* ``NotConnected``: the gateway said the socket is closed; nothing was sent. Feeds the
  per-instance breaker and the recovery ladder (restart → logout + re-pair).
* ``NumberNotOnWhatsApp``: a permanent bad recipient.
* ``GatewayDown``: timeout, connection failure or 5xx. Idempotent calls were already retried.
* ``SendOutcomeUnknown``: a send may or may not have gone out. Do not resend: reconcile from
  the ``send.message`` / ``messages.update`` webhooks.
* ``CircuitOpen``: refused locally without calling the gateway.
"""

from __future__ import annotations

from typing import Any, Literal


class GatewayError(Exception):
    """Base class: ``status`` is the HTTP status (None: no answer); ``message`` the gateway's."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        payload: Any = None,
        instance: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.payload = payload
        self.instance = instance
        self.operation = operation

    def __str__(self) -> str:
        where = f" [{self.operation}{' ' + self.instance if self.instance else ''}]"
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.message}{status}{where if self.operation else ''}"


class Unauthorized(GatewayError):
    """401 (wrong/missing ``apikey``) or 403 on a non-create route."""


class InstanceAlreadyExists(GatewayError):
    """403 on create: the name is in use."""


class InstanceNotFound(GatewayError):
    """404 on an instance route."""


class NotConnected(GatewayError):
    """The instance's WhatsApp socket is not open (``Connection Closed``, ``not connected``…)."""


class NumberNotOnWhatsApp(GatewayError):
    def __init__(self, message: str, *, numbers: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.numbers = numbers


class BadRequest(GatewayError):
    """Any other 4xx: the request was wrong (validation message in ``message``)."""


class GatewayDown(GatewayError):
    """Timeout, network failure, 429 or 5xx. ``request_sent`` is False only when provably unsent."""

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class SendOutcomeUnknown(GatewayError):
    """A send reached (or may have reached) the gateway and no clear answer came back."""


class CircuitOpen(GatewayError):
    def __init__(
        self, message: str, *, circuit: str, scope: Literal["gateway", "instance"], **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.circuit = circuit
        self.scope = scope
