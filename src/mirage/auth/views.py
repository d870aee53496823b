"""Dashboard pages: sign in, sign out, tenant switcher and language choice."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mirage.auth import service
from mirage.auth.deps import SESSION_COOKIE, CurrentUserDep, OptionalUserDep, client_ip
from mirage.config import get_settings
from mirage.db.deps import DbSession
from mirage.kit import i18n, live
from mirage.kit.clock import utcnow
from mirage.kit.ratelimit import RateLimiter, RateLimitResult
from mirage.web import csrf
from mirage.web.csrf import csrf_protect
from mirage.web.forms import clean
from mirage.web.templating import LANG_COOKIE, render, translate

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _safe_next(value: str | None) -> str:
    # Only same-site relative paths: never an open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/signin")
async def signin_page(
    request: Request, current: OptionalUserDep, next: str | None = None
) -> Response:
    if current is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "auth/signin.html", {"next": _safe_next(next), "email": ""})


# --- sign-in limits ------------------------------------------------------------------------
# Per address, per (address, account), and per account — except that a browser which signed
# in to the account before (a signed "known device" cookie bound to the user) is limited per
# device instead: failures from elsewhere never lock the owner out of a known device.

DEVICE_COOKIE = "mirage_device"


def _known_device(request: Request) -> service.KnownDevice | None:
    settings = get_settings()
    return service.read_known_device(
        settings.resolved_secret_key(),
        request.cookies.get(DEVICE_COOKIE),
        utcnow(),
        timedelta(days=settings.known_device_days),
    )


async def _sign_in_limit(
    request: Request,
    session: DbSession,
    email: str,
    ip: str,
    device: service.KnownDevice | None,
) -> RateLimitResult | None:
    """The limit this attempt exceeds (counting it), or None when it may proceed."""
    settings = get_settings()
    limiter: RateLimiter = request.app.state.rate_limiter
    account = email.strip().lower()
    checks: list[tuple[str, tuple[str, ...]]] = [
        (settings.login_rate_per_ip, ("login-ip", ip)),
        (settings.login_rate_per_ip_account, ("login-ip-account", ip, account)),
    ]
    user_id = await service.account_id(session, account) if device and account else None
    if device is not None and device.knows(user_id):
        checks.append((settings.login_rate_per_device, ("login-device", device.device_id, account)))
    else:
        checks.append((settings.login_rate_per_account, ("login-account", account)))
    for limits, keys in checks:
        result = await limiter.hit_tiers(limits, *keys)
        if not result.allowed:
            return result
    return None


def _remember_device(
    response: Response, device: service.KnownDevice | None, user_id: uuid.UUID
) -> None:
    settings = get_settings()
    value = service.known_device_cookie(settings.resolved_secret_key(), device, user_id, utcnow())
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.known_device_days * 86400,
        path="/",
    )


@router.post("/signin")
async def signin(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    email = clean(email)  # no control characters (PostgreSQL refuses NUL) reach a query
    settings = get_settings()
    ip = client_ip(request)
    device = _known_device(request)
    blocked = await _sign_in_limit(request, session, email, ip, device)
    ctx = {"next": _safe_next(next), "email": email}
    if blocked is not None:
        ctx["error"] = translate(request, "Too many sign-in attempts. Wait a minute and try again.")
        return render(request, "auth/signin.html", ctx, status_code=429, headers=blocked.headers())
    if not email.strip() or not password:
        ctx["error"] = translate(request, "Enter your e-mail and password.")
        return render(request, "auth/signin.html", ctx, status_code=400)
    try:
        user, token = await service.sign_in(
            session,
            email=email,
            password=password,
            ip=ip,
            user_agent=request.headers.get("user-agent"),
            ttl=timedelta(hours=settings.session_ttl_hours),
        )
    except service.InvalidCredentials:
        ctx["error"] = translate(request, "E-mail or password is incorrect.")
        return render(request, "auth/signin.html", ctx, status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_ttl_hours * 3600,
        path="/",
    )
    _remember_device(response, device, user.id)
    csrf.rotate(response, token)  # the anonymous token is not valid for the new session
    return response


@router.post("/signout")
async def signout(session: DbSession, current: CurrentUserDep) -> Response:
    await service.sign_out(session, current)
    await live.end_session(session, current.session.id)  # open streams of this session stop
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    csrf.rotate(response, None)
    return response


@router.post("/tenant")
async def switch_tenant(
    request: Request,
    session: DbSession,
    current: CurrentUserDep,
    tenant_id: Annotated[uuid.UUID, Form()],
) -> Response:
    await service.switch_tenant(session, current, tenant_id)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": "/"})
    return RedirectResponse("/", status_code=303)


@router.post("/language")
async def set_language(
    request: Request,
    session: DbSession,
    current: OptionalUserDep,
    lang: Annotated[str, Form(max_length=10)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    locale = i18n.normalize(lang) or i18n.DEFAULT_LOCALE
    if current is not None:
        await service.set_locale(session, current.user.id, locale)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        locale,
        max_age=365 * 86400,
        samesite="lax",
        path="/",
        secure=get_settings().cookie_secure,
    )
    return response
