"""Queries of CSV imports: the import row, its file parts, its judged rows, and the set-based
chunk upsert into contacts (COPY into a temporary staging table, then one statement).

Every statement runs as ``mirage_app`` under the tenant's RLS context, like any other
repository: the staging table is temporary (``ON COMMIT DROP``), so nothing of a tenant stays
on a pooled connection.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.contacts.rows import Candidate, RowError
from mirage.models.contact_imports import ContactImport, ContactImportPart, ContactImportRow
from mirage.models.contacts import search_keys
from mirage.models.tenancy import Tenant

# --- COPY text format (built by the caller, in a worker thread) ----------------------------


def _esc(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _array(values: Sequence[str]) -> str:
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


def _opt(value: str | None) -> str:
    return "\\N" if value is None else _esc(value)


@functools.lru_cache(maxsize=1024)
def _tags_cell(tags: tuple[str, ...]) -> str:
    return _esc(_array(tags))  # most rows carry the same tags (the import's own)


def _custom_cell(custom: dict[str, str]) -> str:
    return _esc(json.dumps(custom, ensure_ascii=False)) if custom else "{}"


@functools.lru_cache(maxsize=4096)
def _name_keys_cells(name: str | None) -> str:
    # Names repeat in a file (common first and last names): each is folded once.
    return "\t".join(_opt(k) for k in search_keys(name, None)[:3])


def _keys_cells(name: str | None, email: str | None) -> str:
    return f"{_name_keys_cells(name)}\t{_opt(search_keys(None, email).search_email)}"


def stage_line(candidate: Candidate, phone_hash: str) -> str:
    """One line of the staging COPY (columns ``STAGE_COLUMNS``). The row's cells are not
    staged: the few rows the database rejects (duplicates, suppressed) get them afterwards,
    from the chunk the caller still holds (``RejectedInDb``). The contact's search keys are
    computed here, in the worker thread that parses the file, rather than by the database
    for every row it writes."""
    c = candidate
    return (
        f"{c.number}\t{c.phone_e164}\t{phone_hash}\t{c.basis}\t{_opt(c.name)}\t"
        f"{_opt(c.email)}\t{_opt(c.language)}\t{_opt(c.notes)}\t{_tags_cell(c.tags)}\t"
        f"{_custom_cell(c.custom)}\t{_keys_cells(c.name, c.email)}\n"
    )


def reject_line(error: RowError, cells: Sequence[str]) -> str:
    """One line of the rejected-rows COPY."""
    return (
        "\t".join(
            (
                str(error.number),
                error.reason.value,
                _opt(error.detail[:200] or None),
                _esc(json.dumps(list(cells), ensure_ascii=False)),
            )
        )
        + "\n"
    )


@dataclass(frozen=True)
class RejectedInDb:
    """A candidate the chunk's statement rejected: a duplicate in the file (its number was
    taken by an earlier row) or a suppressed number. ``detail`` is the number."""

    number: int
    reason: str
    detail: str


@dataclass(frozen=True)
class ChunkOutcome:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    duplicates: int = 0
    suppressed: int = 0
    rejected: tuple[RejectedInDb, ...] = field(default=())


def _ordered_ids() -> tuple[str, int]:
    """The first 20 hex digits of version-7 UUIDs (this millisecond, random bits) and a
    random start for the last 12, counted up row by row in SQL: the ids a chunk writes
    increase, so each primary-key index (and every index led by those ids) grows at its
    right edge instead of at random pages — a quarter of the chunk's database time. Works
    on any PostgreSQL (no ``uuidv7()`` needed)."""
    ms = time.time_ns() // 1_000_000
    prefix = (
        f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-{0x7000 | secrets.randbits(12):04x}-"
        f"{0x8000 | secrets.randbits(14):04x}-"
    )
    return prefix, secrets.randbits(47)  # + at most a chunk's rows: fits in 48 bits


def _id(param: str, order: str) -> str:
    return (
        f"(:{param}_prefix || lpad(to_hex(:{param}_from + row_number() over (order by {order})),"
        " 12, '0'))::uuid"
    )


# COPY cannot write into a table under row-level security: rows are COPYed into temporary
# tables (``ON COMMIT DROP``: nothing of a tenant stays on a pooled connection), then written
# by INSERT … SELECT statements that the policies check.
_STAGE = """
    create temp table contact_import_stage (
        row_number bigint not null,
        phone_e164 text not null,
        phone_hash text not null,
        basis text not null,
        name text,
        email text,
        language text,
        notes text,
        tags text[] not null,
        custom jsonb not null,
        search_name text,
        search_word2 text,
        search_last text,
        search_email text
    ) on commit drop
