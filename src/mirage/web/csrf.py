"""CSRF protection for the cookie-authenticated dashboard (signed double-submit token,
bound to the session).

Every unsafe request must echo the ``mirage_csrf`` cookie in the ``X-CSRF-Token`` header
(HTMX does this from the page's hx-headers) or in a ``csrf_token`` form field. The token is
an HMAC over a nonce *and the session cookie it was issued for* (or "anonymous" before
sign-in), so a token obtained elsewhere (another browser, an anonymous sign-in page) and
planted in a signed-in victim's cookie and form is refused. Sign-in issues a new one.
"""

from __future__ import annotations

from fastapi import Request, Response

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


SESSION_COOKIE = "mirage_session"  # auth.deps.SESSION_COOKIE (not imported: no cycle)
# Before sign-in a token is bound to a random per-browser cookie, so an anonymous token from
# one browser (the attacker's sign-in page) is not valid in another (login CSRF).
PRESESSION_COOKIE = "mirage_presession"
ANONYMOUS = "anonymous"


def binding_for(session_token: str | None, presession: str | None = None) -> str:
    """What a token is bound to: the session (by a hash of its cookie), else the browser's
    pre-session cookie; a request with neither accepts no token."""
    if session_token:
        return "session:" + crypto.sha256_hex(session_token)
    if presession:
        return "pre:" + crypto.sha256_hex(presession)
    return ANONYMOUS


def request_binding(request: Request) -> str:
    return binding_for(request.cookies.get(SESSION_COOKIE), request.cookies.get(PRESESSION_COOKIE))


def _sig(nonce: str, binding: str) -> str:
    return crypto.sign(get_settings().resolved_secret_key(), f"csrf:{nonce}:{binding}")[:32]


def new_token(binding: str = ANONYMOUS) -> str:
    nonce = crypto.random_token(18)
    return f"{nonce}.{_sig(nonce, binding)}"


def valid_token(token: str | None, binding: str = ANONYMOUS) -> bool:
    if not token or len(token) > 200 or "." not in token:
        return False
    nonce, _, sig = token.partition(".")
    return crypto.equal(sig, _sig(nonce, binding))


def set_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=get_settings().cookie_secure,
        path="/",
    )


def set_presession_cookie(response: Response, value: str) -> None:
    response.set_cookie(
        PRESESSION_COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=get_settings().cookie_secure,
        path="/",
    )


def rotate(response: Response, session_token: str | None) -> str:
    """Issue a token for a new session (sign-in), or for a new pre-session (sign-out)."""
    if session_token:
        token = new_token(binding_for(session_token))
        response.delete_cookie(PRESESSION_COOKIE, path="/")  # the session binds from now on
    else:
        presession = crypto.random_token(18)
        set_presession_cookie(response, presession)
        token = new_token(binding_for(None, presession))
    set_cookie(response, token)
    return token


def token_for(request: Request) -> str:
    """The token to embed in the page; a fresh one is set as a cookie by the renderer."""
    cookie = request.cookies.get(COOKIE)
    binding = request_binding(request)
    if cookie is not None and valid_token(cookie, binding):
        return cookie
    token: str | None = getattr(request.state, "new_csrf", None)
    if token is None:
        if binding == ANONYMOUS:
            # A browser we have not seen: bind its first token to a new pre-session cookie
            # (set by the renderer along with the token).
            presession = crypto.random_token(18)
            request.state.new_presession = presession
            binding = binding_for(None, presession)
        token = new_token(binding)
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
    if not (
        valid_token(cookie, request_binding(request)) and sent and crypto.equal(sent, cookie or "")
    ):
        raise CsrfFailed(
            "the form expired or did not come from this site; reload the page and try again"
        )
