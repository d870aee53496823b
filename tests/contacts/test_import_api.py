"""/api/v1/contact-imports end to end: upload, preview, start, the job run by a worker,
progress, rejected rows; and every bad input answered with a 4xx, never a 500."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from mirage.config import get_settings
from mirage.contacts import imports_service as svc
from mirage.kit import jobs
from tests.conftest import TenantFixture, make_token
from tests.contacts.import_helpers import scalar

FIXTURES = Path(__file__).parent / "fixtures"
MESSY = (FIXTURES / "messy_excel_ptbr.csv").read_bytes()
BASE = "/api/v1/contact-imports"


async def _auth(t: TenantFixture) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(t)}"}


async def _upload(
    client: httpx.AsyncClient, h: dict[str, str], data: bytes, name: str = "contatos.csv"
) -> httpx.Response:
    return await client.post(BASE, headers=h, files={"file": (name, data, "text/csv")})


async def _run_worker() -> None:
    """What a `mirage worker` does with the queued import jobs (then returns)."""
    await jobs.app.run_worker_async(
        queues=["imports"], wait=False, install_signal_handlers=False, concurrency=1
    )


async def test_end_to_end_with_exact_counts(
    client: httpx.AsyncClient, tenant_a: TenantFixture, no_background_jobs: None
) -> None:
    h = await _auth(tenant_a)
    r = await _upload(client, h, MESSY)
    assert r.status_code == 201, r.text
    body = r.json()
    imp = body["import"]
    assert (imp["state"], imp["encoding"], imp["delimiter"]) == ("previewed", "cp1252", ";")
    assert imp["header"][:3] == ["Nome", "Celular", "E-mail"]
    assert imp["mapping"]["Celular"] == "phone"
    assert imp["mapping"]["Cidade"] == "custom.cidade"
    assert body["rows"][0][:2] == ["João da Silva", "(11) 98765-4321"]
    assert len(body["rows"]) == svc.PREVIEW_ROWS
    assert "custom.<key>" in body["fields"]
    import_id = imp["id"]

    r = await client.get(f"{BASE}/{import_id}/preview", params={"rows": 3}, headers=h)
    assert r.status_code == 200 and len(r.json()["rows"]) == 3

    mapping = dict(imp["mapping"]) | {"Data de cadastro": "ignore"}
    r = await client.post(
        f"{BASE}/{import_id}/start",
        headers=h,
        json={"mapping": mapping, "basis": "consent", "tags": ["api"], "source": "feira 2026"},
    )
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "running"

    await _run_worker()
    r = await client.get(f"{BASE}/{import_id}", headers=h)
    got = r.json()
    assert got["state"] == "completed", got
    assert {k: got[k] for k in ("rows", "imported", "updated", "duplicates", "invalid")} == {
        "rows": 15,
        "imported": 8,
        "updated": 0,
        "duplicates": 3,
        "invalid": 4,
    }
    assert got["invalid_by_reason"] == {"invalid_email": 1, "invalid_phone": 2, "missing_phone": 1}
    assert await scalar(tenant_a, "select count(*) from contacts") == 8
    assert (
        await scalar(
            tenant_a, "select count(*) from contacts where provenance_source = 'feira 2026'"
        )
        == 8
    )
    assert (
        await scalar(
            tenant_a, "select count(*) from contacts where custom_fields ? 'data_de_cadastro'"
        )
        == 0
    )

    r = await client.get(f"{BASE}/{import_id}/rejected.csv", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert len(table) == 1 + 7
    assert {row[1] for row in table[1:]} == {
        "duplicate_in_file",
        "invalid_phone",
        "missing_phone",
        "invalid_email",
    }

    r = await client.get(BASE, headers=h)
    assert [i["id"] for i in r.json()] == [import_id]


async def test_cancel_before_start_and_start_twice(
    client: httpx.AsyncClient, tenant_a: TenantFixture, no_background_jobs: None
) -> None:
    h = await _auth(tenant_a)
    first = (await _upload(client, h, MESSY)).json()["import"]["id"]
    r = await client.post(f"{BASE}/{first}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = await client.post(f"{BASE}/{first}/start", headers=h, json={"basis": "consent"})
    assert r.status_code == 409

    second = (await _upload(client, h, MESSY)).json()["import"]["id"]
    assert (
        await client.post(f"{BASE}/{second}/start", headers=h, json={"basis": "consent"})
    ).status_code == 202
    r = await client.post(f"{BASE}/{second}/start", headers=h, json={"basis": "consent"})
    assert r.status_code == 409
    # Running: the cancel is a request the run honours before its next chunk.
    r = await client.post(f"{BASE}/{second}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    await _run_worker()
    r = await client.get(f"{BASE}/{second}", headers=h)
    assert r.json()["state"] == "cancelled"
    assert await scalar(tenant_a, "select count(*) from contacts") == 0


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 422, "empty"),
        (b"   \r\n\r\n", 422, "empty"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, 422, "Excel"),
        ("nome;telefone\n".encode("utf-16"), 422, "UTF-16"),
        (b"%PDF-1.7\n", 422, "PDF"),
    ],
)
async def test_bad_files_are_4xx_with_a_reason(
    client: httpx.AsyncClient, tenant_a: TenantFixture, data: bytes, status: int, words: str
) -> None:
    r = await _upload(client, await _auth(tenant_a), data)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


async def test_too_big_is_413(
    client: httpx.AsyncClient, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "contact_import_max_bytes", 2048)
    data = b"nome;telefone\n" + b"Ana;11987654321\n" * 500
    r = await _upload(client, await _auth(tenant_a), data)
    assert r.status_code == 413, r.text
    assert "larger than" in r.json()["detail"]


async def test_bad_requests_are_4xx(client: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    h = await _auth(tenant_a)
    assert (await client.post(BASE, headers=h)).status_code == 422  # no file
    assert (await client.post(BASE, headers=h, data={"file": "x"})).status_code == 422
    import_id = (await _upload(client, h, MESSY)).json()["import"]["id"]
    cases = [
        ({"mapping": {"Nome": "name"}, "basis": "consent"}, 422, "phone"),
        (
            {"mapping": {"Celular": "phone", "Nope": "name"}, "basis": "consent"},
            422,
            "unknown column",
        ),
        (
            {"mapping": {"Celular": "phone", "Nome": "shoe"}, "basis": "consent"},
            422,
            "unknown field",
        ),
        (
            {"mapping": {"Celular": "phone", "Nome": "custom.Não"}, "basis": "consent"},
            422,
            "custom",
        ),
        ({}, 422, "legal basis"),
        ({"basis": "maybe"}, 422, ""),
        ({"basis": "consent", "on_duplicate": "merge"}, 422, ""),
        ({"basis": "consent", "tags": ["x" * 41]}, 422, ""),
        ({"basis": "consent", "region": "Brasil"}, 422, ""),
        ({"basis": "consent", "surprise": 1}, 422, ""),
    ]
    for body, status, words in cases:
        r = await client.post(f"{BASE}/{import_id}/start", headers=h, json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.text
    assert (
        await client.post(f"{BASE}/{import_id}/start", headers=h, content=b"{")
    ).status_code == 422
    for path in ("", "/preview", "/rejected.csv"):
        assert (await client.get(f"{BASE}/not-a-uuid{path}", headers=h)).status_code == 422
        missing = "00000000-0000-0000-0000-000000000000"
        assert (await client.get(f"{BASE}/{missing}{path}", headers=h)).status_code == 404
    assert (await client.get(f"{BASE}/{import_id}/preview?rows=0", headers=h)).status_code == 422
    assert (await client.get(f"{BASE}/{import_id}/preview?rows=x", headers=h)).status_code == 422


async def test_other_tenants_and_anonymous_see_nothing(
    client: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    import_id = (await _upload(client, await _auth(tenant_a), MESSY)).json()["import"]["id"]
    hb = await _auth(tenant_b)
    for path in ("", "/preview", "/rejected.csv"):
        assert (await client.get(f"{BASE}/{import_id}{path}", headers=hb)).status_code == 404
    assert (
        await client.post(f"{BASE}/{import_id}/start", headers=hb, json={"basis": "consent"})
    ).status_code == 404
    assert (await client.post(f"{BASE}/{import_id}/cancel", headers=hb)).status_code == 404
    assert (await client.get(BASE, headers=hb)).json() == []
    assert (await client.get(f"{BASE}/{import_id}")).status_code == 401
    assert (await _upload(client, {}, MESSY)).status_code == 401