"""
STAGE_COLUMNS = (
    "row_number, phone_e164, phone_hash, basis, name, email, language, notes, tags, custom, "
    "search_name, search_word2, search_last, search_email"
)
_REJECT_STAGE = """
    create temp table contact_import_reject_stage (
        row_number bigint not null, reason text not null, detail text, cells jsonb not null
    ) on commit drop
"""
_INSERT_REJECTED = text(
    """
    insert into contact_import_rows (tenant_id, import_id, row_number, reason, detail, cells)
    select :tenant_id, :import_id, row_number, reason, detail, cells
    from contact_import_reject_stage
    """
)
# The chunk's tags (collected while parsing: a few names, not a row each).
_ENSURE_TAGS = text(
    """
    insert into tags (id, tenant_id, name)
    select gen_random_uuid(), :tenant_id, min(t.name)
    from unnest(cast(:names as text[])) as t(name)
    group by lower(t.name)
    on conflict (tenant_id, lower(name)) do nothing
    """
)
# A chunk that is not the import's last may commit without waiting for its WAL to reach the
# disk: were it lost in a crash, the import's progress (committed with it) would be lost too,
# and the resumed run would do the chunk again. The last chunk's commit (the import's
# completion) stays durable.
_RELAXED_COMMIT = "set local synchronous_commit = off"
# One statement per chunk. The first row of each phone in the chunk takes the phone for the
# import unless an earlier chunk (or an earlier run of this chunk that committed) took it: the
# others are duplicates in the file. A taken phone on the suppression list is rejected as
# suppressed (never created, never updated). The rest are inserted, or update an existing
# contact field by field (empty cells keep what is there; custom fields merge) — never its
# basis, consent state or opt-out, and never an opted-out contact: an import re-activates or
# re-consents no one. A new contact gets its ledger entry (basis recorded, with the
# import as provenance); tags are linked. The rejected rows are returned (the caller stores
# them with their cells, in the same transaction). Rows are written in id order (see
# ``_ordered_ids``).
# Why a row per taken phone, rather than looking each staged phone up among the contacts this
# import created: ``insert … on conflict`` always probes its unique index, while a lookup
# subquery is planned from statistics — with a tenant still small in them (a first import),
# PostgreSQL may scan all of the tenant's contacts once per chunk, or per row. (Tried: marking
# the contacts an import creates and probing contacts by phone in a scalar subquery, to write
# a taken row only for the other phones — 20% less database time, until a tenant missing from
# the statistics made the planner probe through another tenant-led index: 20 times slower.)
_CHUNK_HEAD = f"""
    with firsts as (
        select distinct on (phone_e164) row_number, phone_e164
        from contact_import_stage order by phone_e164, row_number
    ), taken as (
        insert into contact_import_rows (id, tenant_id, import_id, row_number, phone_e164)
        select {_id("taken", "f.phone_e164")}, :tenant_id, :import_id, f.row_number,
               f.phone_e164
        from firsts f order by f.phone_e164
        on conflict (tenant_id, import_id, phone_e164) where reason is null do nothing
        returning row_number
    ), judged as (
        select s.*, t.row_number is not null as fresh,
               t.row_number is not null and exists (
                   select 1 from suppressions x
                   where x.tenant_id = :tenant_id and x.phone_hash = s.phone_hash
               ) as suppressed
        from contact_import_stage s left join taken t on t.row_number = s.row_number
    ), up as (
        insert into contacts as c (
            id, tenant_id, name, phone_e164, email, language, notes, custom_fields,
            legal_basis, li_assessment_ref, consent_state, provenance_source, provenance_at,
            provenance_note, recorded_by, search_name, search_word2, search_last, search_email
        )
        select {_id("contact", "s.phone_e164")}, :tenant_id, s.name, s.phone_e164, s.email,
               s.language, s.notes, s.custom, s.basis,
               case when s.basis = 'legitimate_interest' then :li_ref end,
               case when s.basis = 'consent' then 'granted' else 'none' end,
               :source, :now, :note, :user_id,
               s.search_name, s.search_word2, s.search_last, s.search_email
        from judged s where s.fresh and not s.suppressed
        order by s.phone_e164
"""
_ON_CONFLICT_UPDATE = """
        on conflict (tenant_id, phone_e164) do update set
            name = coalesce(excluded.name, c.name),
            email = coalesce(excluded.email, c.email),
            language = coalesce(excluded.language, c.language),
            notes = coalesce(excluded.notes, c.notes),
            custom_fields = c.custom_fields || excluded.custom_fields,
            -- the keys go with their source: a name (e-mail) given replaces all of its keys
            search_name = coalesce(excluded.search_name, c.search_name),
            search_word2 = case when excluded.name is null then c.search_word2
                                else excluded.search_word2 end,
            search_last = case when excluded.name is null then c.search_last
                               else excluded.search_last end,
            search_email = coalesce(excluded.search_email, c.search_email),
            updated_at = now()
        where c.opted_out_at is null
"""
_ON_CONFLICT_SKIP = """
        on conflict (tenant_id, phone_e164) do nothing
"""
_CHUNK_TAIL = f"""
        returning c.id, c.phone_e164, c.legal_basis, (c.xmax = 0) as inserted
    ), ledger as (
        insert into consent_events
            (id, tenant_id, contact_id, kind, legal_basis, source, detail, actor_user_id)
        select {_id("event", "up.id")}, :tenant_id, up.id, 'basis_recorded', up.legal_basis,
               'import', :ledger_detail, :user_id
        from up where up.inserted
        order by up.id
    ), tagged as (
        insert into contact_tags (id, tenant_id, contact_id, tag_id)
        select {_id("link", "up.id, tg.id")}, :tenant_id, up.id, tg.id
        from up
        join judged s on s.phone_e164 = up.phone_e164 and s.fresh
        cross join lateral unnest(s.tags) as t(name)
        join tags tg on tg.tenant_id = :tenant_id and lower(tg.name) = lower(t.name)
        order by up.id, tg.id
        on conflict (contact_id, tag_id) do nothing
    ), rejected as (
        select row_number,
               case when fresh then 'suppressed' else 'duplicate_in_file' end as reason,
               phone_e164
        from judged where not fresh or suppressed
    )
    select (select count(*) from up where inserted),
           (select count(*) from up where not inserted),
           (select count(*) from judged where fresh and not suppressed),
           array(select row_number from rejected order by row_number),
           array(select reason from rejected order by row_number),
           array(select phone_e164 from rejected order by row_number)
