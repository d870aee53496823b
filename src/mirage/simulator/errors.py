"""Evolution's error envelope (``src/main.ts`` global handler), reproduced byte for byte."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class SimError(Exception):
    """An error answered with Evolution's envelope.

    ``message`` is usually a list (of strings, or of objects for the exists:false case); for 401
    Evolution sends the bare string ``"Unauthorized"``.
    """

    def __init__(self, status: int, message: Any) -> None:
        super().__init__(f"{status}: {message!r}")
        self.status = status
        self.message = message


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def envelope(status: int, message: Any) -> dict[str, Any]:
    return {"status": status, "error": phrase(status), "response": {"message": message}}


def unauthorized() -> SimError:
    return SimError(401, "Unauthorized")


def bad_request(*messages: Any) -> SimError:
    return SimError(400, list(messages))


def instance_missing(name: str) -> SimError:
    return SimError(404, [f'The "{name}" instance does not exist'])


def connection_closed(status: int = 400) -> SimError:
    return SimError(status, ["Error: Connection Closed"])


def boom_connection_closed() -> SimError:
    """whatsappNumbers on a dead socket: Evolution serialises Baileys' Boom error as-is."""
    boom = {
        "data": None,
        "isBoom": True,
        "isServer": False,
        "output": {
            "statusCode": 428,
            "payload": {
                "statusCode": 428,
                "error": "Precondition Required",
                "message": "Connection Closed",
            },
            "headers": {},
        },
    }
    return SimError(400, [boom])
