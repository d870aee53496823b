"""The import run against the real database: exact counts, chunks, suppression, update vs
skip, resumption after a crash, cancel, the rejected-rows CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from mirage.contacts import imports_repository
from mirage.contacts import imports_service as svc
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.models.contact_imports import ImportState
from tests.conftest import TenantFixture
from tests.contacts.import_helpers import (
    execute,
    get,
    imported,
    principal,
    run,
    scalar,
    start,
    upload,
)

pytestmark = pytest.mark.usefixtures("database")
FIXTURES = Path(__file__).parent / "fixtures"
MESSY = (FIXTURES / "messy_excel_ptbr.csv").read_bytes()
EXPECTED = {
    "rows": 15,
    "imported": 8,
    "updated": 0,
    "skipped": 0,
    "duplicates": 3,
    "suppressed": 0,
    "invalid": 4,
    "invalid_by_reason": {"invalid_email": 1, "invalid_phone": 2, "missing_phone": 1},
}


def _counts(imp: object) -> dict[str, object]:
    s = svc.summary(imp)  # type: ignore[arg-type]
    return {k: s[k] for k in EXPECTED}


@pytest.mark.parametrize("chunk_rows", [svc.CHUNK_ROWS, 2, 5])
async def test_messy_file_exact_counts(tenant_a: TenantFixture, chunk_rows: int) -> None:
    imp = await imported(tenant_a, MESSY, chunk_rows=chunk_rows, tags=("importados",))
    assert imp.state == ImportState.COMPLETED
    assert _counts(imp) == EXPECTED
    assert imp.processed == 15
    assert await scalar(tenant_a, "select count(*) from contacts") == 8
    # One basis_recorded per new contact, with the import as provenance.
    assert (
        await scalar(
            tenant_a,
            "select count(*) from consent_events where source = 'import' "
            "and kind = 'basis_recorded' and legal_basis = 'consent' "
            "and detail like '%contatos.csv%'",
        )
        == 8
    )
    assert (
        await scalar(
            tenant_a,
            "select count(*) from contacts where provenance_source = 'import: contatos.csv' "
            "and consent_state = 'granted' and legal_basis = 'consent'",
        )
        == 8
    )
    # The import's tag on all, the file's own tags where given.
    assert (
        await scalar(
            tenant_a,
            "select count(*) from contact_tags ct join tags t on t.id = ct.tag_id "
            "where t.name = 'importados'",
        )
        == 8
    )
    assert (
        await scalar(
            tenant_a,
            "select count(*) from contact_tags ct join tags t on t.id = ct.tag_id "
            "where t.name = 'vip'",
        )
        == 2
    )
    assert (
        await scalar(
            tenant_a,
            "select custom_fields->>'cidade' from contacts where phone_e164='+5511987654321'",
        )
        == "São Paulo"
    )
    # The file and the phones it took are dropped at the end; the rejected rows stay.
    assert await scalar(tenant_a, "select count(*) from contact_import_parts") == 0
    assert (
        await scalar(tenant_a, "select count(*) from contact_import_rows where reason is null") == 0
    )
    assert (
        await scalar(tenant_a, "select count(*) from contact_import_rows where reason is not null")
        == 7
    )


async def test_update_vs_skip(tenant_a: TenantFixture) -> None:
    await imported(tenant_a, b"nome;telefone;cidade\nAna;11987654321;Recife\nBia;11987654322;\n")
    again = b"nome;telefone;cidade\nAna Maria;11 98765-4321;Olinda\nCaio;11987654323;\n"

    skipped = await imported(tenant_a, again, on_duplicate="skip")
    assert (skipped.imported, skipped.updated, skipped.skipped) == (1, 0, 1)
    assert (
        await scalar(tenant_a, "select name from contacts where phone_e164 = '+5511987654321'")
        == "Ana"
    )

    updated = await imported(
        tenant_a,
        again.replace(b"Caio", b"Caio B"),
        on_duplicate="update",
        basis="legitimate_interest",
    )
    assert (updated.imported, updated.updated, updated.skipped) == (0, 2, 0)
    assert (
        await scalar(
            tenant_a,
            "select name || '/' || (custom_fields->>'cidade') || '/' || legal_basis "
            "from contacts where phone_e164 = '+5511987654321'",
        )
        == "Ana Maria/Olinda/consent"
    )  # the basis of an existing contact is never changed
    assert await scalar(tenant_a, "select count(*) from contacts") == 3


async def test_suppressed_numbers_are_never_reactivated(tenant_a: TenantFixture) -> None:
    # A deleted-then-reimported number: only its suppression hash is left.
    await execute(
        tenant_a,
        "insert into suppressions (id, tenant_id, phone_hash, reason, source) "
        "values (gen_random_uuid(), :t, :h, 'opt_out', 'test')",
        t=tenant_a.tenant_id,
        h=svc.suppression_hash("+5511987654321"),
    )
    # An existing opted-out contact.
    await imported(tenant_a, b"telefone\n11987654329\n")
    await execute(tenant_a, "update contacts set opted_out_at = now(), name = 'Old'")

    imp = await imported(
        tenant_a,
        b"nome;telefone\nAna;11987654321\nAna again;(11) 98765-4321\nNew name;11987654329\n",
        on_duplicate="update",
    )
    assert (imp.imported, imp.updated, imp.skipped, imp.suppressed, imp.duplicates) == (
        0,
        0,
        1,
        1,
        1,
    )
    assert (
        await scalar(tenant_a, "select count(*) from contacts where phone_e164 = '+5511987654321'")
        == 0
    )
    assert (
        await scalar(tenant_a, "select name from contacts where phone_e164 = '+5511987654329'")
        == "Old"
    )
    assert await scalar(tenant_a, "select count(*) from contacts where opted_out_at is null") == 0


async def test_rejected_rows_csv(tenant_a: TenantFixture) -> None:
    imp = await imported(tenant_a, MESSY)
    with tenant_context(tenant_a.tenant_id, tenant_a.user_id):
        async with session_scope() as s:
            out = await svc.rejected_csv(s, principal(tenant_a), imp.id)
    text = out.read().decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert table[0] == ["linha", "motivo", "detalhe", *imp.header]
    assert [(r[0], r[1]) for r in table[1:]] == [
        ("3", "duplicate_in_file"),
        ("4", "invalid_phone"),
        ("5", "missing_phone"),
        ("7", "duplicate_in_file"),
        ("10", "invalid_phone"),
        ("13", "invalid_email"),
        ("14", "duplicate_in_file"),
    ]
    assert table[2][2] == "invalid_characters"  # the normalizer's reason
    assert table[2][3:5] == ["Ana", "abc"]


async def test_a_crash_resumes_after_the_last_committed_chunk(tenant_a: TenantFixture) -> None:
    import_id = await upload(tenant_a, MESSY)
    await start(tenant_a, import_id)
    # The process "dies" after two chunks of 4 rows: 8 rows committed.
    assert await run(tenant_a, import_id, chunk_rows=4, stop_after_chunks=2) is None
    mid = await get(tenant_a, import_id)
    assert (mid.state, mid.processed, mid.attempts) == (ImportState.RUNNING, 8, 1)
    # The retried job resumes at row 9; the totals are those of a single run.
    await run(tenant_a, import_id, chunk_rows=4)
    imp = await get(tenant_a, import_id)
    assert imp.state == ImportState.COMPLETED and imp.attempts == 2
    assert _counts(imp) == EXPECTED
    assert await scalar(tenant_a, "select count(*) from contacts") == 8
    # Running the finished job again changes nothing (idempotent).
    await run(tenant_a, import_id)
    assert _counts(await get(tenant_a, import_id)) == EXPECTED


async def test_a_failure_inside_a_chunk_rolls_it_back_and_resumes(
    tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_id = await upload(tenant_a, MESSY)
    await start(tenant_a, import_id)
    real = imports_repository.ImportRepository.upsert_chunk
    calls = 0

    async def flaky(self, **kw):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        result = await real(self, **kw)
        if calls == 2:
            raise ConnectionError("lost the database mid-chunk")
        return result

    monkeypatch.setattr(imports_repository.ImportRepository, "upsert_chunk", flaky)
    with pytest.raises(ConnectionError):
        await run(tenant_a, import_id, chunk_rows=4)
    mid = await get(tenant_a, import_id)
    assert (mid.state, mid.processed) == (ImportState.RUNNING, 4)
    monkeypatch.setattr(imports_repository.ImportRepository, "upsert_chunk", real)
    await run(tenant_a, import_id, chunk_rows=4)
    assert _counts(await get(tenant_a, import_id)) == EXPECTED


async def test_gives_up_cleanly_after_max_attempts(
    tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_id = await upload(tenant_a, MESSY)
    await start(tenant_a, import_id)

    async def broken(self, **kw):  # type: ignore[no-untyped-def]
        raise ConnectionError("down")

    monkeypatch.setattr(imports_repository.ImportRepository, "upsert_chunk", broken)
    for _ in range(svc.MAX_ATTEMPTS):
        with pytest.raises(ConnectionError):
            await run(tenant_a, import_id)
    imp = await get(tenant_a, import_id)
    assert imp.state == ImportState.FAILED
    assert imp.error and "3 attempts" in imp.error
    assert await scalar(tenant_a, "select count(*) from contact_import_parts") == 0


async def test_cancel_between_chunks(tenant_a: TenantFixture) -> None:
    import_id = await upload(tenant_a, MESSY)
    await start(tenant_a, import_id)
    await run(tenant_a, import_id, chunk_rows=4, stop_after_chunks=1)
    with tenant_context(tenant_a.tenant_id, tenant_a.user_id):
        async with session_scope() as s:
            await svc.cancel_import(s, principal(tenant_a), import_id)
    await run(tenant_a, import_id, chunk_rows=4)
    imp = await get(tenant_a, import_id)
    assert (imp.state, imp.processed, imp.rows) == (ImportState.CANCELLED, 4, 4)
    assert imp.finished_at is not None


async def test_a_malformed_file_fails_the_import_with_a_reason(tenant_a: TenantFixture) -> None:
    data = b"nome;telefone\nAna;11987654321\n" + b'Bia;"' + b"x" * 200_000
    imp = await imported(tenant_a, data)
    assert imp.state == ImportState.FAILED
    assert imp.error and "not a valid CSV" in imp.error
