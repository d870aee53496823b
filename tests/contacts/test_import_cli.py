"""`mirage contacts import … --json` and `mirage contacts export`, as a process against the
test database (the same code path as the API's import, run synchronously)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path

import pytest

from mirage.db.urls import RoleUrls
from tests.conftest import TenantFixture
from tests.contacts.import_helpers import scalar

FIXTURES = Path(__file__).parent / "fixtures"


async def mirage(role_urls: RoleUrls, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ)
    env["MIRAGE_DATABASE_URL"] = role_urls.bootstrap.render_as_string(hide_password=False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mirage",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_import_json_summary_and_export(
    role_urls: RoleUrls, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    code, out, err = await mirage(
        role_urls,
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
    assert code == 0, err
    summary = json.loads(out)
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

    # Again with skip: everything already there is left alone.
    code, out, err = await mirage(
        role_urls,
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
    )
    assert code == 0, err
    again = json.loads(out)
    assert (again["imported"], again["updated"], again["skipped"]) == (0, 0, 8)

    code, out, err = await mirage(
        role_urls, "contacts", "export", "--tenant", tenant_a.slug, "--json"
    )
    assert code == 0, err
    exported = json.loads(out)
    assert len(exported) == 8
    assert {"+5511987654321", "+16502530000"} <= {c["phone_e164"] for c in exported}
    assert all({"cli", "feira"} <= set(c["tags"]) for c in exported)

    target = tmp_path / "contatos.csv"
    code, out, err = await mirage(
        role_urls, "contacts", "export", "--tenant", tenant_a.slug, "--csv", "--out", str(target)
    )
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(table) == 8
    assert table[0]["legal_basis"] == "legitimate_interest"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "no-such-tenant"], "no tenant"),
        (["--map", "Celular"], "COLUMN=FIELD"),
        (["--map", "Nope=phone"], "no column"),
        (["--map", "Nome=shoe"], "unknown field"),
        (["--basis", "maybe"], "--basis"),
        (["--on-duplicate", "merge"], "--on-duplicate"),
    ],
)
async def test_import_errors_are_clear(
    role_urls: RoleUrls, tenant_a: TenantFixture, args: list[str], message: str
) -> None:
    base = ["contacts", "import", str(FIXTURES / "messy_excel_ptbr.csv"), "--basis", "consent"]
    if "--tenant" not in args:
        base += ["--tenant", tenant_a.slug]
    code, out, err = await mirage(role_urls, *base, *args)
    assert code == 2, (out, err)
    assert message in err
    assert "Traceback" not in err