"""
_CHUNK_UPDATE = text(_CHUNK_HEAD + _ON_CONFLICT_UPDATE + _CHUNK_TAIL)
_CHUNK_SKIP = text(_CHUNK_HEAD + _ON_CONFLICT_SKIP + _CHUNK_TAIL)


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- the import ---------------------------------------------------------------------

    async def add(self, imp: ContactImport) -> ContactImport:
        self.session.add(imp)
        await self.session.flush()
        return imp

    async def get(self, import_id: uuid.UUID) -> ContactImport | None:
        return await self.session.get(ContactImport, import_id)

    async def get_for_update(self, import_id: uuid.UUID) -> ContactImport | None:
        stmt = (
            select(ContactImport)
            .where(ContactImport.id == import_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def recent(self, limit: int = 50) -> Sequence[ContactImport]:
        stmt = select(ContactImport).order_by(ContactImport.created_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def request_cancel(self, import_id: uuid.UUID) -> None:
        await self.session.execute(
            update(ContactImport)
            .where(ContactImport.id == import_id)
            .values(cancel_requested=True, updated_at=func.now())
        )

    # --- the file ------------------------------------------------------------------------

    async def add_part(
        self, tenant_id: uuid.UUID, import_id: uuid.UUID, seq: int, data: bytes
    ) -> None:
        # A Core insert: the part is not kept in the session (a 200 MB upload stays out of
        # memory but for the part being written).
        await self.session.execute(
            insert(ContactImportPart).values(
                id=uuid.uuid4(), tenant_id=tenant_id, import_id=import_id, seq=seq, data=data
            )
        )

    async def part(self, import_id: uuid.UUID, seq: int) -> bytes | None:
        stmt = select(ContactImportPart.data).where(
            ContactImportPart.import_id == import_id, ContactImportPart.seq == seq
        )
        data: bytes | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return data

    async def drop_file_and_keys(self, import_id: uuid.UUID) -> None:
        """After the import ends: the file and the phones it took are no longer needed (the
        rejected rows stay for download)."""
        await self.session.execute(
            delete(ContactImportPart).where(ContactImportPart.import_id == import_id)
        )
        await self.session.execute(
            delete(ContactImportRow).where(
                ContactImportRow.import_id == import_id, ContactImportRow.reason.is_(None)
            )
        )

    # --- rejected rows --------------------------------------------------------------------

    async def rejected_page(
        self, import_id: uuid.UUID, after: int, limit: int
    ) -> Sequence[tuple[int, str, str | None, list[str] | None]]:
        stmt = (
            select(
                ContactImportRow.row_number,
                ContactImportRow.reason,
                ContactImportRow.detail,
                ContactImportRow.cells,
            )
            .where(
                ContactImportRow.import_id == import_id,
                ContactImportRow.reason.is_not(None),
                ContactImportRow.row_number > after,
            )
            .order_by(ContactImportRow.row_number)
            .limit(limit)
        )
        rows = (await self.session.execute(stmt)).all()
        return [(r[0], str(r[1]), r[2], r[3]) for r in rows]

    # --- one chunk, set-based ------------------------------------------------------------

    async def _copy(self, sql: str, payload: str) -> None:
        conn = await self.session.connection()
        raw = (await conn.get_raw_connection()).driver_connection
        if raw is None:  # pragma: no cover - a pooled connection always has its driver's
            raise RuntimeError("no driver connection")
        async with raw.cursor() as cur, cur.copy(sql) as copy:
            await copy.write(payload.encode())

    async def prepare_chunk(self, *, durable: bool) -> None:
        """The chunk's staging tables (for ``upsert_chunk`` and ``add_rejected``), in one
        round trip (statements without parameters go as one simple query). ``durable=False``:
        the transaction's commit need not wait for the disk (see ``_RELAXED_COMMIT``)."""
        statements = (
            [_STAGE, _REJECT_STAGE] if durable else [_RELAXED_COMMIT, _STAGE, _REJECT_STAGE]
        )
        await self.session.execute(text(";".join(statements)))

    async def add_rejected(self, tenant_id: uuid.UUID, import_id: uuid.UUID, payload: str) -> None:
        """Rejected rows, as ``reject_line`` lines (after ``prepare_chunk``)."""
        if not payload:
            return
        await self._copy(
            "copy contact_import_reject_stage (row_number, reason, detail, cells) from stdin",
            payload,
        )
        await self.session.execute(
            _INSERT_REJECTED, {"tenant_id": tenant_id, "import_id": import_id}
        )

    async def upsert_chunk(
        self,
        *,
        tenant_id: uuid.UUID,
        import_id: uuid.UUID,
        payload: str,
        tags: Sequence[str],
        on_duplicate: str,
        source: str,
        note: str,
        ledger_detail: str,
        li_ref: str | None,
        user_id: uuid.UUID | None,
        now: datetime,
    ) -> ChunkOutcome:
        """Candidates (``stage_line`` lines, carrying ``tags`` between them) into contacts,
        set-based, in one statement (after ``prepare_chunk``). The rows it rejects come back
        in the outcome, for ``add_rejected``."""
        if not payload:
            return ChunkOutcome()
        await self._copy(f"copy contact_import_stage ({STAGE_COLUMNS}) from stdin", payload)
        ids = {"tenant_id": tenant_id, "import_id": import_id}
        if tags:
            await self.session.execute(_ENSURE_TAGS, {**ids, "names": list(tags)})
        statement = _CHUNK_UPDATE if on_duplicate == "update" else _CHUNK_SKIP
        params: dict[str, object] = {
            **ids,
            "li_ref": li_ref,
            "source": source,
            "now": now,
            "note": note,
            "user_id": user_id,
            "ledger_detail": ledger_detail,
        }
        for kind in ("taken", "contact", "event", "link"):
            params[f"{kind}_prefix"], params[f"{kind}_from"] = _ordered_ids()
        row = (await self.session.execute(statement, params)).one()
        imported, updated, fresh = int(row[0]), int(row[1]), int(row[2])
        rejected = tuple(
            RejectedInDb(int(n), str(reason), str(phone))
            for n, reason, phone in zip(row[3], row[4], row[5], strict=True)
        )
        return ChunkOutcome(
            imported=imported,
            updated=updated,
            skipped=fresh - imported - updated,
            duplicates=sum(1 for r in rejected if r.reason == "duplicate_in_file"),
            suppressed=sum(1 for r in rejected if r.reason == "suppressed"),
            rejected=rejected,
        )

    # --- maintenance (CLI) -----------------------------------------------------------------

    async def tenant_id_by_slug(self, slug: str) -> uuid.UUID | None:
        """For an admin session only (the CLI names a tenant by slug before any context)."""
        stmt = select(Tenant.id).where(Tenant.slug == slug)
        found: uuid.UUID | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


async def iter_parts(session: AsyncSession, import_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The stored file, part by part, in order."""
    repo = ImportRepository(session)
    seq = 0
    while (data := await repo.part(import_id, seq)) is not None:
        yield data
        seq += 1
