"""Dashboard: contacts (list, detail, edit), the CSV import wizard with live progress, tags,
the suppression list and data-subject requests (LGPD art. 18).

HTTP only: every rule is the contacts service's (or the import service's). Bad input is shown
as a translated message on the page it came from, never as a 500 or the exception text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Iterator, Mapping
from typing import IO, Any, TypeVar
from urllib.parse import urlencode

import phonenumbers
from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from mirage.auth.deps import DashboardPrincipal, StepUpDashboardPrincipal
from mirage.auth.principal import Principal
from mirage.config import get_settings
from mirage.contacts import csvfile, service
from mirage.contacts import imports_service as imports
from mirage.contacts.schemas import (
    BulkTagIn,
    ConsentAction,
    ContactFilterIn,
    ContactIn,
    ContactOut,
    ContactPatch,
    SubjectIn,
    SuppressionIn,
    TagIn,
    TagPatch,
)
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.kit.errors import Conflict, DomainError, ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.kit.live import Renderer
from mirage.models.contact_imports import FINAL_IMPORT_STATES, ContactImport, ImportState
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.web.csrf import csrf_protect
from mirage.web.forms import (
    NO_ERRORS,
    FieldErrors,
    clean,
    error_messages,
    form_errors,
    read_form,
    text_field,
)
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, render, render_fragment

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
T = TypeVar("T")

PAGE_SIZE = 50
BASES = ("consent", "legitimate_interest")
CONSENT_STATES = ("granted", "revoked", "none")
SUPPRESSION_REASONS = ("manual", "blocked", "complaint", "opt_out")
# Reasons that only the contact can undo (by writing VOLTAR/START): no removal form for them.
PERMANENT_REASONS = ("opt_out", "data_request")

# --- words shown for stored values -----------------------------------------------------------

# Every stored word a page shows, with its catalog id (``message(labels[...])`` in templates).
LABELS: dict[str, str] = {
    "basis.consent": N_("Consent"),
    "basis.legitimate_interest": N_("Legitimate interest"),
    "consent.granted": N_("consent given"),
    "consent.revoked": N_("consent withdrawn"),
    "consent.none": N_("no consent recorded"),
    "event.basis_recorded": N_("Legal basis recorded"),
    "event.consent_granted": N_("Consent given"),
    "event.consent_revoked": N_("Consent withdrawn"),
    "event.opt_out": N_("Opted out"),
    "event.opt_in": N_("Opted in again (by the contact)"),
    "suppression.opt_out": N_("opt-out"),
    "suppression.blocked": N_("block"),
    "suppression.complaint": N_("complaint"),
    "suppression.manual": N_("manual"),
    "suppression.data_request": N_("data-subject request"),
    "suppression.review": N_("to review (probable opt-out)"),
    "import.uploaded": N_("uploaded"),
    "import.previewed": N_("waiting for mapping"),
    "import.running": N_("importing"),
    "import.completed": N_("completed"),
    "import.failed": N_("failed"),
    "import.cancelled": N_("cancelled"),
    "reason.missing_phone": N_("no phone number"),
    "reason.invalid_phone": N_("invalid phone number"),
    "reason.missing_basis": N_("no legal basis"),
    "reason.invalid_basis": N_("unknown legal basis"),
    "reason.invalid_email": N_("invalid e-mail"),
    "reason.invalid_language": N_("invalid language"),
    "reason.too_long": N_("a value is too long"),
    "reason.duplicate_in_file": N_("duplicate in the file"),
    "reason.suppressed": N_("on the suppression list"),
    "field.name": N_("Name"),
    "field.phone": N_("Phone"),
    "field.email": N_("E-mail"),
    "field.tags": N_("Tags"),
    "field.language": N_("Language"),
    "field.notes": N_("Notes"),
    "field.basis": N_("Legal basis"),
    "field.ignore": N_("Ignore this column"),
    "request.find": N_("search"),
    "request.export": N_("export"),
    "request.erase": N_("erasure"),
    "subject.phone": N_("Phone"),
    "subject.email": N_("E-mail"),
}
# Why a phone number was refused (the normalizer's reason codes).
PHONE_REASONS: dict[str, str] = {
    "empty": N_("Phone: enter the number"),
    "too_long_input": N_("Phone: the number is too long"),
    "invalid_characters": N_("Phone: use only digits, spaces and + - ( ) . /"),
    "not_a_number": N_("Phone: this is not a phone number"),
    "invalid_country_code": N_("Phone: unknown country code"),
    "too_short": N_("Phone: the number is too short"),
    "too_long": N_("Phone: the number is too long"),
    "invalid_number": N_("Phone: no such number in its country's numbering plan"),
}
# Service and schema messages that reach these pages (so the catalog carries them).
SERVICE_MESSAGES = [
    N_("contact not found"),
    N_("tag not found"),
    N_("import not found"),
    N_("suppression not found"),
    N_("a contact with this phone number already exists"),
    N_("a tag with this name already exists"),
    N_("this number is already on the suppression list"),
    N_("this number is on the suppression list"),
    N_("only an admin can remove a number from the suppression list"),
    N_("only a suppression waiting for review can be confirmed"),
    N_(
        "this number opted out (or asked to be erased); only the contact can opt in again, "
        "by writing VOLTAR or START"
    ),
    N_(
        "this contact opted out or withdrew consent; only the contact can opt in again "
        "(by writing VOLTAR or START)"
    ),
    N_("this contact opted out or withdrew consent; the legal basis cannot be changed"),
    N_("legitimate interest needs the reference of its balancing test (li_assessment_ref)"),
    N_("legitimate interest needs the reference of its balancing test"),
    N_("the search text must not contain NUL characters"),
    N_("not a valid e-mail address"),
    N_("a language tag like pt-BR or en"),
    N_("say where the contact came from (provenance_source)"),
    N_("custom field names are 1-40 letters, digits or _ (not starting with a digit)"),
    N_("a custom field value has at most 500 characters (no NUL)"),
    N_("a colour like #1e88e5"),
    N_("the tag name must not be blank"),
    N_("say why the number may be contacted again"),
    N_("give the subject's phone or e-mail"),
    N_("give the subject's phone or e-mail, not both"),
    N_("this action needs the 'admin' permission"),
    # csvfile's reasons for refusing a file
    N_("This looks like an Excel workbook (.xlsx): save it as CSV first."),
    N_("This looks like an old Excel workbook (.xls): save it as CSV first."),
    N_("This is a PDF, not a CSV file."),
    N_("This file is UTF-16 (Excel's 'Unicode text'): save it as CSV UTF-8."),
    N_("This is not a text file (save the spreadsheet as CSV)."),
    N_("The file is empty."),
    N_("The file has no header row."),
]
FORM_LABELS = {
    "name": N_("Name"),
    "phone": N_("Phone"),
    "email": N_("E-mail"),
    "language": N_("Language"),
    "notes": N_("Notes"),
    "tags": N_("Tags"),
    "custom_fields": N_("Custom fields"),
    "legal_basis": N_("Legal basis"),
    "li_assessment_ref": N_("Balancing test reference"),
    "provenance_source": N_("Source"),
    "provenance_note": N_("Provenance note"),
    "color": N_("Colour"),
    "reason": N_("Reason"),
    "note": N_("Note"),
    "detail": N_("Detail"),
    "action": N_("Action"),
    "q": N_("Search"),
    "subject": N_("Phone or e-mail"),
    "contact_ids": N_("Contacts"),
    "filter": N_("Filter"),
    "source": N_("Source"),
    "basis": N_("Legal basis"),
    "mapping": N_("Column mapping"),
}
audit.label_fields(FORM_LABELS)  # the audit page names fields as the form
ENCODINGS = {
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-8": "UTF-8",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
}
DELIMITERS = {";": N_("semicolon (;)"), ",": N_("comma (,)"), "\t": N_("tab")}


def number(value: int, locale: str = "pt_BR") -> str:
    """A count as the reader writes it (10.000 in pt-BR, 10,000 in English)."""
    return format_decimal(value, locale=locale)


def phone_display(e164: str) -> str:
    """+5511987654321 → +55 11 98765-4321 (the stored E.164 if it cannot be parsed)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


