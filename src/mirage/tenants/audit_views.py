"""Dashboard: the audit log page (filters, pages by cursor) and its CSV export."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from mirage.auth.deps import DashboardPrincipal
from mirage.auth.principal import Principal
from mirage.db.deps import DbSession
from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.ops import audit
from mirage.tenants import audit_log
from mirage.web.csrf import csrf_protect
from mirage.web.forms import FieldErrors
from mirage.web.templating import add_global, render, request_locale, request_zone

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

PAGE_SIZE = 50
FILTERS = ("action", "actor", "target_type", "from", "to")
BAD_DATE = N_("enter a date as YYYY-MM-DD")

add_global("audit_changes", audit.described_changes)
add_global("audit_details", audit.other_details)
add_global("audit_value", audit.value_text)


def _day(value: str, field: str, errors: FieldErrors) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.add(field, Message(BAD_DATE))
        return None


def _filter(request: Request, errors: FieldErrors) -> tuple[audit.AuditFilter, dict[str, str]]:
    """The page's filters as typed (kept in the form) and as a query: days are whole days in
    the tenant's zone (``to`` included)."""
    typed = {k: request.query_params.get(k, "").strip()[:64] for k in FILTERS}
    tz = ZoneInfo(request_zone(request))
    start, end = _day(typed["from"], "from", errors), _day(typed["to"], "to", errors)
    since = datetime.combine(start, datetime.min.time(), tz) if start else None
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tz) if end else None
    f = audit.AuditFilter()
    try:
        f = audit.build_filter(
            action=typed["action"] or None,
            actor=typed["actor"] or None,
            target_type=typed["target_type"] or None,
            since=since,
            until=until,
        )
    except ValidationFailed as exc:
        field = str(exc.extra.get("field") or "")
        errors.add({"since": "from", "until": "to"}.get(field, field) or None, exc.message)
    return f, typed


def _query(typed: dict[str, str], **extra: str) -> str:
    return urlencode({k: v for k, v in {**typed, **extra}.items() if v})


@router.get("/audit")
async def audit_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    audit_log.require_reader(principal)
    errors = FieldErrors()
    f, typed = _filter(request, errors)
    cursor = request.query_params.get("cursor") or None
    page = audit.AuditPage([], None)
    if not errors:
        try:
            page = await audit_log.search(session, principal, f, cursor=cursor, limit=PAGE_SIZE)
        except ValidationFailed as exc:  # a cursor edited by hand
            errors.add(None, exc.message)
    status = 422 if errors else 200
    return render(
        request,
        "tenants/audit.html",
        await _context(session, principal, page, typed, errors, cursor),
        status_code=status,
    )


async def _context(
    session: DbSession,
    principal: Principal,
    page: audit.AuditPage,
    typed: dict[str, str],
    errors: FieldErrors,
    cursor: str | None,
) -> dict[str, Any]:
    names = await audit_log.actor_names(session, principal)
    return {
        "events": page.items,
        "next_url": f"/audit?{_query(typed, cursor=page.next_cursor)}"
        if page.next_cursor
        else None,
        "first_url": f"/audit?{_query(typed)}" if cursor else None,
        "csv_url": f"/audit.csv?{_query(typed)}",
        "filters": typed,
        "errors": errors,
        "names": names,
        "actions": sorted(audit.ACTIONS.items()),
        "target_types": audit.TARGET_TYPES,
    }


@router.get("/audit.csv")
async def audit_csv(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    audit_log.require_reader(principal)
    errors = FieldErrors()
    f, typed = _filter(request, errors)
    if errors:
        # The link comes from the page, so this is a hand-edited URL: the page says what is
        # wrong, next to the field.
        return render(
            request,
            "tenants/audit.html",
            await _context(session, principal, audit.AuditPage([], None), typed, errors, None),
            status_code=422,
        )
    names = await audit_log.actor_names(session, principal)
    return StreamingResponse(
        audit.export_csv(
            principal.tenant_id,
            f,
            zone=request_zone(request),
            locale=request_locale(request),
            names=names,
        ),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )
