"""Dashboard pages: two-factor authentication (enroll, confirm, recovery codes, disable) and
the step-up form that sensitive operations send the reader to (``auth.stepup``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mirage.auth import mfa
from mirage.auth.deps import CurrentUserDep, client_ip
from mirage.auth.service import CurrentUser
from mirage.auth.views import _safe_next
from mirage.db.deps import DbSession
from mirage.kit.i18n import Message
from mirage.kit.ratelimit import RateLimiter
from mirage.web.csrf import csrf_protect
from mirage.web.forms import NO_ERRORS, FieldErrors, clean
from mirage.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

PAGE = "auth/security.html"
VERIFY = "auth/verify.html"
# No length limit in the declaration: a too-long code is this form's error, next to its field.
Code = Annotated[str, Form()]


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def _wrong(field: str = "code") -> FieldErrors:
    errors = FieldErrors()
    errors.add(field, Message(mfa.WRONG_CODE))
    return errors


async def _page(
    request: Request,
    session: DbSession,
    current: CurrentUser,
    *,
    errors: FieldErrors = NO_ERRORS,
    form: str = "",
    codes: list[str] | None = None,
    next: str | None = None,
    status_code: int = 200,
) -> Response:
    user = await mfa.current_user(session, current.user.id) or current.user
    enrolled = user.mfa_enabled_at is not None
    return render(
        request,
        PAGE,
        {
            "enrolled": enrolled,
            "enrollment": mfa.pending(user),
            "recovery_left": await mfa.recovery_left(session, user.id) if enrolled else 0,
            "codes": codes,
            "errors": errors,
            "form": form,
            "next": _safe_next(next),
        },
        status_code=status_code,
    )


@router.get("/account/security")
async def security_page(
    request: Request, session: DbSession, current: CurrentUserDep, next: str | None = None
) -> Response:
    """``next``: the page a refused operation came from (enrolling leads back there)."""
    return await _page(request, session, current, next=next)


@router.post("/account/security/enroll")
async def enroll(
    session: DbSession,
    current: CurrentUserDep,
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    await mfa.begin(session, await mfa.current_user(session, current.user.id) or current.user)
    back = _safe_next(next)
    query = f"?next={quote(back, safe='/')}" if back != "/" else ""
    return RedirectResponse(f"/account/security{query}#enroll", status_code=303)


@router.post("/account/security/confirm")
async def confirm(
    request: Request,
    session: DbSession,
    current: CurrentUserDep,
    code: Code = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    codes = await mfa.confirm(
        session,
        _limiter(request),
        user_id=current.user.id,
        session_id=current.session.id,
        code=clean(code),
        tenant_id=current.tenant.id if current.tenant else None,
        ip=client_ip(request),
    )
    if codes is None:
        return await _page(request, session, current, errors=_wrong(), next=next, status_code=422)
    return await _page(request, session, current, codes=codes, next=next)


@router.post("/account/security/recovery-codes")
async def regenerate(
    request: Request, session: DbSession, current: CurrentUserDep, code: Code = ""
) -> Response:
    codes = await mfa.regenerate_codes(
        session,
        _limiter(request),
        user_id=current.user.id,
        code=clean(code),
        tenant_id=current.tenant.id if current.tenant else None,
        ip=client_ip(request),
    )
    if codes is None:
        return await _page(request, session, current, errors=_wrong("regen_code"), status_code=422)
    return await _page(request, session, current, codes=codes)


@router.post("/account/security/disable")
async def disable(
    request: Request, session: DbSession, current: CurrentUserDep, code: Code = ""
) -> Response:
    done = await mfa.disable(
        session,
        _limiter(request),
        user_id=current.user.id,
        code=clean(code),
        tenant_id=current.tenant.id if current.tenant else None,
        ip=client_ip(request),
    )
    if not done:
        return await _page(
            request, session, current, errors=_wrong("disable_code"), status_code=422
        )
    return RedirectResponse("/account/security?disabled=1", status_code=303)


@router.get("/account/security/verify")
async def verify_page(
    request: Request, current: CurrentUserDep, next: str | None = None
) -> Response:
    if current.user.mfa_enabled_at is None:
        return RedirectResponse("/account/security", status_code=303)
    return render(request, VERIFY, {"next": _safe_next(next), "errors": NO_ERRORS})


@router.post("/account/security/verify")
async def verify(
    request: Request,
    session: DbSession,
    current: CurrentUserDep,
    code: Code = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    if current.user.mfa_enabled_at is None:
        return RedirectResponse("/account/security", status_code=303)
    ok = await mfa.verify(
        session,
        _limiter(request),
        user_id=current.user.id,
        session_id=current.session.id,
        code=clean(code),
        tenant_id=current.tenant.id if current.tenant else None,
        ip=client_ip(request),
    )
    if ok is None:
        ctx = {"next": _safe_next(next), "errors": _wrong()}
        return render(request, VERIFY, ctx, status_code=422)
    return RedirectResponse(_safe_next(next), status_code=303)
