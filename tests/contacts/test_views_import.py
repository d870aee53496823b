"""The CSV import wizard in the dashboard: upload, detected settings and preview, mapping with
the guesses selected, start (with readable refusals), progress and summary, rejected rows,
cancel. The import job runs in a worker started by the test."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
import pytest

from mirage.kit import jobs
from tests.contacts.test_views import Dash, dash, text_of

FIXTURES = Path(__file__).parent / "fixtures"
MESSY = (FIXTURES / "messy_excel_ptbr.csv").read_bytes()


async def _run_worker() -> None:
    await jobs.app.run_worker_async(
        queues=["imports"], wait=False, install_signal_handlers=False, concurrency=1
    )


async def _upload(d: Dash, data: bytes, name: str = "contatos.csv") -> httpx.Response:
    return await d.client.post(
        "/contacts/imports/upload",
        data={"csrf_token": d.csrf},
        files={"file": (name, data, "text/csv")},
    )


def _selected(html: str) -> dict[str, str]:
    """Column → the field its select has selected."""
    out = {}
    for m in re.finditer(
        r'<select id="map-\d+" name="map_\d+" data-column="([^"]*)">(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', m.group(2))
        out[m.group(1)] = chosen.group(1) if chosen else ""
    return out


def _form(html: str) -> dict[str, str]:
    """The mapping form as the page renders it (selects at their selected option)."""
    fields = {}
    for m in re.finditer(
        r'<select id="map-(\d+)" name="(map_\d+)"[^>]*>(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', m.group(3))
        fields[m.group(2)] = chosen.group(1) if chosen else ""
    return fields


async def _state(d: Dash, import_id: str) -> dict[str, object]:
    r = await d.client.get(f"/api/v1/contact-imports/{import_id}", headers=d.api)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_wizard_upload_preview_mapping_run_and_rejected_rows(
    client: httpx.AsyncClient, no_background_jobs: None
) -> None:
    d = await dash(client)
    r = await _upload(d, MESSY, "feira.csv")
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    import_id = url.rsplit("/", 1)[1]
    page = await d.client.get(url)
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Codificação Windows-1252" in text and "Separador ponto e vírgula (;)" in text
    preview = page.text.split('id="preview-table"', 1)[1].split("</table>", 1)[0]
    assert "João da Silva" in preview and "(11) 98765-4321" in preview
    selected = _selected(page.text)
    assert selected["Nome"] == "name" and selected["Celular"] == "phone"
    assert selected["E-mail"] == "email" and selected["Cidade"] == "custom.cidade"

    form = _form(page.text)
    columns = list(selected)
    phone_field = f"map_{columns.index('Celular')}"
    base = {
        **form,
        "basis": "consent",
        "tags": "feira, 2026",
        "source": "Feira 2026",
        "on_duplicate": "update",
        "li_assessment_ref": "",
    }

    # Refusals: readable, nothing started.
    for data, expected in (
        ({**base, phone_field: "ignore"}, "Escolha a coluna que tem o telefone."),
        (
            {**base, f"map_{columns.index('Nome')}": "phone"},
            "Telefone foi escolhido para mais de uma coluna",
        ),
        ({**base, "basis": ""}, "Escolha a base legal destes contatos"),
        ({**base, "basis": "talvez"}, "Base legal: escolha uma opção da lista"),
        ({**base, "tags": "x" * 41}, "Tags: no máximo 20 tags de até 40 caracteres cada."),
        ({**base, "source": "y" * 121}, "Origem: informe no máximo 120 caracteres"),
        (
            {**base, f"map_{columns.index('Nome')}": "custom.Ç"},
            "O mapeamento de colunas não é válido",
        ),
    ):
        r = await d.post(f"/contacts/imports/{import_id}/start", data)
        assert r.status_code == 422, (data, r.status_code)
        assert expected in text_of(r.text), (expected, text_of(r.text)[-1500:])
        assert (await _state(d, import_id))["state"] == "previewed"
    # A refused page keeps what was chosen.
    r = await d.post(f"/contacts/imports/{import_id}/start", {**base, phone_field: "ignore"})
    assert _selected(r.text)["Celular"] == "ignore" and 'value="Feira 2026"' in r.text

    data = {**base, f"map_{columns.index('Data de cadastro')}": "ignore"}
    r = await d.post(f"/contacts/imports/{import_id}/start", data)
    assert r.status_code == 303 and r.headers["location"] == url
    running = await d.client.get(url)
    assert 'sse-connect="/contacts/imports/events?live_since=' in running.text
    assert f'sse-swap="import-{import_id}"' in running.text
    assert "importando" in text_of(running.text)
    assert f'hx-get="/contacts/imports/{import_id}/progress"' in running.text  # polling fallback
    r = await d.post(f"/contacts/imports/{import_id}/start", data)
    assert r.status_code == 422 and "Esta importação já foi iniciada." in text_of(r.text)

    await _run_worker()
    got = await _state(d, import_id)
    assert got["state"] == "completed"
    fragment = await d.client.get(f"/contacts/imports/{import_id}/progress")
    text = text_of(fragment.text)
    assert 'hx-trigger="every' not in fragment.text  # polling stops once finished
    for phrase in (
        "concluída",
        "15 linhas lidas",
        "8 importados (novos)",
        "0 atualizados",
        "3 duplicados no arquivo",
        "4 inválidos",
        "telefone inválido 2",
        "e-mail inválido 1",
        "sem telefone 1",
        "Baixar as 7 linhas rejeitadas (CSV)",
    ):
        assert phrase in text, (phrase, text)
    page = await d.client.get(url)
    summary = text_of(page.text)
    assert "Tags feira, 2026" in summary and "Origem Feira 2026" in summary
    assert "Data de cadastro → Ignorar esta coluna" in summary

    r = await d.client.get(f"/contacts/imports/{import_id}/rejected.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["linha", "motivo", "detalhe", "Nome"]
    reasons = sorted(row[1] for row in rows[1:])
    assert reasons == sorted(
        ["duplicate_in_file"] * 3 + ["invalid_phone"] * 2 + ["invalid_email", "missing_phone"]
    )

    # The contacts are there, with the import's tags and provenance.
    r = await d.client.get("/contacts", params={"q": "joão"})
    assert "1 contato neste filtro" in text_of(r.text) and "feira" in r.text
    imports_page = await d.client.get("/contacts/imports")
    row = imports_page.text.split(f'id="import-row-{import_id}"', 1)[1].split("</td>", 1)[0]
    assert "concluída" in row and "8 novos" in text_of(row)


async def test_upload_refusals_are_readable(client: httpx.AsyncClient) -> None:
    d = await dash(client)
    for data, expected in (
        (
            b"PK\x03\x04" + b"\x00" * 200,
            "Parece uma planilha do Excel (.xlsx): salve-a como CSV antes.",
        ),
        (b"%PDF-1.4\n" + b"x" * 100, "É um PDF, não um arquivo CSV."),
        (b"", "O arquivo está vazio."),
    ):
        r = await _upload(d, data)
        assert r.status_code == 422, (data[:10], r.status_code)
        text = text_of(r.text)
        assert "Não foi possível ler o arquivo como CSV" in text and expected in text, text[-600:]
    r = await d.client.post(
        "/contacts/imports/upload",
        data={"csrf_token": d.csrf},
        files={"other": ("x", b"a", "text/plain")},
    )
    assert r.status_code == 422 and "Escolha um arquivo CSV para enviar." in text_of(r.text)
    r = await d.post("/contacts/imports/upload", {})
    assert r.status_code == 422 and "Escolha um arquivo CSV para enviar." in text_of(r.text)
    assert (await d.client.get("/api/v1/contact-imports", headers=d.api)).json() == []


async def test_upload_over_the_limit_keeps_nothing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mirage.config import get_settings

    d = await dash(client)
    monkeypatch.setattr(get_settings(), "contact_import_max_bytes", 1_500_000)
    big = b"nome;telefone\n" + b"Ana;11987654321\n" * 110_000  # ~1.8 MB
    r = await _upload(d, big)
    assert r.status_code == 413 and "O arquivo é grande demais: o limite é 1 MB." in text_of(r.text)
    assert (await d.client.get("/api/v1/contact-imports", headers=d.api)).json() == []


async def test_discard_and_cancel(client: httpx.AsyncClient, no_background_jobs: None) -> None:
    d = await dash(client)
    r = await _upload(d, b"nome;telefone\nAna;11987654321\n")
    import_id = r.headers["location"].rsplit("/", 1)[1]
    r = await d.post(f"/contacts/imports/{import_id}/cancel", {})
    assert r.status_code == 303
    assert (await _state(d, import_id))["state"] == "cancelled"
    page = await d.client.get(f"/contacts/imports/{import_id}")
    assert (
        "A importação foi cancelada." in text_of(page.text) and 'id="mapping-form"' not in page.text
    )

    # A running import: cancel (HTMX) answers with the progress panel; the run stops.
    r = await _upload(d, b"nome;telefone\nAna;11987654321\nBia;11912345678\n")
    import_id = r.headers["location"].rsplit("/", 1)[1]
    r = await d.post(f"/contacts/imports/{import_id}/start", {"basis": "consent"})
    assert r.status_code == 303
    r = await d.post(f"/contacts/imports/{import_id}/cancel", {}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and f'id="progress-{import_id}"' in r.text
    assert "parando antes do próximo bloco" in text_of(r.text)
    await _run_worker()
    assert (await _state(d, import_id))["state"] == "cancelled"
    assert (await d.client.get("/api/v1/contacts", headers=d.api)).json()["items"] == []
