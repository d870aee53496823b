"""/api/v1/contacts, /api/v1/tags, /api/v1/suppressions, /api/v1/data-requests."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal
from mirage.contacts import service
from mirage.contacts.schemas import (
    Basis,
    BulkResult,
    BulkTagIn,
    ConsentAction,
    ConsentEventOut,
    ConsentFilter,
    ContactFilterIn,
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    DataRequestOut,
    EraseIn,
    EraseOut,
    ExportIn,
    FindOut,
    SubjectIn,
    SuppressionIn,
    SuppressionOut,
    SuppressionPage,
    SuppressionRemoveIn,
    TagIn,
    TagOut,
    TagPatch,
)
from mirage.db.deps import DbSession
from mirage.web.errors import API_ERRORS

router = APIRouter(responses=API_ERRORS)

Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of a page")]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE)]


# --- contacts -----------------------------------------------------------------------------


@router.get("/contacts", response_model=ContactPage, tags=["contacts"])
async def list_contacts(
    session: DbSession,
    principal: ApiPrincipal,
    q: Annotated[str | None, Query(max_length=100, description="name, phone or e-mail")] = None,
    tag_id: uuid.UUID | None = None,
    basis: Basis | None = None,
    consent: ConsentFilter | None = None,
    opted_out: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Any:
    f = ContactFilterIn(q=q, tag_id=tag_id, basis=basis, consent=consent, opted_out=opted_out)
    return await service.list_contacts(session, principal, f, cursor=cursor, limit=limit)


@router.post("/contacts", response_model=ContactOut, status_code=201, tags=["contacts"])
async def create_contact(body: ContactIn, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.create_contact(session, principal, body)


@router.get("/contacts/{contact_id}", response_model=ContactOut, tags=["contacts"])
async def get_contact(contact_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_contact(session, principal, contact_id)


@router.patch("/contacts/{contact_id}", response_model=ContactOut, tags=["contacts"])
async def update_contact(
    contact_id: uuid.UUID, body: ContactPatch, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.update_contact(session, principal, contact_id, body)


@router.delete("/contacts/{contact_id}", status_code=204, tags=["contacts"])
async def delete_contact(
    contact_id: uuid.UUID, session: DbSession, principal: StepUpApiPrincipal
) -> Response:
    await service.delete_contact(session, principal, contact_id)
    return Response(status_code=204)


@router.get(
    "/contacts/{contact_id}/consent-events",
    response_model=list[ConsentEventOut],
    tags=["contacts"],
)
async def consent_events(contact_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.consent_events(session, principal, contact_id)


@router.post("/contacts/{contact_id}/consent", response_model=ContactOut, tags=["contacts"])
async def change_consent(
    contact_id: uuid.UUID, body: ConsentAction, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.change_consent(session, principal, contact_id, body)


# --- tags ---------------------------------------------------------------------------------


@router.get("/tags", response_model=list[TagOut], tags=["tags"])
async def list_tags(session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.list_tags(session, principal)


@router.post("/tags", response_model=TagOut, status_code=201, tags=["tags"])
async def create_tag(body: TagIn, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.create_tag(session, principal, body)


@router.get("/tags/{tag_id}", response_model=TagOut, tags=["tags"])
async def get_tag(tag_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_tag(session, principal, tag_id)


@router.patch("/tags/{tag_id}", response_model=TagOut, tags=["tags"])
async def update_tag(
    tag_id: uuid.UUID, body: TagPatch, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.update_tag(session, principal, tag_id, body)


@router.delete("/tags/{tag_id}", status_code=204, tags=["tags"])
async def delete_tag(tag_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Response:
    await service.delete_tag(session, principal, tag_id)
    return Response(status_code=204)


@router.post("/tags/{tag_id}/apply", response_model=BulkResult, tags=["tags"])
async def apply_tag(
    tag_id: uuid.UUID, body: BulkTagIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Tag every contact of a filter (the list's filters) or of a list of ids."""
    return BulkResult(affected=await service.bulk_tag(session, principal, tag_id, body, add=True))


@router.post("/tags/{tag_id}/remove", response_model=BulkResult, tags=["tags"])
async def remove_tag(
    tag_id: uuid.UUID, body: BulkTagIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    return BulkResult(affected=await service.bulk_tag(session, principal, tag_id, body, add=False))


# --- suppression list ---------------------------------------------------------------------


@router.get("/suppressions", response_model=SuppressionPage, tags=["suppressions"])
async def list_suppressions(
    session: DbSession,
    principal: ApiPrincipal,
    phone: Annotated[str | None, Query(max_length=100, description="is this number on it")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Any:
    return await service.list_suppressions(
        session, principal, phone=phone, cursor=cursor, limit=limit
    )


@router.post("/suppressions", response_model=SuppressionOut, status_code=201, tags=["suppressions"])
async def add_suppression(body: SuppressionIn, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.add_suppression(session, principal, body)


@router.post(
    "/suppressions/{suppression_id}/confirm", response_model=SuppressionOut, tags=["suppressions"]
)
async def confirm_suppression(
    suppression_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Any:
    """A probable opt-out (reason ``review``) confirmed by a person: it becomes an opt-out
    (only the contact can undo it, by writing VOLTAR or START). 409 for any other reason."""
    return await service.confirm_suppression(session, principal, suppression_id)


@router.post("/suppressions/{suppression_id}/remove", status_code=204, tags=["suppressions"])
async def remove_suppression(
    suppression_id: uuid.UUID,
    body: SuppressionRemoveIn,
    session: DbSession,
    principal: ApiPrincipal,
) -> Response:
    """Admins only, with a reason (recorded in the audit log). Opt-outs cannot be removed."""
    await service.remove_suppression(session, principal, suppression_id, body.reason)
    return Response(status_code=204)


# --- data-subject requests (LGPD art. 18) -------------------------------------------------
# POST with the subject in the body: personal data stays out of URLs and access logs.


@router.get("/data-requests", response_model=list[DataRequestOut], tags=["data-requests"])
async def list_requests(session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.list_requests(session, principal)


@router.post("/data-requests/find", response_model=FindOut, tags=["data-requests"])
async def find_subject(body: SubjectIn, session: DbSession, principal: ApiPrincipal) -> Any:
    request_id, contacts = await service.find_subject(session, principal, body)
    return FindOut(request_id=request_id, contacts=contacts)


@router.post(
    "/data-requests/export",
    tags=["data-requests"],
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def export_subject(body: ExportIn, session: DbSession, principal: ApiPrincipal) -> Any:
    """Everything held about the person, as JSON or (``format: csv``) a CSV download."""
    subject = SubjectIn(phone=body.phone, email=body.email, note=body.note)
    export = await service.export_subject(session, principal, subject)
    if body.format == "csv":
        name = f"data-request-{export['request_id']}.csv"
        return Response(
            service.export_csv(export),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return export


@router.post("/data-requests/erase", response_model=EraseOut, tags=["data-requests"])
async def erase_subject(body: EraseIn, session: DbSession, principal: StepUpApiPrincipal) -> Any:
    """Anonymize/delete: contacts removed, messages redacted, the suppression hash kept."""
    subject = SubjectIn(phone=body.phone, email=body.email, note=body.note)
    return await service.erase_subject(session, principal, subject)
