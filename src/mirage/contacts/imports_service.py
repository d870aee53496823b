"""CSV imports of contacts: upload, preview, start, progress, cancel, rejected rows; and the
run itself (``run_import``), shared by the worker job and the CLI.

The run is the one place in contacts that is *not* one transaction: a file of a million rows
is imported in chunks, each chunk in its own short transaction that also records the progress
(offset, counters), so the dashboard shows live progress, a cancel is seen between chunks, and
a crashed run resumes after its last committed chunk. Every chunk is idempotent: it re-reads
the import under a row lock and applies only if the offset it starts from is still the
import's ``processed`` count.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.config import get_settings
from mirage.contacts import csvfile, phones, rows
from mirage.contacts.imports_repository import (
    ImportRepository,
    RejectedInDb,
    iter_parts,
    reject_line,
    stage_line,
)
from mirage.contacts.service import DEFAULT_REGION, phone_hash, tenant_region
from mirage.db.engine import session_scope
from mirage.kit import jobs, live
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from mirage.kit.logging import get_logger
from mirage.models.contact_imports import ContactImport, ImportState
from mirage.models.tenancy import Role
from mirage.ops import audit

log = get_logger(__name__)

TASK_NAME = "contacts.run_import"
LIVE_KIND = "contact_import"
PART_BYTES = 1024 * 1024
CHUNK_ROWS = 10_000
MAX_ATTEMPTS = 3
PREVIEW_ROWS = 10
MAX_PREVIEW_ROWS = 50
ON_DUPLICATE = ("update", "skip")
_PREVIEW_BYTES = 512 * 1024


# --- options ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOptions:
    tags: tuple[str, ...] = ()
    basis: str | None = None
    li_assessment_ref: str | None = None
    source: str | None = None
    on_duplicate: str = "update"
    # The default region of the file's phones; None: the tenant's country (set at start).
    region: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "tags": list(self.tags),
            "basis": self.basis,
            "li_assessment_ref": self.li_assessment_ref,
            "source": self.source,
            "on_duplicate": self.on_duplicate,
            "region": self.region,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportOptions:
        return cls(
            tags=tuple(data.get("tags") or ()),
            basis=data.get("basis"),
            li_assessment_ref=data.get("li_assessment_ref"),
            source=data.get("source"),
            on_duplicate=data.get("on_duplicate") or "update",
            region=data.get("region") or None,
        )


def check_options(options: ImportOptions) -> ImportOptions:
    """Options as stored, or ``ValidationFailed`` naming the field."""
    if options.basis is not None and options.basis not in rows.BASES:
        raise ValidationFailed("basis must be consent or legitimate_interest", field="basis")
    if options.on_duplicate not in ON_DUPLICATE:
        raise ValidationFailed("on_duplicate must be update or skip", field="on_duplicate")
    tags = rows.split_tags(",".join(options.tags))
    if len(tags) > rows.MAX_TAGS or any(len(t) > rows.MAX_TAG for t in tags):
        raise ValidationFailed("at most 20 tags of at most 40 characters each", field="tags")
    source = " ".join((options.source or "").split()) or None
    if source is not None and len(source) > 120:
        raise ValidationFailed("source must have at most 120 characters", field="source")
    ref = " ".join((options.li_assessment_ref or "").split()) or None
    if ref is not None and len(ref) > 200:
        raise ValidationFailed(
            "li_assessment_ref must have at most 200 characters", field="li_assessment_ref"
        )
    region = None
    if options.region is not None:
        region = phones.check_region(options.region)
        if region is None:
            raise ValidationFailed("region must be a two-letter country code", field="region")
    return ImportOptions(
        tags=tags,
        basis=options.basis,
        li_assessment_ref=ref,
        source=source,
        on_duplicate=options.on_duplicate,
        region=region,
    )


def suppression_hash(e164: str) -> str:
    """The keyed hash suppressions are stored under: the contacts service's one definition."""
    return phone_hash(e164)


# --- upload, preview, start, cancel ---------------------------------------------------------


def _clean_filename(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable()).strip()
    return cleaned[:200] or "contatos.csv"


