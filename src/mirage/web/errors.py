"""One place turns errors into responses: problem+json for the API, pages for the dashboard."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from mirage.kit.errors import DomainError, RateLimited, Unauthorized
from mirage.kit.i18n import N_
from mirage.kit.logging import get_logger
from mirage.web.forms import COMMON_LABELS, error_list_messages
from mirage.web.templating import render, translate

log = get_logger(__name__)
PROBLEM_BASE = "https://mirage.dev/problems/"
MACHINE_PREFIXES = ("/api/", "/webhooks/", "/health", "/metrics")


class LoginRequired(Unauthorized):
    """A dashboard page needs a signed-in user: pages redirect to the sign-in form."""

    title = "Sign-in required"
    type_slug = "login-required"


class Problem(BaseModel):
    """An RFC 9457 problem document, as every API error is returned."""

    type: str
    title: str
    status: int
    detail: str


# The error responses every API router documents (``APIRouter(responses=API_ERRORS)``).
API_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 409, 413, 422, 429)
}


def problem(
    status: int,
    title: str,
    detail: str,
    slug: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def _clean_errors(errors: list[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        cleaned.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type"))})
    return cleaned


def _allowed_methods(app: FastAPI, request: Request) -> set[str]:
    """Every method any route offers for this path (Starlette only reports the first route's)."""
    root = request.scope.get("root_path") or ""
    path = request.url.path
    if root and path.startswith(root):
        path = path[len(root) :]
    methods: set[str] = set()
    for route in getattr(app.state, "api_routes", ()):
        if route.path_regex.match(path):
            methods |= set(route.methods or ())
    return methods


def install_api_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers = dict(exc.extra.pop("headers", None) or {})
        if isinstance(exc, RateLimited):
            headers.setdefault("Retry-After", str(exc.retry_after))
        return problem(
            exc.status_code,
            exc.title,
            exc.detail,
            exc.type_slug,
            headers=headers or None,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _clean_errors(list(exc.errors()))
        malformed = any(e["type"] == "json_invalid" for e in errors)
        return problem(
            400 if malformed else 422,
            "Malformed JSON" if malformed else "Validation failed",
            "the request body is not valid JSON"
            if malformed
            else "the request does not match the expected schema",
            "malformed-json" if malformed else "validation-failed",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allowed = ", ".join(sorted(_allowed_methods(app, request)))
            return problem(
                405,
                "Method not allowed",
                f"this resource supports: {allowed}",
                "method-not-allowed",
                headers={"Allow": allowed},
            )
        return problem(
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            str(exc.detail).lower().replace(" ", "-"),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        if is_nul_text(exc):
            return problem(422, "Validation failed", NUL_TEXT, "validation-failed")
        log.exception("http.unhandled", error=type(exc).__name__)
        return problem(
            500,
            "Internal error",
            "the server failed to complete the request; nothing was saved",
            "internal-error",
        )


NUL_TEXT = N_("text must not contain NUL (0x00) characters; nothing was saved")


def is_nul_text(exc: BaseException) -> bool:
    """PostgreSQL refuses NUL in text. Whatever field, route or form a NUL came through, it
    is the client's input, refused as a 4xx (the transaction is rolled back), never a 500 —
    one rule at the database's edge instead of a check in every schema and form."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, psycopg.DataError) and "NUL" in str(e):
            return True
        todo.extend([e.__cause__, e.__context__, getattr(e, "orig", None)])
    return False


def is_bad_path(exc: RequestValidationError) -> bool:
    """A path parameter did not parse (an id that is not a UUID): the path names nothing."""
    return any(tuple(e.get("loc", ()))[:1] == ("path",) for e in exc.errors())


def install_page_handlers(app: FastAPI) -> None:
    def _page(request: Request, status: int, title: str, detail: str) -> Response:
        if request.url.path.startswith(MACHINE_PREFIXES):
            # Gateways and probes get problem+json, never a page.
            return problem(status, title, detail, title.lower().replace(" ", "-"))
        if request.headers.get("hx-request"):
            # Shown as a toast by the layout's HTMX error hook.
            return Response(detail, status_code=status, media_type="text/plain")
        return render(
            request,
            "error.html",
            {"status": status, "title": title, "detail": detail},
            status_code=status,
        )

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            # A fragment is no place to land after sign-in: go back to the page it was on.
            target = urlsplit(request.headers.get("hx-current-url", "")).path or "/"
        else:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        url = "/signin" + (
            f"?next={quote(target, safe='/?=&')}" if target not in ("/", "/signin") else ""
        )
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if request.url.path.startswith(MACHINE_PREFIXES):
            return problem(exc.status_code, exc.title, exc.detail, exc.type_slug)
        if exc.link:
            return _resolve_page(request, exc)
        return _page(
            request, exc.status_code, translate(request, exc.title), translate(request, exc.message)
        )

    def _resolve_page(request: Request, exc: DomainError) -> Response:
        """An error the reader can resolve (set up MFA, confirm a code): the page says what
        and links to where, coming back to the page they were on afterwards."""
        back = _return_path(request)
        url = f"{exc.link}?next={quote(back, safe='/')}"
        if request.headers.get("hx-request"):
            return Response(status_code=exc.status_code, headers={"HX-Redirect": url})
        return render(
            request,
            "error.html",
            {
                "status": exc.status_code,
                "title": translate(request, exc.title),
                "detail": translate(request, exc.message),
                "link": url,
                "link_label": translate(request, exc.link_label or exc.title),
            },
            status_code=exc.status_code,
        )

    def _not_found(request: Request) -> Response:
        return _page(
            request,
            404,
            translate(request, "Not found"),
            translate(request, "This page does not exist or you cannot see it."),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if is_bad_path(exc):
            # A path that names no object (/conversations/999999): the page does not exist,
            # whatever else the request carried — not a form error.
            return _not_found(request)
        # Field labels and what is wrong, never the submitted value.
        messages = error_list_messages(exc.errors(), COMMON_LABELS)
        return _page(
            request,
            400,
            translate(request, "Invalid form"),
            "; ".join(dict.fromkeys(translate(request, m) for m in messages)),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _not_found(request)
        return _page(request, exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        if is_nul_text(exc):
            return _page(
                request,
                422,
                translate(request, "Invalid input"),
                translate(request, NUL_TEXT),
            )
        log.exception("http.unhandled", error=type(exc).__name__)
        return _page(
            request,
            500,
            translate(request, "Something went wrong"),
            translate(request, "The server failed to complete the request; nothing was saved."),
        )


def _return_path(request: Request) -> str:
    """Where to come back to: this page for a GET; for a form post, the page the form was on
    (the Referer or HTMX's current URL, same site only), else the overview."""
    if request.method == "GET":
        return request.url.path
    for header in ("hx-current-url", "referer"):
        parts = urlsplit(request.headers.get(header, ""))
        same_site = not parts.netloc or parts.netloc == request.url.netloc
        if same_site and parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path
    return "/"
