"""The pure row parser, alone and over a messy real-world-looking CSV."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.contacts import csvfile, rows
from mirage.contacts.rows import Candidate, Defaults, PhoneResult, Reason, RowError

FIXTURES = Path(__file__).parent / "fixtures"
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = ("nome", "telefone", "email", "idioma", "obs", "tags", "base", "cidade")
PLAN = rows.plan(HEADER, csvfile.guess_mapping(HEADER) | {"base": "basis"})
BR = rows.phone_normalizer("BR")


def _row(**cells: str) -> tuple[str, ...]:
    return tuple(cells.get(column, "") for column in HEADER)


CONSENT = Defaults(basis="consent")


def parse(cells: tuple[str, ...], defaults: Defaults = CONSENT) -> object:
    return rows.parse_row(7, cells, PLAN, defaults, BR)


def test_a_full_row() -> None:
    got = parse(
        _row(
            nome="  João   da Silva ",
            telefone="(11) 98765-4321",
            email="Joao@Exemplo.COM",
            idioma="pt_BR",
            obs=" linha 1\nlinha 2 ",
            tags="vip, clientes|VIP",
            cidade="São Paulo",
        ),
        Defaults(basis="legitimate_interest", tags=("importados",)),
    )
    assert got == Candidate(
        number=7,
        phone_e164="+5511987654321",
        basis="legitimate_interest",
        name="João da Silva",
        email="joao@exemplo.com",
        language="pt-BR",
        notes="linha 1\nlinha 2",
        tags=("importados", "vip", "clientes"),
        custom={"cidade": "São Paulo"},
    )


@pytest.mark.parametrize(
    ("cells", "defaults", "reason", "detail"),
    [
        (_row(nome="Ana"), Defaults(basis="consent"), Reason.MISSING_PHONE, ""),
        (
            _row(telefone="abc"),
            Defaults(basis="consent"),
            Reason.INVALID_PHONE,
            "invalid_characters",
        ),
        (_row(telefone="123"), Defaults(basis="consent"), Reason.INVALID_PHONE, "too_short"),
        (_row(telefone="11987654321"), Defaults(), Reason.MISSING_BASIS, ""),
        (_row(telefone="11987654321", base="talvez"), Defaults(), Reason.INVALID_BASIS, "talvez"),
        (_row(telefone="11987654321", email="a@@b"), Defaults("consent"), Reason.INVALID_EMAIL, ""),
        (
            _row(telefone="11987654321", idioma="português"),
            Defaults("consent"),
            Reason.INVALID_LANGUAGE,
            "",
        ),
        (
            _row(telefone="11987654321", nome="x" * 121),
            Defaults("consent"),
            Reason.TOO_LONG,
            "name",
        ),
        (_row(telefone="11987654321", tags="t" * 41), Defaults("consent"), Reason.TOO_LONG, "tags"),
        (
            _row(telefone="11987654321", cidade="c" * 1001),
            Defaults("consent"),
            Reason.TOO_LONG,
            "custom.cidade",
        ),
    ],
)
def test_rejections(
    cells: tuple[str, ...], defaults: Defaults, reason: Reason, detail: str
) -> None:
    assert parse(cells, defaults) == RowError(7, reason, detail)


def test_basis_words_from_spreadsheets() -> None:
    for word, basis in [
        ("Consentimento", "consent"),
        ("consent", "consent"),
        ("Legítimo interesse", "legitimate_interest"),
        ("legitimate_interest", "legitimate_interest"),
    ]:
        got = parse(_row(telefone="11987654321", base=word), Defaults())
        assert isinstance(got, Candidate) and got.basis == basis
    # A row's own basis wins over the import's default.
    got = parse(_row(telefone="11987654321", base="consentimento"), Defaults("legitimate_interest"))
    assert isinstance(got, Candidate) and got.basis == "consent"


def test_plan_needs_a_phone() -> None:
    with pytest.raises(ValueError, match="phone"):
        rows.plan(HEADER, {"nome": "name"})
    p = rows.plan(HEADER, {"telefone": "phone", "nome": "ignore", "zz": "name"})
    assert (p.phone, p.name, p.custom) == (1, None, ())


@FAST
@given(st.lists(st.text(max_size=30), min_size=0, max_size=12), st.sampled_from(["consent", None]))
def test_any_cells_give_a_candidate_or_one_reason(cells: list[str], basis: str | None) -> None:
    got = rows.parse_row(1, cells, PLAN, Defaults(basis=basis), BR)
    if isinstance(got, Candidate):
        assert got.phone_e164.startswith("+")
        assert got.basis in rows.BASES
        assert len(got.tags) <= rows.MAX_TAGS
        assert all(v for v in got.custom.values())
    else:
        assert isinstance(got, RowError) and got.reason in Reason


@FAST
@given(st.text(max_size=40))
def test_normalizer_adapter_never_raises(raw: str) -> None:
    got = BR(raw)
    assert (got.e164 is None) != (got.reason is None)


def test_normalizer_is_injected() -> None:
    fake = rows.parse_row(
        1, _row(telefone="anything"), PLAN, Defaults("consent"), lambda raw: PhoneResult("+1555")
    )
    assert isinstance(fake, Candidate) and fake.phone_e164 == "+1555"


# --- the messy file -----------------------------------------------------------------------------


def _judge(name: str) -> tuple[csvfile.Preview, Counter[str], list[Candidate], list[RowError]]:
    """What the import does, without a database: read, parse, drop duplicates in the file."""
    path = FIXTURES / name
    with path.open("rb") as f:
        preview = csvfile.preview(f)
        f.seek(0)
        header, records = csvfile.read_records(f, preview.dialect)
        p = rows.plan(header, preview.mapping)
        counts: Counter[str] = Counter()
        seen: set[str] = set()
        accepted: list[Candidate] = []
        rejected: list[RowError] = []
        for record in records:
            counts["rows"] += 1
            got = rows.parse_row(record.number, record.cells, p, Defaults("consent"), BR)
            if isinstance(got, Candidate) and got.phone_e164 in seen:
                got = RowError(record.number, Reason.DUPLICATE_IN_FILE, got.phone_e164)
            if isinstance(got, Candidate):
                seen.add(got.phone_e164)
                accepted.append(got)
            else:
                counts[got.reason.value] += 1
                rejected.append(got)
    return preview, counts, accepted, rejected


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [("messy_excel_ptbr.csv", "cp1252", ";"), ("messy_utf8_bom.csv", "utf-8-sig", ",")],
)
def test_messy_file_exact_counts(name: str, encoding: str, delimiter: str) -> None:
    preview, counts, accepted, rejected = _judge(name)
    assert (preview.dialect.encoding, preview.dialect.delimiter) == (encoding, delimiter)
    assert preview.mapping == {
        "Nome": "name",
        "Celular": "phone",
        "E-mail": "email",
        "Cidade": "custom.cidade",
        "Observações": "notes",
        "Tags": "tags",
        "Data de cadastro": "custom.data_de_cadastro",
    }
    assert counts == Counter(
        rows=15, duplicate_in_file=3, invalid_phone=2, missing_phone=1, invalid_email=1
    )
    assert len(accepted) == 8
    assert [c.phone_e164 for c in accepted] == [
        "+5511987654321",
        "+5511987654322",  # written without the ninth digit
        "+5521998765432",
        "+551134567890",
        "+16502530000",
        "+5511912345678",
        "+5511923456789",
        "+5511945671234",
    ]
    first = accepted[0]
    assert first.name == "João da Silva"
    assert first.notes == "Cliente desde 2019\r\nprefere manhã"
    assert first.custom == {"cidade": "São Paulo", "data_de_cadastro": "01/02/2020"}
    assert accepted[2].tags == ("vip", "clientes")
    assert accepted[-1].tags == ("a", "b")
    assert [(r.number, r.reason.value) for r in rejected] == [
        (3, "duplicate_in_file"),
        (4, "invalid_phone"),
        (5, "missing_phone"),
        (7, "duplicate_in_file"),
        (10, "invalid_phone"),
        (13, "invalid_email"),
        (14, "duplicate_in_file"),
    ]