async def create_import(
    session: AsyncSession,
    principal: Principal,
    *,
    filename: str | None,
    stream: BinaryIO,
    max_bytes: int | None = None,
) -> ContactImport:
    """Store an uploaded file (seekable ``stream``) with its detected settings and the guessed
    mapping. A file that cannot be read as a CSV is a 422 with the reason; too big, a 413."""
    require(principal, "write", role=Role.OPERATOR)
    limit = max_bytes or get_settings().contact_import_max_bytes
    try:
        preview = csvfile.preview(stream, rows=1)
    except csvfile.CsvFileError as exc:
        raise ValidationFailed(
            f"this file cannot be read as a CSV: {exc.detail}", field="file"
        ) from exc
    if len(preview.header) < 1:
        raise ValidationFailed("the file has no columns")
    repo = ImportRepository(session)
    imp = await repo.add(
        ContactImport(
            tenant_id=principal.tenant_id,
            state=ImportState.UPLOADED,
            filename=_clean_filename(filename),
            size_bytes=0,
            encoding=preview.dialect.encoding,
            delimiter=preview.dialect.delimiter,
            quotechar=preview.dialect.quotechar,
            header=list(preview.header),
            mapping=preview.mapping,
            options={},
            created_by=principal.user_id,
        )
    )
    stream.seek(0)
    size, seq = 0, 0
    while chunk := stream.read(PART_BYTES):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the file is larger than {max(1, limit // 1_000_000)} MB", field="file"
            )
        await repo.add_part(principal.tenant_id, imp.id, seq, chunk)
        seq += 1
    imp.size_bytes = size
    imp.state = ImportState.PREVIEWED
    await session.flush()
    log.info("contacts.import_uploaded", import_id=str(imp.id), bytes=size)
    return imp


async def get_import(
    session: AsyncSession, principal: Principal, import_id: uuid.UUID
) -> ContactImport:
    require(principal, "read")
    imp = await ImportRepository(session).get(import_id)
    if imp is None:
        raise NotFound("import not found")
    return imp


async def list_imports(session: AsyncSession, principal: Principal) -> list[ContactImport]:
    require(principal, "read")
    return list(await ImportRepository(session).recent())


def _dialect(imp: ContactImport) -> csvfile.Dialect:
    return csvfile.Dialect(imp.encoding, imp.delimiter, imp.quotechar)


async def preview_rows(
    session: AsyncSession, principal: Principal, import_id: uuid.UUID, rows_wanted: int
) -> tuple[ContactImport, list[list[str]]]:
    """The import and its first rows (from the start of the stored file)."""
    imp = await get_import(session, principal, import_id)
    n = max(1, min(rows_wanted, MAX_PREVIEW_ROWS))
    head = io.BytesIO()
    async for part in iter_parts(session, imp.id):
        head.write(part)
        if head.tell() >= _PREVIEW_BYTES:
            break
    head.seek(0)
    try:
        _, records = csvfile.read_records(head, _dialect(imp))
        out = []
        for record in records:
            out.append(list(record.cells))
            if len(out) >= n:
                break
    except csvfile.CsvFileError:
        out = []
    return imp, out


async def start_import(
    session: AsyncSession,
    principal: Principal,
    import_id: uuid.UUID,
    *,
    mapping: dict[str, str] | None,
    options: ImportOptions,
    enqueue: bool = True,
) -> ContactImport:
    """Fix the mapping and options and start the run (a job deferred in this transaction;
    ``enqueue=False`` when the caller runs it itself, as the CLI does)."""
    require(principal, "write", role=Role.OPERATOR)
    repo = ImportRepository(session)
    imp = await repo.get_for_update(import_id)
    if imp is None:
        raise NotFound("import not found")
    if imp.state not in (ImportState.UPLOADED, ImportState.PREVIEWED):
        raise Conflict(f"this import was already started ({imp.state})")
    chosen = dict(imp.mapping if mapping is None else mapping)
    problems = csvfile.validate_mapping(imp.header, chosen)
    if problems:
        raise ValidationFailed(
            "the column mapping is not valid: " + "; ".join(problems[:5]),
            field="mapping",
        )
    checked = check_options(options)
    if checked.region is None:
        checked = replace(checked, region=await tenant_region(session, principal.tenant_id))
    if checked.basis is None and csvfile.BASIS not in chosen.values():
        raise ValidationFailed(
            "choose a legal basis for the import (or map a column to basis)", field="basis"
        )
    imp.mapping = chosen
    imp.options = checked.as_json()
    imp.state = ImportState.RUNNING
    imp.started_at = utcnow()
    await session.flush()
    if enqueue:
        await jobs.defer(
            session,
            TASK_NAME,
            import_id=str(imp.id),
            lock=f"contact-import:{imp.id}",
            queueing_lock=f"contact-import:{imp.id}",
        )
    await live.notify(session, imp.tenant_id, LIVE_KIND, imp.id, state=imp.state)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="contact_import.start",
        target_type="contact_import",
        target_id=imp.id,
        filename=imp.filename,
        size_bytes=imp.size_bytes,
        basis=checked.basis,
    )
    return imp


