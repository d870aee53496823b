"""`mirage contacts import … --json` and `mirage contacts export`, as processes against the
test database (the same code path as the API's import, run synchronously). The first import
runs as `python -m mirage`; the later commands and the error cases each share one process
(tests/clirun.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from mirage.db.urls import RoleUrls
from tests.clirun import CliResult, mirage, mirage_batch, mirage_env
from tests.conftest import TenantFixture, make_tenant
from tests.contacts.import_helpers import scalar

FIXTURES = Path(__file__).parent / "fixtures"


def _env(role_urls: RoleUrls) -> dict[str, str]:
    return mirage_env(role_urls.bootstrap.render_as_string(hide_password=False))


async def test_import_json_summary_and_export(
    role_urls: RoleUrls, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    env = _env(role_urls)
    first = await mirage(
        env,
        "contacts",
        "import",
        str(FIXTURES / "messy_excel_ptbr.csv"),
        "--tenant",
        tenant_a.slug,
        "--map",
        "data de cadastro=ignore",
        "--map",
        "Cidade=custom.city",
        "--tag",
        "cli",
        "--tag",
        "feira",
        "--basis",
        "legitimate_interest",
        "--source",
        "feira 2026",
        "--json",
    )
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    assert {k: summary[k] for k in ("rows", "imported", "updated", "duplicates", "invalid")} == {
        "rows": 15,
        "imported": 8,
        "updated": 0,
        "duplicates": 3,
        "invalid": 4,
    }
    assert summary["invalid_by_reason"] == {
        "invalid_email": 1,
        "invalid_phone": 2,
        "missing_phone": 1,
    }
    assert summary["state"] == "completed"
    assert (
        await scalar(
            tenant_a,
            "select count(*) from contacts where legal_basis = 'legitimate_interest' "
            "and provenance_source = 'feira 2026'",
        )
        == 8
    )
    # --map renamed a column's custom field (four rows have a city) and dropped another.
    assert await scalar(tenant_a, "select count(*) from contacts where custom_fields ? 'city'") == 4
    assert (
        await scalar(
            tenant_a, "select count(*) from contacts where custom_fields ? 'data_de_cadastro'"
        )
        == 0
    )

    # Again with skip: everything already there is left alone; then both exports. The three
    # commands run in order in one process.
    target = tmp_path / "contatos.csv"
    again, as_json, as_csv = await mirage_batch(
        env,
        [
            "contacts",
            "import",
            str(FIXTURES / "messy_utf8_bom.csv"),
            "--tenant",
            tenant_a.slug,
            "--basis",
            "consent",
            "--on-duplicate",
            "skip",
            "--json",
        ],
        ["contacts", "export", "--tenant", tenant_a.slug, "--json"],
        ["contacts", "export", "--tenant", tenant_a.slug, "--csv", "--out", str(target)],
    )
    assert again.code == 0, again.err
    skipped = json.loads(again.out)
    assert (skipped["imported"], skipped["updated"], skipped["skipped"]) == (0, 0, 8)

    assert as_json.code == 0, as_json.err
    exported = json.loads(as_json.out)
    assert len(exported) == 8
    assert {"+5511987654321", "+16502530000"} <= {c["phone_e164"] for c in exported}
    assert all({"cli", "feira"} <= set(c["tags"]) for c in exported)

    assert as_csv.code == 0, as_csv.err
    table = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(table) == 8
    assert table[0]["legal_basis"] == "legitimate_interest"


ERROR_CASES = [
    (["--tenant", "no-such-tenant"], "no tenant"),
    (["--map", "Celular"], "COLUMN=FIELD"),
    (["--map", "Nope=phone"], "no column"),
    (["--map", "Nome=shoe"], "unknown field"),
    (["--basis", "maybe"], "--basis"),
    (["--on-duplicate", "merge"], "--on-duplicate"),
]


@pytest.fixture(scope="module")
async def error_runs(database: object, role_urls: RoleUrls) -> list[CliResult]:
    """Every error case's command, run one after the other in one process. (``database``:
    the tenant factory needs it, and no earlier test on this worker may have set it up.)"""
    tenant = await make_tenant()
    commands = []
    for args, _ in ERROR_CASES:
        base = ["contacts", "import", str(FIXTURES / "messy_excel_ptbr.csv"), "--basis", "consent"]
        if "--tenant" not in args:
            base += ["--tenant", tenant.slug]
        commands.append([*base, *args])
    return await mirage_batch(_env(role_urls), *commands)


@pytest.mark.parametrize(("case", "message"), [(i, m) for i, (_, m) in enumerate(ERROR_CASES)])
async def test_import_errors_are_clear(
    error_runs: list[CliResult], case: int, message: str
) -> None:
    run = error_runs[case]
    assert run.code == 2, (ERROR_CASES[case][0], run.out, run.err)
    assert message in run.err
    assert "Traceback" not in run.err
