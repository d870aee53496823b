"""A tenant's country is the default region of its phone numbers (Brazil unless it says
otherwise): imports, the contacts API and search read national numbers in that country's plan."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.exc import DataError, IntegrityError

from mirage.contacts import service
from mirage.contacts.phones import check_region
from mirage.kit.errors import ValidationFailed
from tests.conftest import TenantFixture, make_token
from tests.contacts.import_helpers import execute, imported, scalar

pytestmark = pytest.mark.usefixtures("database")

PT_FILE = b"nome;telefone\nJoana;912 345 678\nRui;21 123 4567\nAna;(11) 98765-4321\n"


async def _set_country(t: TenantFixture, country: str) -> None:
    await execute(t, "update tenants set country = :c where id = :t", c=country, t=t.tenant_id)


async def test_new_tenants_are_brazilian(tenant_a: TenantFixture) -> None:
    assert await scalar(tenant_a, "select country from tenants") == "BR"


async def test_a_portuguese_tenant_imports_portuguese_local_numbers(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    await _set_country(tenant_a, "PT")
    imp = await imported(tenant_a, PT_FILE)
    assert imp.options["region"] == "PT"
    # A Portuguese mobile and landline written nationally; a Brazilian number written
    # without +55 is no Portuguese number.
    assert (imp.imported, imp.invalid) == (2, 1)
    assert imp.invalid_by_reason == {"invalid_phone": 1}
    phones = await scalar(
        tenant_a, "select string_agg(phone_e164, ',' order by phone_e164) from contacts"
    )
    assert phones == "+351211234567,+351912345678"

    # The same file for a tenant left at the default: Brazilian reading, unchanged.
    imp_b = await imported(tenant_b, PT_FILE)
    assert imp_b.options["region"] == "BR"
    assert (imp_b.imported, imp_b.invalid) == (1, 2)
    assert (
        await scalar(tenant_b, "select string_agg(phone_e164, ',') from contacts")
        == "+5511987654321"
    )


async def test_an_import_may_name_another_region(tenant_a: TenantFixture) -> None:
    imp = await imported(tenant_a, PT_FILE, region="pt")
    assert imp.options["region"] == "PT"
    assert imp.imported == 2
    with pytest.raises(ValidationFailed):
        await imported(tenant_a, PT_FILE, region="ZZ")  # no such numbering plan


async def test_contacts_api_and_search_use_the_tenant_country(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    await _set_country(tenant_a, "PT")
    auth = {"Authorization": f"Bearer {await make_token(tenant_a, ('read', 'write'))}"}
    body = {"phone": "912 345 678", "legal_basis": "consent", "provenance_source": "loja"}
    r = await client.post("/api/v1/contacts", headers=auth, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["phone_e164"] == "+351912345678"
    # The national form finds it; so does the whole international number.
    for q in ("912 345 678", "+351 912 345 678"):
        found = await client.get("/api/v1/contacts", headers=auth, params={"q": q})
        assert [c["phone_e164"] for c in found.json()["items"]] == ["+351912345678"], q
    # A Brazilian national number is not a Portuguese one.
    r = await client.post(
        "/api/v1/contacts", headers=auth, json={**body, "phone": "(11) 98765-4321"}
    )
    assert r.status_code == 422, r.text


async def test_the_contacts_api_stays_brazilian_by_default(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a, ('read', 'write'))}"}
    body = {"phone": "(11) 8765-4321", "legal_basis": "consent", "provenance_source": "loja"}
    r = await client.post("/api/v1/contacts", headers=auth, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["phone_e164"] == "+5511987654321"


@pytest.mark.parametrize("bad", ["pt", "BRA", "B1", ""])
async def test_the_database_keeps_countries_two_capital_letters(
    tenant_a: TenantFixture, bad: str
) -> None:
    with pytest.raises((IntegrityError, DataError)):  # the check, or the length
        await _set_country(tenant_a, bad)
    assert await scalar(tenant_a, "select country from tenants") == "BR"


def test_country_codes_are_checked_against_the_known_plans() -> None:
    assert service.check_country(" pt ") == "PT"
    assert service.check_country("BR") == "BR"
    for bad in ("ZZ", "BRA", "", "1", "Brasil"):
        assert check_region(bad) is None
        with pytest.raises(ValidationFailed):
            service.check_country(bad)