async def cancel_import(
    session: AsyncSession, principal: Principal, import_id: uuid.UUID
) -> ContactImport:
    """Not started: cancelled at once. Running: asked to stop; the run stops before its next
    chunk (rows already imported stay). Already finished: returned as it is."""
    require(principal, "write", role=Role.OPERATOR)
    repo = ImportRepository(session)
    imp = await repo.get_for_update(import_id)
    if imp is None:
        raise NotFound("import not found")
    if imp.state in (ImportState.UPLOADED, ImportState.PREVIEWED):
        imp.state = ImportState.CANCELLED
        imp.finished_at = utcnow()
        await repo.drop_file_and_keys(imp.id)
    elif imp.state == ImportState.RUNNING:
        imp.cancel_requested = True
    else:
        return imp  # already finished: nothing changes
    await session.flush()
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="contact_import.cancel",
        target_type="contact_import",
        target_id=imp.id,
        filename=imp.filename,
    )
    await live.notify(session, imp.tenant_id, LIVE_KIND, imp.id, state=imp.state)
    return imp


async def rejected_csv(
    session: AsyncSession, principal: Principal, import_id: uuid.UUID
) -> IO[bytes]:
    """The rejected rows as a CSV (UTF-8 with BOM, ``;``: what Excel pt-BR opens): the row
    number, the reason, its detail, then the row's own cells under the file's header. In a
    spooled file: memory stays bounded whatever the number of rows."""
    imp = await get_import(session, principal, import_id)
    out = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 - returned
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(["linha", "motivo", "detalhe", *imp.header])
    repo = ImportRepository(session)
    after = 0
    while page := await repo.rejected_page(imp.id, after, 5000):
        for number, reason, detail, cells in page:
            safe = [_safe_cell(str(c)) for c in (cells or [])]
            writer.writerow([number, reason, detail or "", *safe])
        after = page[-1][0]
    text.flush()
    text.detach()
    out.seek(0)
    return out


def _safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Chunk:
    """The next records of the file, judged: COPY payloads for the candidates and the
    rejected rows, the rejections counted by reason, and the candidates' cells (kept until
    the chunk is written: the database may still reject a candidate, and its row is then
    stored with its cells)."""

    records: int = 0
    candidates: int = 0
    staged: str = ""
    rejected: str = ""
    invalid: Counter[str] = field(default_factory=Counter)
    cells: dict[int, tuple[str, ...]] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)  # the candidates' tags, each spelling once

    def rejected_with(self, in_db: tuple[RejectedInDb, ...]) -> str:
        """The rejected-rows payload with the candidates the database rejected."""
        if not in_db:
            return self.rejected
        more = (
            reject_line(
                rows.RowError(r.number, rows.Reason(r.reason), r.detail), self.cells[r.number]
            )
            for r in in_db
        )
        return self.rejected + "".join(more)


