"""The contacts' search keys: the CSV import computes them in Python (``search_keys``), every
other writer gets them from the database's trigger. Both must give the same keys, or a
contact would be found or not depending on how it was written. And the ledger and tag links
reference their contact by (id, tenant_id): no link to another tenant's contact."""

from __future__ import annotations

import string
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors
from sqlalchemy.exc import IntegrityError

from mirage.models.contacts import FOLD_FROM, SEARCH_COLUMNS, search_keys
from tests.conftest import TenantFixture
from tests.contacts.import_helpers import execute, imported, scalar

pytestmark = pytest.mark.usefixtures("database")

# Letters people's names are written with (accented ones folded or not), digits, punctuation,
# and every ASCII white space (PostgreSQL's \s).
_ALPHABET = string.ascii_letters + string.digits + FOLD_FROM + "ßøØæÆłŁœŒðÐþÞ .-'\t\n\r\f\v"
_names = st.none() | st.text(alphabet=_ALPHABET, max_size=30)
_emails = st.none() | st.text(alphabet=string.ascii_letters + "@.-_ ÁÉ", max_size=20)
_KEYS_SQL = ", ".join(expr for _, expr in SEARCH_COLUMNS)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(_names, _emails), min_size=1, max_size=40))
def test_python_keys_are_the_databases(
    bootstrap_conninfo: str, pairs: list[tuple[str | None, str | None]]
) -> None:
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        got = conn.execute(
            f"select {_KEYS_SQL} from unnest(%s::text[], %s::text[]) "
            "with ordinality as x(name, email, n) order by n",
            ([n for n, _ in pairs], [e for _, e in pairs]),
        ).fetchall()
    assert [tuple(row) for row in got] == [tuple(search_keys(n, e)) for n, e in pairs]


@pytest.mark.parametrize(
    ("name", "email", "keys"),
    [
        (
            "  João  da Silva ",
            " Joao@Example.ORG ",
            ("joao da silva", "da", "silva", "joao@example.org"),
        ),
        ("Conceição", None, ("conceicao", None, None, None)),
        ("\tMaria\nSouza\t", "", (" maria souza ", "maria", "", "")),
        (None, None, (None, None, None, None)),
    ],
)
def test_keys_of_written_forms(
    name: str | None, email: str | None, keys: tuple[str | None, ...]
) -> None:
    assert tuple(search_keys(name, email)) == keys


async def _keys(t: TenantFixture, phone: str) -> tuple[str | None, ...]:
    row = await scalar(
        t,
        "select array[search_name, search_word2, search_last, search_email] from contacts "
        "where phone_e164 = :p",
        p=phone,
    )
    return tuple(row)


async def test_a_writer_that_leaves_the_keys_out_gets_them_from_the_trigger(
    tenant_a: TenantFixture,
) -> None:
    phone = "+5511987650001"
    await execute(
        tenant_a,
        "insert into contacts (id, tenant_id, name, phone_e164, email, legal_basis, "
        "provenance_source, provenance_at) values (gen_random_uuid(), :t, 'Zé  Gonçalves', "
        ":p, 'ZE@X.COM', 'consent', 'test', now())",
        t=tenant_a.tenant_id,
        p=phone,
    )
    assert await _keys(tenant_a, phone) == tuple(search_keys("Zé  Gonçalves", "ZE@X.COM"))
    # A new name (or a change the fold ignores) and a removed e-mail: keys follow.
    for name in ("Ana Lúcia Araújo", "ANA LÚCIA ARAÚJO", "Bia"):
        await execute(
            tenant_a,
            "update contacts set name = :n, email = null where phone_e164 = :p",
            n=name,
            p=phone,
        )
        assert await _keys(tenant_a, phone) == tuple(search_keys(name, None))


async def test_imported_keys_are_the_triggers_and_follow_an_update(
    tenant_a: TenantFixture,
) -> None:
    await imported(
        tenant_a,
        (
            "nome;telefone;email\nJOÃO  Conceição;11987650002;Joao@Example.org\nÍris;11987650003;\n"
        ).encode(),
    )
    # What the trigger would compute for the same values (an UPDATE that recomputes them).
    for phone in ("+5511987650002", "+5511987650003"):
        before = await _keys(tenant_a, phone)
        await execute(
            tenant_a,
            "update contacts set search_name = null, search_email = null where phone_e164 = :p",
            p=phone,
        )
        assert await _keys(tenant_a, phone) == before
    # A two-word name: its last word is its second (searches match either column).
    assert await _keys(tenant_a, "+5511987650002") == (
        "joao conceicao",
        "conceicao",
        None,
        "joao@example.org",
    )
    # A re-import updates the name: its keys are replaced (a one-word name has no second or
    # last word); an empty e-mail cell keeps the e-mail and its key.
    await imported(tenant_a, b"nome;telefone;email\nMaria;11987650002;\n")
    assert await _keys(tenant_a, "+5511987650002") == ("maria", None, None, "joao@example.org")
    # An empty name cell keeps the name and its keys.
    await imported(tenant_a, b"nome;telefone;email\n;11987650002;M@X.ORG\n")
    assert await _keys(tenant_a, "+5511987650002") == ("maria", None, None, "m@x.org")


@pytest.mark.parametrize("table", ["consent_events", "contact_tags"])
async def test_no_link_to_another_tenants_contact(
    tenant_a: TenantFixture, tenant_b: TenantFixture, table: str
) -> None:
    """The tenant-scoped foreign keys: a row of tenant A cannot name B's contact (or tag),
    even knowing its id (a plain foreign key is checked without RLS, and would allow it)."""
    await imported(tenant_b, b"nome;telefone;tags\nBia;11987650004;vip\n")
    contact_b = uuid.UUID(str(await scalar(tenant_b, "select id from contacts")))
    tag_b = uuid.UUID(str(await scalar(tenant_b, "select id from tags")))
    await imported(tenant_a, b"nome;telefone;tags\nAna;11987650005;vip\n")
    contact_a = uuid.UUID(str(await scalar(tenant_a, "select id from contacts")))
    tag_a = uuid.UUID(str(await scalar(tenant_a, "select id from tags")))
    if table == "consent_events":
        stmt = (
            "insert into consent_events (id, tenant_id, contact_id, kind, source) "
            "values (gen_random_uuid(), :t, :c, 'opt_in', 'test')"
        )
        cases = [{"c": contact_b}]
    else:
        stmt = (
            "insert into contact_tags (id, tenant_id, contact_id, tag_id) "
            "values (gen_random_uuid(), :t, :c, :g)"
        )
        cases = [{"c": contact_b, "g": tag_a}, {"c": contact_a, "g": tag_b}]
    for params in cases:
        with pytest.raises(IntegrityError) as caught:
            await execute(tenant_a, stmt, t=tenant_a.tenant_id, **params)
        assert isinstance(caught.value.orig, errors.ForeignKeyViolation)
