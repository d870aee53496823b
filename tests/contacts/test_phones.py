"""The phone normalizer: every written form of one number gives one E.164; reasons otherwise."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mirage.contacts.phones import (
    InvalidPhone,
    PhoneReason,
    check_phone,
    normalize_phone,
    wa_jid_candidates,
)

DDDS = [
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69,
    71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97,
    98, 99,
]  # fmt: skip


@pytest.mark.parametrize(
    "written",
    [
        "(11) 98765-4321",
        "11987654321",
        "011 98765 4321",
        "+55 11 98765-4321",
        "5511987654321",
        "+5511987654321",
        "0 15 11 98765-4321",  # carrier selection code
        "(11) 8765-4321",  # without the ninth digit
        "+55 (11) 8765-4321",
        "551187654321",
        "  11 98765.4321  ",
    ],
)
def test_the_issue_forms_are_one_number(written: str) -> None:
    assert normalize_phone(written) == "+5511987654321"


def test_landlines_and_foreign_numbers_are_valid() -> None:
    assert normalize_phone("(11) 3456-7890") == "+551134567890"  # landline: no ninth digit
    assert normalize_phone("+1 (212) 555-0100", "BR") == "+12125550100"
    assert normalize_phone("+351 912 345 678") == "+351912345678"
    assert normalize_phone("912 345 678", "PT") == "+351912345678"
    assert normalize_phone("(212) 555-0100", "us") == "+12125550100"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", PhoneReason.EMPTY),
        ("   ", PhoneReason.EMPTY),
        ("1" * 41, PhoneReason.TOO_LONG_INPUT),
        ("11 9876-ABCD", PhoneReason.INVALID_CHARACTERS),
        ("١١٩٨٧٦٥٤٣٢١", PhoneReason.INVALID_CHARACTERS),  # Arabic-Indic digits
        ("11+987654321", PhoneReason.INVALID_CHARACTERS),
        ("<script>", PhoneReason.INVALID_CHARACTERS),
        ("11\x00987654321", PhoneReason.INVALID_CHARACTERS),
        ("---", PhoneReason.NOT_A_NUMBER),
        ("+999 1234 5678", PhoneReason.INVALID_COUNTRY_CODE),
        ("123", PhoneReason.TOO_SHORT),
        ("98765-4321", PhoneReason.INVALID_NUMBER),  # no DDD
        ("(10) 98765-4321", PhoneReason.INVALID_NUMBER),  # DDD 10 does not exist
        ("+55 11 98765-43210", PhoneReason.TOO_LONG),
    ],
)
def test_reasons(raw: str, reason: PhoneReason) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone(raw)
    assert info.value.reason == reason
    assert str(info.value)  # a readable message
    got = check_phone(raw)
    assert isinstance(got, InvalidPhone) and got.reason == reason


def _br_forms(ddd: int, sub: str) -> list[str]:
    a, b = sub[:-4], sub[-4:]
    return [
        f"({ddd}) {a}-{b}",
        f"{ddd}{sub}",
        f"0{ddd} {a} {b}",
        f"+55 {ddd} {a}-{b}",
        f"55{ddd}{sub}",
        f"+55{ddd}{sub}",
        f"+55 ({ddd}) {a} {b}",
        f"{ddd}.{a}.{b}",
    ]


@settings(max_examples=300, deadline=None)
@given(
    ddd=st.sampled_from(DDDS),
    second=st.sampled_from("6789"),
    rest=st.text("0123456789", min_size=7, max_size=7),
)
def test_brazilian_mobiles_in_every_written_form(ddd: int, second: str, rest: str) -> None:
    sub = "9" + second + rest
    expected = f"+55{ddd}{sub}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(expected)))
    for written in _br_forms(ddd, sub):
        assert normalize_phone(written) == expected, written
    # Without the ninth digit, the same number.
    for written in _br_forms(ddd, sub[1:]):
        assert normalize_phone(written) == expected, written


@settings(max_examples=200, deadline=None)
@given(
    ddd=st.sampled_from(DDDS),
    first=st.sampled_from("2345"),
    rest=st.text("0123456789", min_size=7, max_size=7),
)
def test_brazilian_landlines_keep_eight_digits(ddd: int, first: str, rest: str) -> None:
    sub = first + rest
    expected = f"+55{ddd}{sub}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(expected)))
    for written in _br_forms(ddd, sub):
        assert normalize_phone(written) == expected, written


_REGIONS = sorted(
    r
    for r in phonenumbers.SUPPORTED_REGIONS
    if r != "BR"
    and any(
        phonenumbers.example_number_for_type(r, t) is not None
        for t in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    )
)


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(_REGIONS),
    kind=st.sampled_from(
        [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
    ),
)
def test_foreign_numbers_in_international_and_national_forms(
    region: str, kind: phonenumbers.PhoneNumberType
) -> None:
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None and phonenumbers.is_valid_number(example))
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    intl = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    # A Brazilian tenant's list: foreign numbers carry their country code.
    assert normalize_phone(e164, "BR") == e164
    assume(all(c in "0123456789+-(). /" for c in intl))
    assert normalize_phone(intl, "BR") == e164
    # A tenant in that country writes them nationally.
    assume(all(c in "0123456789+-(). /" for c in national))
    assert normalize_phone(national, region) == e164


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_never_raises_anything_else(raw: str) -> None:
    got = check_phone(raw)
    if isinstance(got, str):
        assert got.startswith("+") and got[1:].isdigit() and len(got) <= 16


def test_jid_candidates_cover_the_old_brazilian_form() -> None:
    assert wa_jid_candidates("+5511987654321") == (
        "5511987654321@s.whatsapp.net",
        "551187654321@s.whatsapp.net",
    )
    assert wa_jid_candidates("+12125550100") == ("12125550100@s.whatsapp.net",)