def judge_chunk(
    records: Iterator[csvfile.Record],
    plan: rows.Plan,
    defaults: rows.Defaults,
    normalize: rows.Normalizer,
    hasher: Callable[[str], str],
    limit: int,
) -> Chunk:
    """The next ``limit`` records, judged (pure apart from consuming ``records``); run in a
    worker thread, so the event loop stays free while the previous chunk is written."""
    chunk = Chunk()
    staged: list[str] = []
    rejected: list[str] = []
    for record in records:
        chunk.records += 1
        got = rows.parse_row(record.number, record.cells, plan, defaults, normalize)
        if isinstance(got, rows.Candidate):
            staged.append(stage_line(got, hasher(got.phone_e164)))
            chunk.cells[record.number] = record.cells
            chunk.tags.update(got.tags)
        else:
            chunk.invalid[got.reason.value] += 1
            rejected.append(reject_line(got, record.cells))
        if chunk.records >= limit:
            break
    chunk.candidates = len(staged)
    chunk.staged = "".join(staged)
    chunk.rejected = "".join(rejected)
    return chunk


def summary(imp: ContactImport) -> dict[str, Any]:
    """What the CLI prints and the API returns as the import's outcome."""
    return {
        "id": str(imp.id),
        "state": str(imp.state),
        "rows": imp.rows,
        "processed": imp.processed,
        "imported": imp.imported,
        "updated": imp.updated,
        "skipped": imp.skipped,
        "duplicates": imp.duplicates,
        "suppressed": imp.suppressed,
        "invalid": imp.invalid,
        "invalid_by_reason": dict(imp.invalid_by_reason),
        "error": imp.error,
    }


async def _finish(
    repo: ImportRepository, imp: ContactImport, state: ImportState, error: str | None = None
) -> None:
    imp.state = state
    imp.finished_at = utcnow()
    imp.error = error[:500] if error else None
    await repo.drop_file_and_keys(imp.id)
    await repo.session.flush()
    await live.notify(repo.session, imp.tenant_id, LIVE_KIND, imp.id, state=state)
    log.info("contacts.import_finished", import_id=str(imp.id), state=str(state), error=error)


async def fail_import(import_id: uuid.UUID, error: str) -> None:
    """Mark a running import failed (its own transaction): a run that will not be retried."""
    await _fail(import_id, error)


async def _fail(import_id: uuid.UUID, error: str) -> None:
    async with session_scope() as session:
        repo = ImportRepository(session)
        imp = await repo.get_for_update(import_id)
        if imp is not None and imp.state == ImportState.RUNNING:
            await _finish(repo, imp, ImportState.FAILED, error)


async def run_import(
    import_id: uuid.UUID,
    *,
    chunk_rows: int = CHUNK_ROWS,
    stop_after_chunks: int | None = None,
) -> ContactImport | None:
    """Run (or resume) an import in the current tenant context, chunk by chunk, each chunk
    in its own transaction. Returns the import as last committed (None if unknown).

    ``stop_after_chunks`` stops the run after that many chunks as if the process had died
    there (tests of resumption)."""
    async with session_scope() as session:
        repo = ImportRepository(session)
        imp = await repo.get_for_update(import_id)
        if imp is None or imp.state != ImportState.RUNNING:
            return imp  # finished, cancelled, or not started: nothing to do (idempotent)
        if imp.cancel_requested:
            await _finish(repo, imp, ImportState.CANCELLED)
            return imp
        imp.attempts += 1
        if imp.attempts > MAX_ATTEMPTS:
            await _finish(repo, imp, ImportState.FAILED, f"gave up after {MAX_ATTEMPTS} attempts")
            return imp
        attempt, offset = imp.attempts, imp.processed
        dialect, mapping = _dialect(imp), dict(imp.mapping)
        options = ImportOptions.from_json(imp.options)
        if options.region is None:  # started before regions were stored: the tenant's
            options = replace(options, region=await tenant_region(session, imp.tenant_id))
        tenant_id, user_id, filename = imp.tenant_id, imp.created_by, imp.filename
    log.info("contacts.import_run", import_id=str(import_id), attempt=attempt, offset=offset)
    try:
        return await _run_chunks(
            import_id,
            tenant_id=tenant_id,
            user_id=user_id,
            filename=filename,
            dialect=dialect,
            mapping=mapping,
            options=options,
            offset=offset,
            chunk_rows=chunk_rows,
            stop_after_chunks=stop_after_chunks,
        )
    except csvfile.CsvFileError as exc:
        await _fail(import_id, f"row {offset}+: {exc.detail}")
    except Exception as exc:
        if attempt >= MAX_ATTEMPTS:
            await _fail(import_id, f"failed after {attempt} attempts: {type(exc).__name__}")
        raise
    async with session_scope() as session:
        return await ImportRepository(session).get(import_id)


