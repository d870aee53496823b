"""Pure phone normalization: any way a person writes a number → E.164, or a reason code.

The tenant's country is the default region (Brazil unless told otherwise), so national forms
— ``(11) 98765-4321``, ``011 98765 4321`` (trunk prefix), ``0 15 11 …`` (carrier code) — and
the country code written without ``+`` (``5511987654321``) all give ``+5511987654321``.
A Brazilian mobile written without the ninth digit (8 digits starting 6–9 after the DDD,
the pre-2016 form people still type and export) gains it.
"""

from __future__ import annotations

import re
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, ValidationResult
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

MAX_INPUT = 40  # longer than any written phone number with its punctuation
_ALLOWED = frozenset("0123456789+-(). \t/")
BR_CODE = 55


class PhoneReason(StrEnum):
    EMPTY = "empty"
    TOO_LONG_INPUT = "too_long_input"
    INVALID_CHARACTERS = "invalid_characters"
    NOT_A_NUMBER = "not_a_number"
    INVALID_COUNTRY_CODE = "invalid_country_code"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_NUMBER = "invalid_number"


_MESSAGES = {
    PhoneReason.EMPTY: "the phone number is empty",
    PhoneReason.TOO_LONG_INPUT: f"the phone number has more than {MAX_INPUT} characters",
    PhoneReason.INVALID_CHARACTERS: "the phone number may hold only digits, spaces, + - ( ) . /",
    PhoneReason.NOT_A_NUMBER: "this is not a phone number",
    PhoneReason.INVALID_COUNTRY_CODE: "unknown country code",
    PhoneReason.TOO_SHORT: "the phone number is too short",
    PhoneReason.TOO_LONG: "the phone number is too long",
    PhoneReason.INVALID_NUMBER: "no such phone number in its country's numbering plan",
}


class InvalidPhone(ValueError):
    """One error type; ``reason`` is a stable code (CSV import reports count by it)."""

    def __init__(self, reason: PhoneReason) -> None:
        self.reason = reason
        super().__init__(_MESSAGES[reason])


def _fix_br_ninth_digit(number: PhoneNumber) -> PhoneNumber:
    """DDD + 8 digits starting 6–9 is a mobile written without its ninth digit."""
    if number.country_code != BR_CODE:
        return number
    national = str(number.national_number)
    if len(national) == 10 and national[2] in "6789":
        return PhoneNumber(
            country_code=BR_CODE, national_number=int(national[:2] + "9" + national[2:])
        )
    return number


def normalize_phone(raw: str, default_region: str = "BR") -> str:
    """E.164 (``+5511987654321``) or ``InvalidPhone`` with a reason code."""
    text = raw.strip()
    if (
        len(text) <= MAX_INPUT
        and _FAST_SHAPE.fullmatch(text) is not None
        and default_region.upper() == "BR"
    ):
        fast = _fast_br(text)
        if fast is not None:
            return fast
    return _normalize_with_phonenumbers(text, default_region)


def _normalize_with_phonenumbers(text: str, default_region: str) -> str:
    """The normalizer itself: ``phonenumbers`` parses and validates (``text`` stripped)."""
    if not text:
        raise InvalidPhone(PhoneReason.EMPTY)
    if len(text) > MAX_INPUT:
        raise InvalidPhone(PhoneReason.TOO_LONG_INPUT)
    # ASCII only: phonenumbers would read other scripts' digits and letters (vanity numbers),
    # and a contact list never needs them.
    if any(c not in _ALLOWED for c in text) or "+" in text[1:]:
        raise InvalidPhone(PhoneReason.INVALID_CHARACTERS)
    if not any(c.isdigit() for c in text):
        raise InvalidPhone(PhoneReason.NOT_A_NUMBER)
    try:
        number = phonenumbers.parse(text, default_region.upper())
    except NumberParseException as exc:
        raise InvalidPhone(
            {
                NumberParseException.INVALID_COUNTRY_CODE: PhoneReason.INVALID_COUNTRY_CODE,
                NumberParseException.TOO_SHORT_AFTER_IDD: PhoneReason.TOO_SHORT,
                NumberParseException.TOO_SHORT_NSN: PhoneReason.TOO_SHORT,
                NumberParseException.TOO_LONG: PhoneReason.TOO_LONG,
            }.get(exc.error_type, PhoneReason.NOT_A_NUMBER)
        ) from None
    number = _fix_br_ninth_digit(number)
    if not phonenumbers.is_valid_number(number):
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible == ValidationResult.INVALID_COUNTRY_CODE:
            raise InvalidPhone(PhoneReason.INVALID_COUNTRY_CODE)
        if possible == ValidationResult.TOO_SHORT:
            raise InvalidPhone(PhoneReason.TOO_SHORT)
        if possible == ValidationResult.TOO_LONG:
            raise InvalidPhone(PhoneReason.TOO_LONG)
        raise InvalidPhone(PhoneReason.INVALID_NUMBER)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- the fast path ------------------------------------------------------------------------
#
# Most numbers in a Brazilian contact list are written in one of a few plain forms: DDD and
# number (``(11) 98765-4321``), with the trunk zero (``011 …``), with the country code
# (``55 11 …``, ``+55 11 …``). For those, ``_fast_br`` reaches phonenumbers' answer without
# running its general parser: it takes the same decisions, on the same metadata, in the same
# order (international prefix, country code, national prefix; then the ninth digit and the
# validity check), and answers only when the number is valid as a fixed line or mobile. Anything
# else (another region, letters, tabs, a carrier code, an invalid or unusual number, a number
# whose reading depends on more than its digits) returns None and takes the full path, so
# every error and its reason still comes from phonenumbers. ``tests/contacts/test_phones_fast``
# checks the two paths give the same result, with phonenumbers as the oracle.

