"""Políticas de envio page: list and form in pt-BR, create/edit/delete, a refused form keeps
what was typed and shows each message under its field, roles."""

from __future__ import annotations

import re

import httpx

from tests.conftest import TenantFixture, make_tenant, make_token, sign_in

PAGE = "/outreach-policies"


def _form(csrf: str, **changes: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf,
        "name": "Comercial",
        "number_hourly_cap": "",
        "number_daily_cap": "",
        "campaign_hourly_cap": "",
        "campaign_daily_cap": "",
        "min_gap_seconds": "",
        **{f"weekday_{d}": "on" for d in range(5)},
        "daypart_morning": "on",
        "daypart_afternoon": "on",
        "contact_start": "08:00",
        "contact_end": "18:00",
        "skip_holidays": "on",
        "optout_keywords": "CHEGA",
        "confirmation_text": "Pronto, sem mais mensagens.",
        "validity_minutes": "240",
        "duplicate_limit": "3",
        "duplicate_window_minutes": "60",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != "<absent>"}


def _field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<span class="field-error" id="(\w+)-error">([^<]*)</span>', html))


async def test_page_in_portuguese_with_the_safe_defaults(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await sign_in(client, tenant_a)
    r = await client.get(PAGE)
    assert r.status_code == 200
    html = r.text
    assert "Políticas de envio" in html and "Nenhuma política de envio ainda." in html
    assert 'href="/outreach-policies"' in html  # in the navigation
    # Monday to Friday checked, the weekend not (the safe product default).
    for d in range(5):
        assert re.search(rf'name="weekday_{d}" checked', html)
    for d in (5, 6):
        assert not re.search(rf'name="weekday_{d}" checked', html)
    assert 'name="contact_start" value="08:00"' in html
    # Weekday 0 is Monday (Babel lists Brazil's week from Sunday: the names follow the keys).
    assert re.search(r'name="weekday_0" checked> seg\.', html)
    assert re.search(r'name="weekday_6" > dom\.', html)
    assert "PARAR" in html  # the built-in keywords are shown
    assert "Limite da organização: 20" in html


async def test_create_edit_delete_from_the_dashboard(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    csrf = await sign_in(client, tenant_a)
    r = await client.post(PAGE, data=_form(csrf, number_hourly_cap="12"))
    assert r.status_code == 303 and r.headers["location"] == "/outreach-policies?saved=1"
    page = await client.get(r.headers["location"])
    assert "Política salva." in page.text and "Comercial" in page.text
    assert "12/h · 120/dia" in page.text  # its own hourly cap, the number's daily one
    pid = re.search(r'href="/outreach-policies/([0-9a-f-]{36})"', page.text).group(1)  # type: ignore[union-attr]

    edit = await client.get(f"{PAGE}/{pid}")
    assert edit.status_code == 200
    assert 'name="number_hourly_cap" inputmode="numeric" value="12"' in edit.text
    assert not re.search(r'name="weekday_6" checked', edit.text)
    r = await client.post(
        f"{PAGE}/{pid}",
        data=_form(csrf, name="Fim de semana", weekday_6="on", number_hourly_cap=""),
    )
    assert r.status_code == 303
    edit = await client.get(f"{PAGE}/{pid}")
    assert "Fim de semana" in edit.text and re.search(r'name="weekday_6" checked', edit.text)

    r = await client.post(f"{PAGE}/{pid}/delete", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert "Nenhuma política de envio ainda." in (await client.get(PAGE)).text


async def test_a_refused_form_keeps_the_input_and_marks_each_field(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    csrf = await sign_in(client, tenant_a)
    r = await client.post(
        PAGE,
        data=_form(
            csrf,
            name="Rascunho",
            number_daily_cap="muitos",
            validity_minutes="2x",
            number_hourly_cap="999",
            duplicate_limit="0",
        ),
    )
    assert r.status_code == 422
    errors = _field_errors(r.text)
    # Every problem at once: two that do not parse, one bound, one tighten-only rule.
    assert set(errors) == {
        "number_daily_cap",
        "validity_minutes",
        "duplicate_limit",
        "number_hourly_cap",
    }
    assert "no máximo 20" in errors["number_hourly_cap"]
    assert "número inteiro" in errors["number_daily_cap"]
    assert "A política não foi salva" in r.text
    # What was typed is still there, including the bad values.
    assert 'value="Rascunho"' in r.text and 'value="muitos"' in r.text and 'value="2x"' in r.text
    assert 'aria-invalid="true" aria-describedby="number_daily_cap-error"' in r.text

    # Rules across fields land under the field they concern.
    r = await client.post(PAGE, data=_form(csrf, contact_start="19:00", contact_end="07:00"))
    assert r.status_code == 422
    assert "o fim deve vir depois do início" in _field_errors(r.text)["contact_end"]
    r = await client.post(
        PAGE,
        data=_form(
            csrf, daypart_morning="<absent>", daypart_afternoon="<absent>", daypart_night="on"
        ),
    )
    assert "nenhum dos períodos" in _field_errors(r.text)["dayparts"]
    r = await client.post(PAGE, data={**_form(csrf), **{f"weekday_{d}": "" for d in range(7)}})
    assert r.status_code == 422 and "weekdays" in _field_errors(r.text)

    # Tighten-only: the tenant's cap per number (20/h by default) is named under the field.
    r = await client.post(PAGE, data=_form(csrf, number_hourly_cap="31", min_gap_seconds="1"))
    assert r.status_code == 422
    errors = _field_errors(r.text)
    assert "no máximo 20" in errors["number_hourly_cap"]
    assert "só pode apertar" in errors["number_hourly_cap"]
    assert "min_gap_seconds" in errors
    assert "Nenhuma política de envio ainda." in r.text  # nothing was stored


async def test_duplicate_name_is_shown_under_the_name(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    csrf = await sign_in(client, tenant_a)
    assert (await client.post(PAGE, data=_form(csrf))).status_code == 303
    r = await client.post(PAGE, data=_form(csrf, name="COMERCIAL"))
    assert r.status_code == 409
    assert "Já existe uma política de envio com este nome" in _field_errors(r.text)["name"]


async def test_viewers_see_policies_but_cannot_change_them(client: httpx.AsyncClient) -> None:
    viewer = await make_tenant("viewer")
    auth = {"Authorization": f"Bearer {await make_token(viewer, ('read',))}"}
    csrf = await sign_in(client, viewer)
    page = await client.get(PAGE)
    assert page.status_code == 200
    assert 'action="/outreach-policies"' not in page.text
    assert "Só um administrador pode criar ou alterar políticas de envio." in page.text
    assert (await client.post(PAGE, data=_form(csrf))).status_code == 403
    assert (await client.post(PAGE, data=_form(csrf, number_daily_cap="x"))).status_code == 403
    assert (await client.get("/api/v1/outreach-policies", headers=auth)).json() == []
