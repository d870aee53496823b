"""Queries of CSV imports: the import row, its file parts, its judged rows, and the set-based
chunk upsert into contacts (COPY into a temporary staging table, then one statement).

Every statement runs as ``mirage_app`` under the tenant's RLS context, like any other
repository: the staging table is temporary (``ON COMMIT DROP``), so nothing of a tenant stays
on a pooled connection.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.contacts.rows import Candidate, Reason, RowError
from mirage.models.contact_imports import ContactImport, ContactImportPart, ContactImportRow
from mirage.models.tenancy import Tenant


@dataclass(frozen=True)
class StagedRow:
    """A candidate ready for COPY: its phone's suppression hash and its cells (for the
    rejected-rows download if it turns out to be a duplicate or suppressed)."""

    candidate: Candidate
    phone_hash: str
    cells: Sequence[str]


@dataclass(frozen=True)
class RejectedRow:
    error: RowError
    cells: Sequence[str]


@dataclass(frozen=True)
class ChunkOutcome:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    duplicates: int = 0
    suppressed: int = 0


_STAGE = text(
    """
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
        cells jsonb not null,
        fresh boolean not null default false,
        suppressed boolean not null default false
    ) on commit drop
    """
)
_REJECT_STAGE = text(
    """
    create temp table contact_import_reject_stage (
        row_number bigint not null, reason text not null, detail text, cells jsonb not null
    ) on commit drop
    """
)
_INSERT_REJECTED = text(
    """
    insert into contact_import_rows (tenant_id, import_id, row_number, reason, detail, cells)
    select :tenant_id, :import_id, row_number, reason, detail, cells
    from contact_import_reject_stage
    """
)
_STAGE_COLUMNS = (
    "row_number, phone_e164, phone_hash, basis, name, email, language, notes, tags, custom, cells"
)

# The first row of each phone in this chunk takes the phone for the import, unless an earlier
# chunk (or an earlier run of this chunk that committed) took it: the others are duplicates.
_TAKE_PHONES = text(
    """
    with firsts as (
        select distinct on (phone_e164) row_number, phone_e164
        from contact_import_stage order by phone_e164, row_number
    ), taken as (
        insert into contact_import_rows (tenant_id, import_id, row_number, phone_e164)
        select :tenant_id, :import_id, row_number, phone_e164 from firsts
        on conflict (tenant_id, import_id, phone_e164) where reason is null do nothing
        returning row_number
    )
    update contact_import_stage s set fresh = true from taken t where s.row_number = t.row_number
    """
)
_MARK_SUPPRESSED = text(
    """
    update contact_import_stage s set suppressed = true
    where s.fresh and exists (
        select 1 from suppressions x
        where x.tenant_id = :tenant_id and x.phone_hash = s.phone_hash
    )
    """
)
_REJECT_STAGED = text(
    """
    insert into contact_import_rows
        (tenant_id, import_id, row_number, phone_e164, reason, detail, cells)
    select :tenant_id, :import_id, row_number, null,
           case when fresh then 'suppressed' else 'duplicate_in_file' end,
           phone_e164, cells
    from contact_import_stage where not fresh or suppressed
    returning reason
    """
)
_ENSURE_TAGS = text(
    """
    insert into tags (id, tenant_id, name)
    select gen_random_uuid(), :tenant_id, min(t.name)
    from contact_import_stage s cross join lateral unnest(s.tags) as t(name)
    where s.fresh and not s.suppressed
    group by lower(t.name)
    on conflict (tenant_id, lower(name)) do nothing
    """
)
_UPSERT_HEAD = """
    with up as (
        insert into contacts as c (
            id, tenant_id, name, phone_e164, email, language, notes, custom_fields,
            legal_basis, li_assessment_ref, consent_state, provenance_source, provenance_at,
            provenance_note, recorded_by
        )
        select gen_random_uuid(), :tenant_id, s.name, s.phone_e164, s.email, s.language,
               s.notes, s.custom, s.basis,
               case when s.basis = 'legitimate_interest' then :li_ref end,
               case when s.basis = 'consent' then 'granted' else 'none' end,
               :source, :now, :note, :user_id
        from contact_import_stage s where s.fresh and not s.suppressed
        order by s.phone_e164
"""
# An existing contact is updated field by field (empty cells keep what is there; custom
# fields merge), never its basis, consent state or opt-out: an import never re-activates or
# re-consents anyone. Opted-out contacts are left alone altogether.
_ON_CONFLICT_UPDATE = """
        on conflict (tenant_id, phone_e164) do update set
            name = coalesce(excluded.name, c.name),
            email = coalesce(excluded.email, c.email),
            language = coalesce(excluded.language, c.language),
            notes = coalesce(excluded.notes, c.notes),
            custom_fields = c.custom_fields || excluded.custom_fields,
            updated_at = now()
        where c.opted_out_at is null
"""
_ON_CONFLICT_SKIP = """
        on conflict (tenant_id, phone_e164) do nothing
"""
_UPSERT_TAIL = """
        returning c.id, c.phone_e164, c.legal_basis, (c.xmax = 0) as inserted
    ), ledger as (
        insert into consent_events
            (id, tenant_id, contact_id, kind, legal_basis, source, detail, actor_user_id)
        select gen_random_uuid(), :tenant_id, up.id, k.kind, up.legal_basis,
               'import', :ledger_detail, :user_id
        from up cross join (values ('basis_recorded'), ('consent_granted')) as k(kind)
        where up.inserted and (k.kind = 'basis_recorded' or up.legal_basis = 'consent')
    ), tagged as (
        insert into contact_tags (id, tenant_id, contact_id, tag_id)
        select gen_random_uuid(), :tenant_id, up.id, tg.id
        from up
        join contact_import_stage s on s.phone_e164 = up.phone_e164 and s.fresh
        cross join lateral unnest(s.tags) as t(name)
        join tags tg on tg.tenant_id = :tenant_id and lower(tg.name) = lower(t.name)
        on conflict (contact_id, tag_id) do nothing
    )
    select count(*) filter (where inserted), count(*) filter (where not inserted) from up
