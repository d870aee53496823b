"""How a chunk is written: the rows the database rejects (a duplicate of a row in an earlier
chunk, a suppressed number) keep their own cells in the rejected-rows download, and the ids a
chunk writes are time-ordered (version 7), counted up row by row."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from mirage.contacts import imports_service as svc
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.contacts.import_helpers import execute, imported, principal, scalar

pytestmark = pytest.mark.usefixtures("database")

FILE = (
    "nome;telefone;cidade\n"
    "Ana;11987654321;Recife\n"  # 1
    "Bia;11987654322;Natal\n"  # 2
    "Caio;(11) 98765-4323;Belém\n"  # 3: suppressed
    "Ana de novo;+55 11 98765-4321;Olinda\n"  # 4: duplicate of 1 (an earlier chunk)
    "Duda;11987654324;\n"  # 5
    "Bia outra vez;011 98765 4322;Sobral\n"  # 6: duplicate of 2 (an earlier chunk)
    "Eva;11987654324;Crato\n"  # 7: duplicate of 5 (same chunk)
).encode()


async def _rejected(t: TenantFixture, import_id: uuid.UUID) -> list[list[str]]:
    with tenant_context(t.tenant_id, t.user_id):
        async with session_scope() as s:
            out = await svc.rejected_csv(s, principal(t), import_id)
    return list(csv.reader(io.StringIO(out.read().decode("utf-8-sig")), delimiter=";"))[1:]


@pytest.mark.parametrize("chunk_rows", [2, 3, svc.CHUNK_ROWS])
async def test_rows_rejected_by_the_database_keep_their_cells(
    tenant_a: TenantFixture, chunk_rows: int
) -> None:
    await execute(
        tenant_a,
        "insert into suppressions (id, tenant_id, phone_hash, reason, source) "
        "values (gen_random_uuid(), :t, :h, 'opt_out', 'test')",
        t=tenant_a.tenant_id,
        h=svc.suppression_hash("+5511987654323"),
    )
    imp = await imported(tenant_a, FILE, chunk_rows=chunk_rows)
    assert (imp.imported, imp.duplicates, imp.suppressed, imp.invalid) == (3, 3, 1, 0)
    assert await _rejected(tenant_a, imp.id) == [
        ["3", "suppressed", "+5511987654323", "Caio", "(11) 98765-4323", "Belém"],
        ["4", "duplicate_in_file", "+5511987654321", "Ana de novo", "'+55 11 98765-4321", "Olinda"],
        ["6", "duplicate_in_file", "+5511987654322", "Bia outra vez", "011 98765 4322", "Sobral"],
        ["7", "duplicate_in_file", "+5511987654324", "Eva", "11987654324", "Crato"],
    ]
    # The first row of each number won.
    assert (
        await scalar(
            tenant_a,
            "select string_agg(name || '/' || coalesce(custom_fields->>'cidade', ''), ',' "
            "order by phone_e164) from contacts",
        )
        == "Ana/Recife,Bia/Natal,Duda/"
    )


async def test_a_chunk_writes_time_ordered_ids(tenant_a: TenantFixture) -> None:
    rows = "".join(f"Pessoa {i};1198765{i:04d};\n" for i in range(50))
    await imported(tenant_a, ("nome;telefone;tags\n" + rows).encode(), tags=("feira",))
    for table in ("contacts", "consent_events", "contact_tags"):
        ids = [
            uuid.UUID(str(v))
            for v in (await scalar(tenant_a, f"select array_agg(id order by id) from {table}"))
        ]
        assert len(ids) == len(set(ids)) == 50, table
        assert {i.version for i in ids} == {7}, table
    # Contacts are written in number order, their ids counted up in that order.
    by_phone = await scalar(tenant_a, "select array_agg(id order by phone_e164) from contacts")
    assert list(by_phone) == sorted(by_phone)


AGAIN = (
    b"nome;telefone\n"
    b"Ana;11987654321\n"  # 1: existing contact → updated
    b"Bia;11987654322\n"  # 2: existing, opted out → skipped
    b"Caio;11987654323\n"  # 3: suppressed
    b"Duda;11987654324\n"  # 4: new
    b"Ana 2;11987654321\n"  # 5-8: each a duplicate of an earlier row, in a later chunk
    b"Bia 2;11987654322\n"
    b"Caio 2;11987654323\n"
    b"Duda 2;11987654324\n"
)


@pytest.mark.parametrize("chunk_rows", [1, 4, svc.CHUNK_ROWS])
async def test_the_first_row_wins_whatever_it_did(tenant_a: TenantFixture, chunk_rows: int) -> None:
    """A number's first row took it — by creating, updating or skipping a contact, or by being
    suppressed — so its later rows are duplicates, in any chunk; a contact created by an
    earlier import is no duplicate of this one."""
    await imported(tenant_a, b"nome;telefone\nAna;11987654321\nBia;11987654322\n")
    await execute(tenant_a, "update contacts set opted_out_at = now() where name = 'Bia'")
    await execute(
        tenant_a,
        "insert into suppressions (id, tenant_id, phone_hash, reason, source) "
        "values (gen_random_uuid(), :t, :h, 'manual', 'test')",
        t=tenant_a.tenant_id,
        h=svc.suppression_hash("+5511987654323"),
    )
    imp = await imported(tenant_a, AGAIN, chunk_rows=chunk_rows)
    assert (imp.imported, imp.updated, imp.skipped, imp.suppressed, imp.duplicates) == (
        1,
        1,
        1,
        1,
        4,
    )
    assert [r[:2] for r in await _rejected(tenant_a, imp.id)] == [
        ["3", "suppressed"],
        ["5", "duplicate_in_file"],
        ["6", "duplicate_in_file"],
        ["7", "duplicate_in_file"],
        ["8", "duplicate_in_file"],
    ]
    assert (
        await scalar(tenant_a, "select string_agg(name, ',' order by phone_e164) from contacts")
        == "Ana,Bia,Duda"
    )
    # Only the first rows' updates happened; the file's phones are forgotten at the end.
    assert (
        await scalar(tenant_a, "select count(*) from contact_import_rows where reason is null") == 0
    )


@pytest.mark.parametrize("chunk_rows", [1, 4])
async def test_the_first_row_wins_in_skip_mode_too(
    tenant_a: TenantFixture, chunk_rows: int
) -> None:
    """With ``skip``, an existing contact's first row is skipped (nothing written to it), and
    its later rows are still duplicates."""
    await imported(tenant_a, b"nome;telefone\nAna;11987654321\nBia;11987654322\n")
    imp = await imported(tenant_a, AGAIN, chunk_rows=chunk_rows, on_duplicate="skip")
    assert (imp.imported, imp.updated, imp.skipped, imp.suppressed, imp.duplicates) == (
        2,
        0,
        2,
        0,
        4,
    )
    assert (
        await scalar(tenant_a, "select string_agg(name, ',' order by phone_e164) from contacts")
        == "Ana,Bia,Caio,Duda"
    )
