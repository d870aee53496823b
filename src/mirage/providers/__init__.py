"""WhatsApp gateway providers: the ``WhatsAppGateway`` protocol and its Evolution v2 client.

gateway = EvolutionGateway(settings.evolution_url, api_key)
created = await gateway.create_instance("sales-01", webhook=WebhookSpec(url, jwt_key=secret))
"""

from mirage.providers.errors import (
    BadRequest,
    CircuitOpen,
    GatewayDown,
    GatewayError,
    InstanceAlreadyExists,
    InstanceNotFound,
    NotConnected,
    NumberNotOnWhatsApp,
    SendOutcomeUnknown,
    Unauthorized,
)
from mirage.providers.evolution import EvolutionGateway
from mirage.providers.gateway import WhatsAppGateway
from mirage.providers.models import (
    DEFAULT_WEBHOOK_EVENTS,
    ConnectionState,
    ConnectResult,
    CreatedInstance,
    GatewayInfo,
    InstanceInfo,
    InstanceSettings,
    MessageKey,
    MessageStatus,
    NumberCheck,
    Presence,
    QRCode,
    SentMessage,
    WebhookSpec,
)
from mirage.providers.resilience import BreakerPolicy, RetryPolicy

__all__ = [
    "DEFAULT_WEBHOOK_EVENTS",
    "BadRequest",
    "BreakerPolicy",
    "CircuitOpen",
    "ConnectResult",
    "ConnectionState",
    "CreatedInstance",
    "EvolutionGateway",
    "GatewayDown",
    "GatewayError",
    "GatewayInfo",
    "InstanceAlreadyExists",
    "InstanceInfo",
    "InstanceNotFound",
    "InstanceSettings",
    "MessageKey",
    "MessageStatus",
    "NotConnected",
    "NumberCheck",
    "NumberNotOnWhatsApp",
    "Presence",
    "QRCode",
    "RetryPolicy",
    "SendOutcomeUnknown",
    "SentMessage",
    "Unauthorized",
    "WebhookSpec",
    "WhatsAppGateway",
]