"""
_UPSERT_UPDATE = text(_UPSERT_HEAD + _ON_CONFLICT_UPDATE + _UPSERT_TAIL)
_UPSERT_SKIP = text(_UPSERT_HEAD + _ON_CONFLICT_SKIP + _UPSERT_TAIL)


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
        self.session.add(
            ContactImportPart(tenant_id=tenant_id, import_id=import_id, seq=seq, data=data)
        )
        await self.session.flush()

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

    async def _raw(self) -> Any:
        conn = await self.session.connection()
        return (await conn.get_raw_connection()).driver_connection

    async def copy_rejected(
        self, tenant_id: uuid.UUID, import_id: uuid.UUID, rejected: Sequence[RejectedRow]
    ) -> None:
        if not rejected:
            return
        # COPY cannot write into a table under row-level security: COPY into a temporary
        # table, then one INSERT … SELECT that the policy checks.
        await self.session.execute(_REJECT_STAGE)
        raw = await self._raw()
        sql = "copy contact_import_reject_stage (row_number, reason, detail, cells) from stdin"
        async with raw.cursor() as cur, cur.copy(sql) as copy:
            for r in rejected:
                await copy.write_row(
                    (
                        r.error.number,
                        r.error.reason.value,
                        r.error.detail[:200] or None,
                        json.dumps(list(r.cells), ensure_ascii=False),
                    )
                )
        await self.session.execute(
            _INSERT_REJECTED, {"tenant_id": tenant_id, "import_id": import_id}
        )

    async def upsert_chunk(
        self,
        *,
        tenant_id: uuid.UUID,
        import_id: uuid.UUID,
        staged: Sequence[StagedRow],
        on_duplicate: str,
        source: str,
        note: str,
        ledger_detail: str,
        li_ref: str | None,
        user_id: uuid.UUID | None,
        now: datetime,
    ) -> ChunkOutcome:
        if not staged:
            return ChunkOutcome()
        await self.session.execute(_STAGE)
        raw = await self._raw()
        sql = f"copy contact_import_stage ({_STAGE_COLUMNS}) from stdin"
        async with raw.cursor() as cur, cur.copy(sql) as copy:
            for s in staged:
                c = s.candidate
                await copy.write_row(
                    (
                        c.number,
                        c.phone_e164,
                        s.phone_hash,
                        c.basis,
                        c.name,
                        c.email,
                        c.language,
                        c.notes,
                        list(c.tags),
                        json.dumps(c.custom, ensure_ascii=False),
                        json.dumps(list(s.cells), ensure_ascii=False),
                    )
                )
        ids = {"tenant_id": tenant_id, "import_id": import_id}
        await self.session.execute(_TAKE_PHONES, ids)
        await self.session.execute(_MARK_SUPPRESSED, ids)
        reasons = (await self.session.execute(_REJECT_STAGED, ids)).scalars().all()
        duplicates = sum(1 for r in reasons if r == Reason.DUPLICATE_IN_FILE)
        suppressed = len(reasons) - duplicates
        await self.session.execute(_ENSURE_TAGS, ids)
        statement = _UPSERT_UPDATE if on_duplicate == "update" else _UPSERT_SKIP
        row = (
            await self.session.execute(
                statement,
                {
                    **ids,
                    "li_ref": li_ref,
                    "source": source,
                    "now": now,
                    "note": note,
                    "user_id": user_id,
                    "ledger_detail": ledger_detail,
                },
            )
        ).one()
        imported, updated = int(row[0]), int(row[1])
        fresh = len(staged) - duplicates - suppressed
        return ChunkOutcome(
            imported=imported,
            updated=updated,
            skipped=fresh - imported - updated,
            duplicates=duplicates,
            suppressed=suppressed,
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