add_global("contact_labels", LABELS)
add_global("number", number)
add_global("phone_display", phone_display)


# --- helpers -----------------------------------------------------------------------------------


def _zone(request: Request) -> str:
    current = getattr(request.state, "current", None)
    tenant = getattr(current, "tenant", None)
    return str(getattr(tenant, "timezone", None) or "America/Sao_Paulo")


def _roles(principal: Principal) -> dict[str, bool]:
    return {
        "can_edit": principal.role.at_least(Role.OPERATOR),
        "is_admin": principal.role.at_least(Role.ADMIN),
    }


def _messages(exc: Exception) -> list[Message]:
    """What went wrong, as translatable messages (never the exception text as a format)."""
    if isinstance(exc, DomainError):
        reason = exc.extra.get("reason")
        if isinstance(reason, str) and reason in PHONE_REASONS:
            return [Message(PHONE_REASONS[reason])]
    return error_messages(exc, FORM_LABELS)


# Model fields shown under another input, and rules reported without a location: the input
# each message is shown next to.
FIELDS = {
    "legitimate interest needs the reference of its balancing test (li_assessment_ref)": (
        "li_assessment_ref"
    ),
    "legitimate interest needs the reference of its balancing test": "li_assessment_ref",
    "give the subject's phone or e-mail": "subject",
    "give the subject's phone or e-mail, not both": "subject",
    "this number is on the suppression list": "phone",
    "this number is already on the suppression list": "phone",
    "this contact opted out or withdrew consent; the legal basis cannot be changed": (
        "legal_basis"
    ),
    "say why the number may be contacted again": "reason",
}


def _errors(exc: Exception, fields: Mapping[str, str] | None = None) -> FieldErrors:
    """What went wrong, each message next to the input it is about."""
    fields = {**FIELDS, **(fields or {})}
    if isinstance(exc, DomainError):
        reason = exc.extra.get("reason")
        if isinstance(reason, str) and reason in PHONE_REASONS:
            out = FieldErrors()
            out.add(fields.get("phone", "phone"), Message(PHONE_REASONS[reason]))
            return out
    return form_errors(exc, FORM_LABELS, fields)


def _reraise(exc: Exception) -> None:
    """Permissions and missing objects are not form errors: the error page shows them."""
    if isinstance(exc, DomainError) and exc.status_code in (401, 403, 404):
        raise exc


def _status(exc: Exception) -> int:
    return exc.status_code if isinstance(exc, DomainError) else 422


