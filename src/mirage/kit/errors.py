"""Domain errors carry their HTTP status; one handler renders them (problem+json or a page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mirage.kit.i18n import Message


class DomainError(Exception):
    status_code = 400
    title = "Bad request"
    type_slug = "bad-request"
    # Where the dashboard's error page sends the reader to resolve it (e.g. the step-up form),
    # with ``?next=`` the page they came from; and the link's text (a catalog id).
    link: str | None = None
    link_label: str | None = None

    def __init__(
        self, detail: str | None = None, *, params: Mapping[str, object] | None = None, **extra: Any
    ) -> None:
        # ``detail`` is a message id; values that vary (user input above all) go in ``params``
        # so pages can translate the id and escape the values (never the other way round).
        self.message = Message(detail or self.title, dict(params or {}))
        self.detail = str(self.message) if params else self.message.msgid
        super().__init__(self.detail)
        self.extra = extra


class NotFound(DomainError):
    status_code = 404
    title = "Not found"
    type_slug = "not-found"


class Unauthorized(DomainError):
    status_code = 401
    title = "Unauthorized"
    type_slug = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    title = "Forbidden"
    type_slug = "forbidden"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"
    type_slug = "conflict"


class ValidationFailed(DomainError):
    status_code = 422
    title = "Validation failed"
    type_slug = "validation-failed"


class PayloadTooLarge(DomainError):
    status_code = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class RateLimited(DomainError):
    status_code = 429
    title = "Too many requests"
    type_slug = "rate-limited"

    def __init__(self, detail: str | None = None, *, retry_after: int = 60, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status_code = 503
    title = "Service unavailable"
    type_slug = "service-unavailable"
