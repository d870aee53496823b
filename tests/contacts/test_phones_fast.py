"""The normalizer's fast path gives phonenumbers' answer, never another one.

``normalize_phone`` answers the plain Brazilian forms without running phonenumbers' parser
(``phones._fast_br``). Here the full path (``phones._normalize_with_phonenumbers``:
phonenumbers parses and validates) is the oracle: for every generated text both must give the
same E.164 or the same reason, and the fast path must actually be taken for the common forms
(else the speed-up is gone and nothing would say so).
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mirage.contacts import phones
from mirage.contacts.phones import InvalidPhone, check_phone

from .test_phones import DDDS

PUNCT = " -().+/"


def oracle(raw: str, region: str = "BR") -> str:
    """phonenumbers' answer (an E.164 or ``!reason``), the fast path bypassed."""
    try:
        return phones._normalize_with_phonenumbers(raw.strip(), region)
    except InvalidPhone as exc:
        return f"!{exc.reason}"


def answer(raw: str, region: str = "BR") -> str:
    got = check_phone(raw, region)
    return got if isinstance(got, str) else f"!{got.reason}"


def _join(parts: list[str], seps: list[str]) -> str:
    out = [parts[0]]
    for part, sep in zip(parts[1:], seps, strict=False):
        out.append(sep + part)
    return "".join(out)


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """Numbers as people write them, and near misses: a prefix (none, +, 55, +55, 0, 00, a
    carrier code, 90), a DDD (real or not), a subscriber of 6–10 digits whose first digit is
    any, the digits split anywhere with the punctuation phonenumbers skips."""
    prefix = draw(
        st.sampled_from(
            ["", "+", "55", "+55", "0", "00", "015", "0 21", "+55 0", "90", "+1", "5", "555", "+0"]
        )
    )
    ddd = draw(
        st.one_of(st.sampled_from([str(d) for d in DDDS]), st.text("0123456789", max_size=3))
    )
    first = draw(st.sampled_from("0123456789"))
    rest = draw(st.text("0123456789", min_size=5, max_size=9))
    digits = prefix.lstrip("+") + ddd + first + rest
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(digits) - 1)), max_size=5)))
    parts = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, len(digits)], strict=False)]
    seps = [draw(st.text(" -()./", max_size=2)) for _ in parts]
    text = _join(parts, seps)
    if prefix.startswith("+"):
        text = "+" + draw(st.text(" (", max_size=1)) + text
    lead = draw(st.text(" (\t", max_size=2))
    tail = draw(st.text(" )-.\t", max_size=2))
    return lead + text + tail


@settings(max_examples=1000, deadline=None)
@given(written_numbers())
@example("(11) 98765-4321")
@example("011 98765 4321")
@example("55 11 98765-4321")
@example("5511987654321")
@example("551187654321")
@example("+55 (11) 8765-4321")
@example("0 15 11 98765-4321")
@example("55 98765-4321")  # DDD 55 written without the country code
@example("5555987654321")  # DDD 55 with it
@example("9011987654321")
@example("0011987654321")
@example("+55 0800 123 4567")
@example("(11) 3456-7890")
@example("+55 11 98765-4321" + " " * 30)
@example("+5 5 1 1 9 8 7 6 5 4 3 2 1 " + "-" * 15)  # over MAX_INPUT with its punctuation
def test_written_numbers_get_phonenumbers_answer(raw: str) -> None:
    assert answer(raw) == oracle(raw), raw


@settings(max_examples=1000, deadline=None)
@given(st.text("0123456789" + PUNCT + "\t", max_size=45))
def test_any_text_of_digits_and_punctuation_gets_phonenumbers_answer(raw: str) -> None:
    assert answer(raw) == oracle(raw), raw


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=45))
def test_any_text_gets_phonenumbers_answer(raw: str) -> None:
    assert answer(raw) == oracle(raw), raw


@pytest.mark.parametrize("region", ["PT", "US", "AR", "br"])
def test_other_regions_take_the_full_path(region: str) -> None:
    for raw in ("912 345 678", "(212) 555-0100", "011 15-2345-6789", "(11) 98765-4321"):
        assert answer(raw, region) == oracle(raw, region), (raw, region)


def _forms(ddd: int, sub: str) -> list[str]:
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
    ddd=st.sampled_from([d for d in DDDS if d != 55]),
    first=st.sampled_from("23456789"),
    rest=st.text("0123456789", min_size=7, max_size=7),
    ninth=st.booleans(),
)
def test_the_common_forms_take_the_fast_path(ddd: int, first: str, rest: str, ninth: bool) -> None:
    """Every valid fixed line or mobile, in every common form (DDD 55 aside, which needs the
    full path without the country code), is answered by the fast path, as the oracle would."""
    sub = ("9" if ninth and first in "6789" else "") + first + rest
    for written in _forms(ddd, sub):
        expected = oracle(written)
        fast = phones._fast_br(written.strip())
        if expected.startswith("+"):
            number = phonenumbers.parse(expected)
            kind = phonenumbers.number_type(number)
            if kind in (
                phonenumbers.PhoneNumberType.MOBILE,
                phonenumbers.PhoneNumberType.FIXED_LINE,
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
            ):
                assert fast == expected, written
        else:
            assert fast is None, written


def test_the_issue_forms_take_the_fast_path() -> None:
    for written in (
        "(11) 98765-4321",
        "11987654321",
        "011 98765 4321",
        "+55 11 98765-4321",
        "5511987654321",
        "(11) 8765-4321",
    ):
        assert phones._fast_br(written) == "+5511987654321", written
    # A carrier code, another country, an error: phonenumbers answers.
    for written in ("0 15 11 98765-4321", "+351 912 345 678", "123", "(10) 98765-4321"):
        assert phones._fast_br(written) is None, written