def _choice(value: str, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _tag_names(value: str) -> list[str]:
    return [t.strip() for t in value.replace(";", ",").split(",") if t.strip()]


async def _atomic(session: AsyncSession, call: Awaitable[T]) -> T:
    """Run a service call in a savepoint. A form error shows the page again and the request
    still commits: whatever the call changed before it failed must not be committed with it."""
    async with session.begin_nested():
        return await call


# --- the contacts list -----------------------------------------------------------------------


def _filter_from(
    values: Mapping[str, str | None],
) -> tuple[ContactFilterIn, dict[str, str], list[Message]]:
    """The list's filter from query or form values: (filter, the values to keep in links,
    problems). A value that cannot be used is dropped with a message, never a 500."""
    errors: list[Message] = []
    kept: dict[str, str] = {}
    q = " ".join(clean(values.get("q") or "").split())
    if len(q) > 100:
        errors.append(
            Message(
                N_("%(field)s: enter at most %(limit)s characters"),
                {"field": Message(N_("Search")), "limit": 100},
            )
        )
        q = ""
    tag_raw = values.get("tag_id") or ""
    tag_id = _uuid(tag_raw)
    if tag_raw and tag_id is None:
        errors.append(
            Message(N_("%(field)s: choose an option from the list"), {"field": Message(N_("Tag"))})
        )
    basis = _choice(values.get("basis") or "", BASES)
    consent = _choice(values.get("consent") or "", CONSENT_STATES)
    opted = {"yes": True, "no": False}.get(values.get("opted_out") or "")
    for name, value, ok in (
        ("basis", values.get("basis"), basis),
        ("consent", values.get("consent"), consent),
        ("opted_out", values.get("opted_out"), opted),
    ):
        if value and ok is None:
            errors.append(
                Message(
                    N_("%(field)s: choose an option from the list"),
                    {"field": Message(FILTER_LABELS[name])},
                )
            )
    f = ContactFilterIn.model_validate(
        {"q": q or None, "tag_id": tag_id, "basis": basis, "consent": consent, "opted_out": opted}
    )
    if q:
        kept["q"] = q
    if tag_id:
        kept["tag_id"] = str(tag_id)
    if basis:
        kept["basis"] = basis
    if consent:
        kept["consent"] = consent
    if opted is not None:
        kept["opted_out"] = "yes" if opted else "no"
    return f, kept, errors


FILTER_LABELS = {
    "basis": N_("Legal basis"),
    "consent": N_("Consent"),
    "opted_out": N_("Opt-out"),
}


async def _list_context(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    values: Mapping[str, str | None],
    cursor: str | None = None,
) -> dict[str, Any]:
    f, kept, errors = _filter_from(values)
    cursor = clean(cursor or "") or None
    try:
        page = await service.list_contacts(session, principal, f, cursor=cursor, limit=PAGE_SIZE)
    except ValidationFailed as exc:
        # A stale or edited cursor (or a search the service refuses): the first page instead.
        errors += _messages(exc)
        if cursor:
            errors = [Message(N_("That page link is no longer valid: showing the first page."))]
        cursor = None
        f = ContactFilterIn()
        kept = {}
        page = await service.list_contacts(session, principal, f, limit=PAGE_SIZE)
    count, more = await service.count_contacts(session, principal, f)
    tags = await service.list_tags(session, principal)
    return {
        "contacts": page.items,
        "next_url": "/contacts?" + urlencode({**kept, "cursor": page.next_cursor})
        if page.next_cursor
        else None,
        "first_url": "/contacts?" + urlencode(kept) if cursor else None,
        "count": count,
        "count_more": more,
        "tags": tags,
        "filters": kept,
        "filter_errors": errors,
        "form": {},
        "errors": NO_ERRORS,
        "bulk_errors": NO_ERRORS,
        "zone": _zone(request),
        **_roles(principal),
    }


@router.get("/contacts")
async def list_page(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    q: str | None = None,
    tag_id: str | None = None,
    basis: str | None = None,
    consent: str | None = None,
    opted_out: str | None = None,
    cursor: str | None = None,
    bulk_n: str | None = None,
    bulk_action: str | None = None,
    bulk_tag: str | None = None,
) -> Response:
    values = {"q": q, "tag_id": tag_id, "basis": basis, "consent": consent, "opted_out": opted_out}
    ctx = await _list_context(request, session, principal, values, cursor)
    # After a bulk tag change (redirect-after-post): "N contacts tagged X".
    tag = next((t for t in ctx["tags"] if str(t.id) == (bulk_tag or "")), None)
    if tag is not None and bulk_action in ("add", "remove") and (bulk_n or "").isdigit():
        ctx["bulk_done"] = {"n": int(bulk_n or 0), "action": bulk_action, "tag": tag.name}
    return render(request, "contacts/list.html", ctx)


def _contact_in(form: Mapping[str, str]) -> ContactIn:
    return ContactIn.model_validate(
        {
            "name": form.get("name", "") or None,
            "phone": form.get("phone", ""),
            "email": form.get("email", "") or None,
            "language": form.get("language", "") or None,
            "notes": form.get("notes", "") or None,
            "tags": _tag_names(form.get("tags", "")),
            "legal_basis": form.get("legal_basis", ""),
            "li_assessment_ref": form.get("li_assessment_ref", "") or None,
            "provenance_source": form.get("provenance_source", ""),
            "provenance_note": form.get("provenance_note", "") or None,
        }
    )


@router.post("/contacts")
async def create(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    form = await read_form(request)
    try:
        contact = await _atomic(
            session, service.create_contact(session, principal, _contact_in(form))
        )
    except (ValidationError, DomainError) as exc:
        _reraise(exc)
        ctx = await _list_context(request, session, principal, {})
        ctx.update(form=form, errors=_errors(exc), open_create=True)
        return render(request, "contacts/list.html", ctx, status_code=_status(exc))
    return RedirectResponse(f"/contacts/{contact.id}", status_code=303)


@router.post("/contacts/bulk-tag")
async def bulk_tag(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    """Add or remove a tag on every contact the list's current filter matches."""
    form = await read_form(request)
    f, kept, problems = _filter_from(form)
    errors = FieldErrors()
    for message in problems:  # the filter's (hidden fields: they belong to no input)
        errors.add(None, message)
    action = _choice(form.get("bulk_action", ""), ("add", "remove"))
    tag_id = _uuid(form.get("bulk_tag"))
    if action is None:
        errors.add(
            "bulk_action",
            Message(
                N_("%(field)s: choose an option from the list"), {"field": Message(N_("Action"))}
            ),
        )
    if tag_id is None:
        errors.add("bulk_tag", Message(N_("Choose the tag to add or remove.")))
    if not errors and tag_id is not None:
        try:
            n = await _atomic(
                session,
                service.bulk_tag(
                    session, principal, tag_id, BulkTagIn(filter=f), add=action == "add"
                ),
            )
        except (ValidationError, DomainError) as exc:
            _reraise(exc)
            errors = _errors(exc, {"tag_id": "bulk_tag", "tag not found": "bulk_tag"})
        else:
            query = urlencode({**kept, "bulk_n": n, "bulk_action": action, "bulk_tag": tag_id})
            return RedirectResponse(f"/contacts?{query}", status_code=303)
    ctx = await _list_context(request, session, principal, form)
    ctx["bulk_errors"] = errors
    ctx["bulk_form"] = form
    return render(request, "contacts/list.html", ctx, status_code=422)


# --- the import wizard (static paths before /contacts/{contact_id}) ---------------------------


async def _imports_context(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> dict[str, Any]:
    return {
        "imports": await imports.list_imports(session, principal),
        "zone": _zone(request),
        "errors": NO_ERRORS,
        "max_mb": max(1, _max_upload_bytes() // 1_000_000),
        **_roles(principal),
    }


def _max_upload_bytes() -> int:
    return get_settings().contact_import_max_bytes


@router.get("/contacts/imports")
async def imports_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(
        request, "contacts/imports.html", await _imports_context(request, session, principal)
    )


def _upload_message(exc: DomainError) -> Message:
    cause = exc.__cause__
    if isinstance(cause, csvfile.CsvFileError):
        return Message(
            N_("This file cannot be read as a CSV: %(detail)s"), {"detail": Message(cause.detail)}
        )
    if exc.status_code == 413:
        return Message(
            N_("The file is too large: the limit is %(limit)s MB."),
            {"limit": max(1, _max_upload_bytes() // 1_000_000)},
        )
    return exc.message


@router.post("/contacts/imports/upload")
async def upload(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    """Store the uploaded CSV (detected encoding, delimiter and mapping guesses) and go to
    its preview and mapping."""
    form = await request.form()
    file = form.get("file")
    error: Message | None = None
    status = 422
    if not isinstance(file, UploadFile) or not (file.filename or "").strip():
        error = Message(N_("Choose a CSV file to upload."))
    else:
        try:
            imp = await _atomic(
                session,
                imports.create_import(session, principal, filename=file.filename, stream=file.file),
            )
        except DomainError as exc:
            _reraise(exc)
            error, status = _upload_message(exc), exc.status_code
        else:
            return RedirectResponse(f"/contacts/imports/{imp.id}", status_code=303)
    ctx = await _imports_context(request, session, principal)
    ctx["errors"] = FieldErrors()
    ctx["errors"].add("file", error)
    return render(request, "contacts/imports.html", ctx, status_code=status)


@router.get("/contacts/imports/events")
async def import_events(request: Request) -> Response:
    """Server-sent events: each step of an import re-renders its progress and its row."""

    def renderer(principal: Principal) -> Renderer:
        async def render_event(event: dict[str, Any]) -> list[tuple[str, str]]:
            import_id = _uuid(event.get("id"))
            if import_id is None:
                return []
            return await _render_import(request, principal, import_id)

        return render_event

    return await open_stream(request, imports.LIVE_KIND, renderer)


async def _render_import(
    request: Request, principal: Principal, import_id: uuid.UUID
) -> list[tuple[str, str]]:
    with tenant_context(principal.tenant_id, principal.user_id):
        async with get_database().sessions() as session, session.begin():
            try:
                imp = await imports.get_import(session, principal, import_id)
            except DomainError:
                return []
            ctx = {"imp": imp, "zone": _zone(request), **_roles(principal)}
            progress = render_fragment(request, "contacts/_import_progress.html", ctx)
            row = render_fragment(request, "contacts/_import_row.html", ctx)
    return [
        (f"import-{import_id}", bytes(progress.body).decode()),
        (f"import-row-{import_id}", bytes(row.body).decode()),
    ]


def _mapping_choices(imp: ContactImport, rows: list[list[str]]) -> list[dict[str, Any]]:
    """Per column: the options of its select (standard fields, its custom field, ignore) and
    the one selected (the guess, or the mapping chosen)."""
    out = []
    for i, column in enumerate(imp.header):
        chosen = imp.mapping.get(column, csvfile.IGNORE)
        custom = (
            chosen
            if chosen.startswith(csvfile.CUSTOM_PREFIX)
            else csvfile.CUSTOM_PREFIX + csvfile.custom_key(column)
        )
        options: list[tuple[str, str | None, str | None]] = [
            (f, LABELS[f"field.{f}"], None) for f in csvfile.STANDARD_FIELDS
        ]
        options.append((custom, None, custom[len(csvfile.CUSTOM_PREFIX) :]))
        options.append((csvfile.IGNORE, LABELS["field.ignore"], None))
        example = next((r[i] for r in rows if i < len(r) and r[i].strip()), "")
        out.append(
            {
                "index": i,
                "column": column,
                "chosen": chosen,
                "options": options,
                "example": example,
            }
        )
    return out


async def _wizard_context(
    request: Request, session: DbSession, principal: DashboardPrincipal, imp: ContactImport
) -> dict[str, Any]:
    rows: list[list[str]] = []
    if imp.state in (ImportState.UPLOADED, ImportState.PREVIEWED):
        _, rows = await imports.preview_rows(session, principal, imp.id, imports.PREVIEW_ROWS)
    options = imports.ImportOptions.from_json(imp.options or {})
    return {
        "imp": imp,
        "rows": rows,
        "columns": _mapping_choices(imp, rows),
        "encoding": ENCODINGS.get(imp.encoding, imp.encoding),
        "delimiter": DELIMITERS.get(imp.delimiter, imp.delimiter),
        "form": {
            "tags": ", ".join(options.tags),
            "basis": options.basis or "consent",
            "li_assessment_ref": options.li_assessment_ref or "",
            "source": options.source or "",
            "on_duplicate": options.on_duplicate,
        },
        "errors": NO_ERRORS,
        "zone": _zone(request),
        "is_final": imp.state in FINAL_IMPORT_STATES,
        **_roles(principal),
    }


@router.get("/contacts/imports/{import_id}")
async def import_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, import_id: uuid.UUID
) -> Response:
    imp = await imports.get_import(session, principal, import_id)
    return render(
        request, "contacts/import.html", await _wizard_context(request, session, principal, imp)
    )


@router.get("/contacts/imports/{import_id}/progress")
async def import_progress(
    request: Request, session: DbSession, principal: DashboardPrincipal, import_id: uuid.UUID
) -> Response:
    """The progress panel alone (HTMX polling: the fallback when the live stream drops)."""
    imp = await imports.get_import(session, principal, import_id)
    return render_fragment(
        request,
        "contacts/_import_progress.html",
        {"imp": imp, "zone": _zone(request), **_roles(principal)},
    )


START_MESSAGES = {
    "basis": N_("Choose the legal basis of these contacts, or map a column to Legal basis."),
    "tags": N_("Tags: at most 20 tags of at most 40 characters each."),
}


def _start_problems(imp: ContactImport, mapping: dict[str, str]) -> FieldErrors:
    """The mapping's problems in words a person reads, each next to the column's select it is
    about (the service checks it again)."""
    out = FieldErrors()
    choose = N_("%(field)s: choose an option from the list")
    for i, column in enumerate(imp.header):
        target = mapping[column]
        known = target in (*csvfile.STANDARD_FIELDS, csvfile.IGNORE)
        if not known and not target.startswith(csvfile.CUSTOM_PREFIX):
            label = Message(N_("Field for column %(column)s"), {"column": column})
            out.add(f"map_{i}", Message(choose, {"field": label}))
    targets = [t for t in mapping.values() if t != csvfile.IGNORE]
    if csvfile.PHONE not in targets:
        out.add(None, Message(N_("Choose the column that holds the phone number.")))
    for field in csvfile.STANDARD_FIELDS:
        if targets.count(field) > 1:
            last = max(i for i, c in enumerate(imp.header) if mapping[c] == field)
            out.add(
                f"map_{last}",
                Message(
                    N_("%(field)s is chosen for more than one column: choose it once."),
                    {"field": Message(LABELS[f"field.{field}"])},
                ),
            )
    return out


@router.post("/contacts/imports/{import_id}/start")
async def start_import(
    request: Request, session: DbSession, principal: DashboardPrincipal, import_id: uuid.UUID
) -> Response:
    imp = await imports.get_import(session, principal, import_id)
    form = await read_form(request)
    mapping = {
        column: form.get(f"map_{i}") or imp.mapping.get(column, csvfile.IGNORE)
        for i, column in enumerate(imp.header)
    }
    errors = _start_problems(imp, mapping)
    choose = N_("%(field)s: choose an option from the list")
    basis = form.get("basis", "")
    if basis not in ("", *BASES):
        errors.add("basis", Message(choose, {"field": Message(N_("Legal basis"))}))
    on_duplicate = form.get("on_duplicate", "update")
    if on_duplicate not in imports.ON_DUPLICATE:
        errors.add("on_duplicate", Message(choose, {"field": Message(N_("Existing contacts"))}))
    ref = errors.attempt(
        lambda: text_field(form, "li_assessment_ref", N_("Balancing test reference"), 200), ""
    )
    source = errors.attempt(lambda: text_field(form, "source", N_("Source"), 120), "")
    if not errors:
        options = imports.ImportOptions(
            tags=tuple(_tag_names(form.get("tags", ""))),
            basis=basis or None,
            li_assessment_ref=ref or None,
            source=source or None,
            on_duplicate=on_duplicate,
        )
        try:
            await _atomic(
                session,
                imports.start_import(
                    session, principal, import_id, mapping=mapping, options=options
                ),
            )
        except DomainError as exc:
            _reraise(exc)
            field = exc.extra.get("field")
            if isinstance(exc, Conflict):
                errors.add(None, Message(N_("This import was already started.")))
            elif field in ("basis", "tags"):
                errors.add(str(field), Message(START_MESSAGES[str(field)]))
            elif field == "mapping":
                # (The service's details name the submitted values: not shown, by rule.)
                errors.add(
                    None,
                    Message(N_("The column mapping is not valid: choose a field from the list.")),
                )
            else:
                errors.merge(_errors(exc))
    if errors:
        ctx = await _wizard_context(request, session, principal, imp)
        for column in ctx["columns"]:
            column["chosen"] = mapping.get(column["column"], column["chosen"])
        ctx["form"] = {
            **ctx["form"],
            **{
                k: form.get(k, "")
                for k in ("tags", "basis", "li_assessment_ref", "source", "on_duplicate")
            },
        }
        ctx["errors"] = errors
        return render(request, "contacts/import.html", ctx, status_code=422)
    return RedirectResponse(f"/contacts/imports/{import_id}", status_code=303)


@router.post("/contacts/imports/{import_id}/cancel")
async def cancel_import(
    request: Request, session: DbSession, principal: DashboardPrincipal, import_id: uuid.UUID
) -> Response:
    await imports.cancel_import(session, principal, import_id)
    if request.headers.get("hx-request"):
        imp = await imports.get_import(session, principal, import_id)
        return render_fragment(
            request,
            "contacts/_import_progress.html",
            {"imp": imp, "zone": _zone(request), **_roles(principal)},
        )
    return RedirectResponse(f"/contacts/imports/{import_id}", status_code=303)


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := f.read(64 * 1024):
            yield chunk
    finally:
        f.close()


@router.get("/contacts/imports/{import_id}/rejected.csv")
async def rejected_csv(
    session: DbSession, principal: DashboardPrincipal, import_id: uuid.UUID
) -> Response:
    f = await imports.rejected_csv(session, principal, import_id)
    return StreamingResponse(
        _chunks(f),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="rejeitados-{import_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- tags ----------------------------------------------------------------------------------------


async def _tags_context(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> dict[str, Any]:
    return {
        "tags": await service.list_tags(session, principal),
        "form": {},
        "errors": NO_ERRORS,
        "row_errors": {},
        "row_forms": {},
        **_roles(principal),
    }


@router.get("/contacts/tags")
async def tags_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(request, "contacts/tags.html", await _tags_context(request, session, principal))


@router.post("/contacts/tags")
async def create_tag(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    form = await read_form(request)
    try:
        data = TagIn.model_validate(
            {"name": form.get("name", ""), "color": form.get("color", "") or "#64748b"}
        )
        await _atomic(session, service.create_tag(session, principal, data))
    except (ValidationError, DomainError) as exc:
        _reraise(exc)
        ctx = await _tags_context(request, session, principal)
        ctx.update(form=form, errors=_errors(exc))
        return render(request, "contacts/tags.html", ctx, status_code=_status(exc))
    return RedirectResponse("/contacts/tags", status_code=303)


@router.post("/contacts/tags/{tag_id}")
async def update_tag(
    request: Request, session: DbSession, principal: DashboardPrincipal, tag_id: uuid.UUID
) -> Response:
    await service.get_tag(session, principal, tag_id)  # another tenant's tag is a 404
    form = await read_form(request)
    try:
        data = TagPatch.model_validate(
            {"name": form.get("name") or None, "color": form.get("color") or None}
        )
        await _atomic(session, service.update_tag(session, principal, tag_id, data))
    except (ValidationError, DomainError) as exc:
        _reraise(exc)
        ctx = await _tags_context(request, session, principal)
        ctx["row_errors"] = {str(tag_id): _errors(exc)}
        ctx["row_forms"] = {str(tag_id): form}
        return render(request, "contacts/tags.html", ctx, status_code=_status(exc))
    return RedirectResponse("/contacts/tags", status_code=303)


@router.post("/contacts/tags/{tag_id}/delete")
async def delete_tag(
    session: DbSession, principal: DashboardPrincipal, tag_id: uuid.UUID
) -> Response:
    await service.delete_tag(session, principal, tag_id)
    return RedirectResponse("/contacts/tags", status_code=303)


# --- suppression list -------------------------------------------------------------------------


async def _suppressions_context(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    phone: str = "",
    cursor: str | None = None,
) -> dict[str, Any]:
    errors: list[Message] = []
    phone = " ".join(clean(phone).split())[:100]
    cursor = clean(cursor or "") or None
    try:
        page = await service.list_suppressions(
            session, principal, phone=phone or None, cursor=cursor, limit=PAGE_SIZE
        )
    except ValidationFailed as exc:
        errors = (
            [Message(N_("That page link is no longer valid: showing the first page."))]
            if cursor and not phone
            else _messages(exc)
        )
        phone, cursor = "", None
        page = await service.list_suppressions(session, principal, limit=PAGE_SIZE)
    return {
        "items": page.items,
        "phone": phone,
        "next_url": "/contacts/suppressions?"
        + urlencode({**({"phone": phone} if phone else {}), "cursor": page.next_cursor})
        if page.next_cursor
        else None,
        "first_url": "/contacts/suppressions" if cursor else None,
        "search_errors": errors,
        "form": {},
        "errors": NO_ERRORS,
        "row_errors": {},
        "row_forms": {},
        "permanent": PERMANENT_REASONS,
        "reasons": SUPPRESSION_REASONS,
        "zone": _zone(request),
        "me": principal.user_id,
        **_roles(principal),
    }


@router.get("/contacts/suppressions")
async def suppressions_page(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    phone: str | None = None,
    cursor: str | None = None,
) -> Response:
    ctx = await _suppressions_context(request, session, principal, phone or "", cursor)
    return render(request, "contacts/suppressions.html", ctx)


@router.post("/contacts/suppressions")
async def add_suppression(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    form = await read_form(request)
    try:
        data = SuppressionIn.model_validate(
            {
                "phone": form.get("phone", ""),
                "reason": form.get("reason", "") or "manual",
                "note": form.get("note", "") or None,
            }
        )
        await _atomic(session, service.add_suppression(session, principal, data))
    except (ValidationError, DomainError) as exc:
        _reraise(exc)
        ctx = await _suppressions_context(request, session, principal)
        ctx.update(form=form, errors=_errors(exc))
        return render(request, "contacts/suppressions.html", ctx, status_code=_status(exc))
    return RedirectResponse("/contacts/suppressions?added=1", status_code=303)


@router.post("/contacts/suppressions/{suppression_id}/confirm")
async def confirm_suppression(
    request: Request, session: DbSession, principal: DashboardPrincipal, suppression_id: uuid.UUID
) -> Response:
    """A probable opt-out read and confirmed by a person: it becomes an opt-out."""
    try:
        await _atomic(session, service.confirm_suppression(session, principal, suppression_id))
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        ctx = await _suppressions_context(request, session, principal)
        ctx["row_errors"] = {str(suppression_id): _errors(exc)}
        return render(request, "contacts/suppressions.html", ctx, status_code=exc.status_code)
    return RedirectResponse("/contacts/suppressions", status_code=303)


@router.post("/contacts/suppressions/{suppression_id}/remove")
async def remove_suppression(
    request: Request, session: DbSession, principal: DashboardPrincipal, suppression_id: uuid.UUID
) -> Response:
    form = await read_form(request)
    reason = " ".join(form.get("reason", "").split())
    try:
        # Looked up first: another tenant's id stays a 404, whatever the form says.
        await service.get_suppression(session, principal, suppression_id)
        if not reason:
            raise ValidationFailed(N_("say why the number may be contacted again"), field="reason")
        if len(reason) > 300:
            raise ValidationFailed(
                N_("%(field)s: enter at most %(limit)s characters"),
                params={"field": Message(N_("Reason")), "limit": 300},
                field="reason",
            )
        await _atomic(
            session, service.remove_suppression(session, principal, suppression_id, reason)
        )
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        ctx = await _suppressions_context(request, session, principal)
        ctx["row_errors"] = {str(suppression_id): _errors(exc)}
        ctx["row_forms"] = {str(suppression_id): form}
        return render(request, "contacts/suppressions.html", ctx, status_code=exc.status_code)
    return RedirectResponse("/contacts/suppressions", status_code=303)


# --- data-subject requests (LGPD art. 18) ------------------------------------------------------


def _subject(form: Mapping[str, str]) -> SubjectIn:
    raw = " ".join(form.get("subject", "").split())
    note = form.get("note", "") or None
    if "@" in raw:
        return SubjectIn(email=raw, note=note)
    return SubjectIn(phone=raw or None, note=note)


async def _requests_context(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> dict[str, Any]:
    roles = _roles(principal)
    return {
        "log": await service.list_requests(session, principal, 50) if roles["is_admin"] else [],
        "form": {},
        "errors": NO_ERRORS,
        "erase_errors": NO_ERRORS,
        "found": None,
        "erased": None,
        "zone": _zone(request),
        **roles,
    }


@router.get("/contacts/requests")
async def requests_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(
        request, "contacts/requests.html", await _requests_context(request, session, principal)
    )


async def _request_error(
    request: Request,
    session: DbSession,
    principal: DashboardPrincipal,
    form: Mapping[str, str],
    exc: Exception,
) -> Response:
    _reraise(exc)
    ctx = await _requests_context(request, session, principal)
    errors = _subject_errors(exc)
    if request.url.path.endswith("/erase"):
        # The erase form (under the search result): its errors are shown there, with the
        # result it acts on.
        ctx.update(form=dict(form), erase_errors=errors)
    else:
        ctx.update(form=dict(form), errors=errors)
    return render(request, "contacts/requests.html", ctx, status_code=_status(exc))


def _subject_errors(exc: Exception) -> FieldErrors:
    # phone/email come from the one "phone or e-mail" box.
    return _errors(exc, {"phone": "subject", "email": "subject"})


@router.post("/contacts/requests/find")
async def find_subject(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    form = await read_form(request)
    try:
        subject = _subject(form)
        _, contacts = await _atomic(session, service.find_subject(session, principal, subject))
    except (ValidationError, DomainError) as exc:
        return await _request_error(request, session, principal, form, exc)
    ctx = await _requests_context(request, session, principal)
    ctx.update(form=form, found=contacts)
    return render(request, "contacts/requests.html", ctx)


@router.post("/contacts/requests/export")
async def export_subject(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    form = await read_form(request)
    fmt = form.get("format", "json")
    try:
        if fmt not in ("json", "csv"):
            raise ValidationFailed(
                N_("%(field)s: choose an option from the list"),
                params={"field": Message(N_("Format"))},
            )
        export = await _atomic(session, service.export_subject(session, principal, _subject(form)))
    except (ValidationError, DomainError) as exc:
        return await _request_error(request, session, principal, form, exc)
    name = f"titular-{export['request_id']}"
    if fmt == "csv":
        body, media = service.export_csv(export), "text/csv; charset=utf-8"
    else:
        body = json.dumps(export, ensure_ascii=False, indent=2)
        media = "application/json"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/contacts/requests/erase")
async def erase_subject(
    request: Request, session: DbSession, principal: StepUpDashboardPrincipal
) -> Response:
    form = await read_form(request)
    try:
        subject = _subject(form)
        if form.get("confirm") != "yes":
            raise ValidationFailed(
                N_("Tick the box to confirm: the erasure cannot be undone."), field="confirm"
            )
        erased = await _atomic(session, service.erase_subject(session, principal, subject))
    except (ValidationError, DomainError) as exc:
        return await _request_error(request, session, principal, form, exc)
    ctx = await _requests_context(request, session, principal)
    ctx["erased"] = erased
    return render(request, "contacts/requests.html", ctx)


# --- one contact (after the static paths: /contacts/imports is not a contact id) ---------------


def _custom_text(fields: Mapping[str, Any]) -> str:
    return "\n".join(f"{k}={'' if v is None else v}" for k, v in fields.items())


def _parse_custom(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValidationFailed(
                N_("Custom fields: write one per line, as name=value."), field="custom_fields"
            )
        out[key.strip()] = value.strip()
    return out


def _edit_form(c: ContactOut) -> dict[str, str]:
    return {
        "name": c.name or "",
        "phone": c.phone_e164,
        "email": c.email or "",
        "language": c.language or "",
        "notes": c.notes or "",
        "tags": ", ".join(t.name for t in c.tags),
        "custom_fields": _custom_text(c.custom_fields),
        "legal_basis": c.legal_basis,
        "li_assessment_ref": c.li_assessment_ref or "",
    }


async def _detail_context(
    request: Request, session: DbSession, principal: DashboardPrincipal, contact: ContactOut
) -> dict[str, Any]:
    events = await service.consent_events(session, principal, contact.id)
    frozen = contact.opted_out_at is not None or contact.consent_state == "revoked"
    actions = []
    if not frozen and not contact.suppressed and contact.consent_state != "granted":
        actions.append(("grant", N_("Record consent given")))
    if contact.consent_state != "revoked":
        actions.append(("revoke", N_("Record consent withdrawn")))
    if contact.opted_out_at is None:
        actions.append(("opt_out", N_("Record an opt-out")))
    return {
        "c": contact,
        "events": events,
        "form": _edit_form(contact),
        "errors": NO_ERRORS,
        "consent_errors": NO_ERRORS,
        "basis_frozen": frozen,
        "consent_actions": actions,
        "zone": _zone(request),
        "me": principal.user_id,
        **_roles(principal),
    }


@router.get("/contacts/{contact_id}")
async def detail_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, contact_id: uuid.UUID
) -> Response:
    contact = await service.get_contact(session, principal, contact_id)
    return render(
        request, "contacts/detail.html", await _detail_context(request, session, principal, contact)
    )


def _patch(form: Mapping[str, str], before: dict[str, str]) -> ContactPatch:
    """Only what the operator changed: an untouched basis is never re-sent (an opted-out
    contact's basis is frozen, and re-sending it would be refused)."""
    changed = {k for k in before if form.get(k, before[k]).strip() != before[k].strip()}
    data: dict[str, Any] = {}
    for name in ("name", "email", "language", "notes", "li_assessment_ref"):
        if name in changed:
            data[name] = form.get(name, "") or None
    if "phone" in changed:
        data["phone"] = form.get("phone", "")
    if "tags" in changed:
        data["tags"] = _tag_names(form.get("tags", ""))
    if "custom_fields" in changed:
        data["custom_fields"] = _parse_custom(form.get("custom_fields", ""))
    if "legal_basis" in changed:
        data["legal_basis"] = form.get("legal_basis") or None
    return ContactPatch.model_validate(data)


@router.post("/contacts/{contact_id}")
async def update(
    request: Request, session: DbSession, principal: DashboardPrincipal, contact_id: uuid.UUID
) -> Response:
    contact = await service.get_contact(session, principal, contact_id)
    form = await read_form(request)
    try:
        await _atomic(
            session,
            service.update_contact(
                session, principal, contact_id, _patch(form, _edit_form(contact))
            ),
        )
    except (ValidationError, DomainError) as exc:
        _reraise(exc)
        ctx = await _detail_context(request, session, principal, contact)
        ctx.update(form={**ctx["form"], **form}, errors=_errors(exc))
        return render(request, "contacts/detail.html", ctx, status_code=_status(exc))
    return RedirectResponse(f"/contacts/{contact_id}?saved=1", status_code=303)


@router.post("/contacts/{contact_id}/consent")
async def change_consent(
    request: Request, session: DbSession, principal: DashboardPrincipal, contact_id: uuid.UUID
) -> Response:
    contact = await service.get_contact(session, principal, contact_id)
    form = await read_form(request)
    try:
        data = ConsentAction.model_validate(
            {"action": form.get("action", ""), "detail": form.get("detail", "") or None}
        )
        await _atomic(session, service.change_consent(session, principal, contact_id, data))
    except (ValidationError, DomainError) as exc:
        _reraise(exc)
        ctx = await _detail_context(request, session, principal, contact)
        ctx["consent_errors"] = _errors(exc)
        ctx["consent_form"] = form
        return render(request, "contacts/detail.html", ctx, status_code=_status(exc))
    return RedirectResponse(f"/contacts/{contact_id}#ledger", status_code=303)


@router.post("/contacts/{contact_id}/delete")
async def delete(
    session: DbSession, principal: StepUpDashboardPrincipal, contact_id: uuid.UUID
) -> Response:
    await service.delete_contact(session, principal, contact_id)
    return RedirectResponse("/contacts?deleted=1", status_code=303)