async def _run_chunks(
    import_id: uuid.UUID,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID | None,
    filename: str,
    dialect: csvfile.Dialect,
    mapping: dict[str, str],
    options: ImportOptions,
    offset: int,
    chunk_rows: int,
    stop_after_chunks: int | None,
) -> ContactImport | None:
    source = options.source or f"import: {filename}"[:120]
    note = f"CSV import {import_id} ({filename})"[:500]
    defaults = rows.Defaults(basis=options.basis, tags=options.tags)
    normalize = rows.phone_normalizer(options.region or DEFAULT_REGION)
    with tempfile.TemporaryFile() as spool:
        async with session_scope() as session:
            async for part in iter_parts(session, import_id):
                spool.write(part)
        spool.seek(0)
        header, records = csvfile.read_records(spool, dialect, skip=offset)
        plan = rows.plan(header, mapping)

        def judge_next() -> asyncio.Future[Chunk]:
            return asyncio.ensure_future(
                asyncio.to_thread(
                    judge_chunk, records, plan, defaults, normalize, suppression_hash, chunk_rows
                )
            )

        # The next chunk is judged (in a thread) while this one is written: the file's
        # parsing and the database's work overlap.
        pending = judge_next()
        try:
            done = 0
            while True:
                chunk = await pending
                last = chunk.records < chunk_rows
                if not last:
                    pending = judge_next()
                async with session_scope() as session:
                    repo = ImportRepository(session)
                    imp = await repo.get_for_update(import_id)
                    if imp is None or imp.state != ImportState.RUNNING or imp.processed != offset:
                        log.warning("contacts.import_superseded", import_id=str(import_id))
                        return imp  # another run moved it on (or it ended): this one stops
                    if imp.cancel_requested:
                        await _finish(repo, imp, ImportState.CANCELLED)
                        return imp
                    await repo.prepare_chunk(durable=last)
                    outcome = await repo.upsert_chunk(
                        tenant_id=tenant_id,
                        import_id=import_id,
                        payload=chunk.staged,
                        tags=sorted(chunk.tags),
                        on_duplicate=options.on_duplicate,
                        source=source,
                        note=note,
                        ledger_detail=f"{source} ({note})"[:500],
                        li_ref=options.li_assessment_ref,
                        user_id=user_id,
                        now=utcnow(),
                    )
                    await repo.add_rejected(
                        tenant_id, import_id, chunk.rejected_with(outcome.rejected)
                    )
                    imp.rows += chunk.records
                    imp.processed += chunk.records
                    imp.imported += outcome.imported
                    imp.updated += outcome.updated
                    imp.skipped += outcome.skipped
                    imp.duplicates += outcome.duplicates
                    imp.suppressed += outcome.suppressed
                    imp.invalid += sum(chunk.invalid.values())
                    merged = Counter(imp.invalid_by_reason)
                    merged.update(chunk.invalid)
                    imp.invalid_by_reason = dict(sorted(merged.items()))
                    if last:
                        await _finish(repo, imp, ImportState.COMPLETED)
                        return imp
                    await session.flush()
                    await live.notify(
                        session, tenant_id, LIVE_KIND, import_id, processed=imp.processed
                    )
                offset += chunk.records
                done += 1
                if stop_after_chunks is not None and done >= stop_after_chunks:
                    return None
        finally:
            # The file is closed on the way out: let a chunk being judged finish first.
            if not pending.done():
                await asyncio.gather(pending, return_exceptions=True)
