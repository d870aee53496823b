"""Pure phone normalization: any way a person writes a number → E.164, or a reason code.

The tenant's country is the default region (Brazil unless told otherwise), so national forms
— ``(11) 98765-4321``, ``011 98765 4321`` (trunk prefix), ``0 15 11 …`` (carrier code) — and
the country code written without ``+`` (``5511987654321``) all give ``+5511987654321``.
A Brazilian mobile written without the ninth digit (8 digits starting 6–9 after the DDD,
the pre-2016 form people still type and export) gains it.
"""

from __future__ import annotations

from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult

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