# Only digits, the punctuation phonenumbers skips between digits, and a leading plus: a text
# of this shape is read by phonenumbers as exactly its digits (and the plus).
_FAST_SHAPE = re.compile(r"\+?[0-9 ().\-/]+")
_NOT_DIGITS = str.maketrans("", "", " ().-/+")


class _Desc:
    """A phonenumbers number description: the lengths it allows and its pattern."""

    def __init__(self, desc: object) -> None:
        lengths = getattr(desc, "possible_length", None) or ()
        pattern = getattr(desc, "national_number_pattern", None)
        self.lengths = frozenset(lengths)
        self.pattern = re.compile(pattern) if pattern else None

    def pattern_matches(self, nsn: str) -> bool:
        return self.pattern is not None and self.pattern.fullmatch(nsn) is not None

    def matches(self, nsn: str) -> bool:
        # phonenumbers' _is_number_matching_desc: the length (when any are listed), then the
        # whole national number against the pattern.
        if self.pattern is None or (self.lengths and len(nsn) not in self.lengths):
            return False
        return self.pattern.fullmatch(nsn) is not None


def _br_plan() -> tuple[re.Pattern[str], re.Pattern[str], _Desc, _Desc, _Desc, int] | None:
    meta = PhoneMetadata.metadata_for_region("BR")
    code = str(BR_CODE)
    if (
        meta is None
        or meta.country_code != BR_CODE
        or meta.same_mobile_and_fixed_line_pattern
        or not meta.international_prefix
        or not meta.national_prefix_for_parsing
        or meta.general_desc is None
        or meta.general_desc.possible_length_local_only
        or COUNTRY_CODE_TO_REGION_CODE.get(BR_CODE) != ("BR",)
        # phonenumbers reads the shortest known code after a plus: none may be shorter.
        or any(int(code[:i]) in COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(code)))
    ):
        return None  # metadata not as this path assumes: everything takes the full path
    general = _Desc(meta.general_desc)
    return (
        re.compile(meta.international_prefix),
        re.compile(meta.national_prefix_for_parsing),
        general,
        _Desc(meta.fixed_line),
        _Desc(meta.mobile),
        max(general.lengths, default=0),
    )


_BR = _br_plan()


def _fast_br(text: str) -> str | None:
    """``text`` (of ``_FAST_SHAPE``) as phonenumbers reads it with Brazil as default region,
    when that gives a valid fixed line or mobile; else None (ask phonenumbers)."""
    if _BR is None:
        return None
    idd, national_prefix, general, fixed, mobile, longest = _BR
    digits = text.translate(_NOT_DIGITS)
    if text[0] == "+":
        # A plus: the country code follows.
        if not digits.startswith("55"):
            return None
        nsn = digits[2:]
    elif idd.match(digits) is not None:
        return None  # an international prefix (00 + carrier): the full path
    elif digits.startswith("55"):
        # The country code written without a plus: phonenumbers drops it when the whole is too
        # long to be a national number (shorter ones, e.g. DDD 55, take the full path).
        if len(digits) <= longest:
            return None
        nsn = digits[2:]
    elif (m := national_prefix.match(digits)) is not None:
        # The trunk zero alone (no carrier code after it): phonenumbers strips it when the
        # number with it is no national number (it never is in Brazil; else: the full path).
        if m.group(0) != "0" or general.pattern_matches(digits):
            return None
        nsn = digits[1:]
    else:
        nsn = digits
    # The national number: a DDD (never 0) and a subscriber, no national prefix left to strip.
    if len(nsn) not in (10, 11) or nsn[0] == "0" or national_prefix.match(nsn) is not None:
        return None
    if len(nsn) == 10 and nsn[2] in "6789":
        nsn = nsn[:2] + "9" + nsn[2:]  # the ninth digit, as _fix_br_ninth_digit
    if general.matches(nsn) and (fixed.matches(nsn) or mobile.matches(nsn)):
        return "+55" + nsn
    return None


REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)  # ISO 3166-1 alpha-2 codes with a plan


def check_region(code: str) -> str | None:
    """``code`` as a default region (upper case) if phonenumbers knows its numbering plan
    (an ISO 3166-1 alpha-2 code: ``BR``, ``PT``, ``us``), else None."""
    region = code.strip().upper()
    return region if len(region) == 2 and region in REGIONS else None


def check_phone(raw: str, default_region: str = "BR") -> str | InvalidPhone:
    """Like ``normalize_phone`` but returns the error (bulk paths count reasons, not raise)."""
    try:
        return normalize_phone(raw, default_region)
    except InvalidPhone as exc:
        return exc


def wa_jid_candidates(e164: str) -> tuple[str, ...]:
    """The JIDs a number may have in stored messages: for Brazilian mobiles, WhatsApp often
    keeps the account's pre-ninth-digit form (``55 11 8765-4321``), so both are listed."""
    digits = e164.lstrip("+")
    out = [digits]
    if digits.startswith("55") and len(digits) == 13 and digits[4] == "9":
        out.append(digits[:4] + digits[5:])
    return tuple(f"{d}@s.whatsapp.net" for d in out)
