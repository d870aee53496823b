"""/api/v1/contact-imports: upload a CSV, preview it, start it with a mapping and options,
follow its progress, cancel it, download its rejected rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mirage.auth.deps import ApiPrincipal
from mirage.contacts import csvfile
from mirage.contacts import imports_service as service
from mirage.db.deps import DbSession
from mirage.web.errors import API_ERRORS

router = APIRouter(prefix="/contact-imports", tags=["contact imports"], responses=API_ERRORS)

MappingIn = Annotated[
    dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=48)]],
    Field(max_length=csvfile.MAX_COLUMNS),
]


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    state: str
    filename: str
    size_bytes: int
    encoding: str
    delimiter: str
    quotechar: str
    header: list[str]
    mapping: dict[str, str]
    options: dict[str, Any]
    rows: int
    processed: int
    imported: int
    updated: int
    skipped: int
    duplicates: int
    suppressed: int
    invalid: int
    invalid_by_reason: dict[str, int]
    cancel_requested: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class PreviewOut(BaseModel):
    """The detected settings, the first rows and the mapping (guessed until the import is
    started), with the fields a column may be mapped to."""

    import_: ImportOut = Field(alias="import")
    rows: list[list[str]]
    fields: list[str]

    model_config = ConfigDict(populate_by_name=True)


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mapping: MappingIn | None = Field(
        default=None,
        description="Column → field (name, phone, email, tags, language, notes, basis, "
        "custom.<key>, ignore). Omitted: the guessed mapping.",
    )
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default=[], max_length=20)
    basis: Literal["consent", "legitimate_interest"] | None = None
    li_assessment_ref: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=120)
    on_duplicate: Literal["update", "skip"] = "update"
    region: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}$",
        description="Country (ISO 3166-1 alpha-2) of numbers written without their country "
        "code. Omitted: the tenant's country.",
    )


FIELDS = [*csvfile.STANDARD_FIELDS, "custom.<key>", csvfile.IGNORE]


def _preview(imp: Any, rows: list[list[str]]) -> PreviewOut:
    return PreviewOut.model_validate(
        {"import": ImportOut.model_validate(imp), "rows": rows, "fields": FIELDS}
    )


@router.post("", response_model=PreviewOut, status_code=201, response_model_by_alias=True)
async def upload(
    session: DbSession,
    principal: ApiPrincipal,
    file: Annotated[UploadFile, File(description="The CSV file (UTF-8 or Windows-1252).")],
) -> Any:
    imp = await service.create_import(session, principal, filename=file.filename, stream=file.file)
    _, rows = await service.preview_rows(session, principal, imp.id, service.PREVIEW_ROWS)
    return _preview(imp, rows)


@router.get("", response_model=list[ImportOut])
async def list_imports(session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.list_imports(session, principal)


@router.get("/{import_id}", response_model=ImportOut)
async def get_import(import_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_import(session, principal, import_id)


@router.get("/{import_id}/preview", response_model=PreviewOut, response_model_by_alias=True)
async def preview(
    import_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    rows: Annotated[int, Query(ge=1, le=service.MAX_PREVIEW_ROWS)] = service.PREVIEW_ROWS,
) -> Any:
    imp, first = await service.preview_rows(session, principal, import_id, rows)
    return _preview(imp, first)


@router.post("/{import_id}/start", response_model=ImportOut, status_code=202)
async def start(
    import_id: uuid.UUID, body: StartIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    options = service.ImportOptions(
        tags=tuple(body.tags),
        basis=body.basis,
        li_assessment_ref=body.li_assessment_ref,
        source=body.source,
        on_duplicate=body.on_duplicate,
        region=body.region,
    )
    return await service.start_import(
        session, principal, import_id, mapping=body.mapping, options=options
    )


@router.post("/{import_id}/cancel", response_model=ImportOut)
async def cancel(import_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.cancel_import(session, principal, import_id)


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := f.read(64 * 1024):
            yield chunk
    finally:
        f.close()


@router.get(
    "/{import_id}/rejected.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The rejected rows."}},
)
async def rejected(
    import_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> StreamingResponse:
    f = await service.rejected_csv(session, principal, import_id)
    return StreamingResponse(
        _chunks(f),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="rejeitados-{import_id}.csv"',
            "Cache-Control": "no-store",
        },
    )
