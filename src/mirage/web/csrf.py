"""CSRF protection for the cookie-authenticated dashboard (signed double-submit token).

Every unsafe request must echo the ``mirage_csrf`` cookie in the ``X-CSRF-Token`` header
(HTMX does this from the page's hx-headers) or in a ``csrf_token`` form field. The token is
signed with the server key, so a cookie planted by another origin is worthless.
"""

from __future__ import annotations

from fastapi import Request

from mirage.config import get_settings
from mirage.kit import crypto
from mirage.kit.errors import Forbidden

COOKIE = "mirage_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class CsrfFailed(Forbidden):
    title = "CSRF check failed"
    type_slug = "csrf-failed"


def _sig(value: str) -> str:
    return crypto.sign(get_settings().resolved_secret_key(), "csrf:" + value)[:32]


def new_token() -> str:
    nonce = crypto.random_token(18)
    return f"{nonce}.{_sig(nonce)}"


def valid_token(token: str | None) -> bool:
    if not token or len(token) > 200 or "." not in token:
        return False
    nonce, _, sig = token.partition(".")
    return crypto.equal(sig, _sig(nonce))


def token_for(request: Request) -> str:
    """The token to embed in the page; a fresh one is set as a cookie by the renderer."""
    cookie = request.cookies.get(COOKIE)
    if valid_token(cookie):
        assert cookie is not None
        return cookie
    token: str | None = getattr(request.state, "new_csrf", None)
    if token is None:
        token = new_token()
        request.state.new_csrf = token
    return token


async def csrf_protect(request: Request) -> None:
    """Router dependency: refuse unsafe requests whose token is missing or wrong."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(COOKIE)
    sent = request.headers.get(HEADER)
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(FIELD)
            sent = value if isinstance(value, str) else None
    if not (valid_token(cookie) and sent and crypto.equal(sent, cookie or "")):
        raise CsrfFailed(
            "the form expired or did not come from this site; reload the page and try again"
        )
