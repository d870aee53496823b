"""One CSV row → a contact candidate, or the reason it is rejected. Pure.

The phone normalizer is passed in (``Normalizer``: a raw string → E.164, or a reason), so this
module stays a function of its inputs. Duplicates in the file are the caller's to track (it
sees every row; this function sees one).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from mirage.contacts import csvfile
from mirage.contacts.phones import check_phone

# Row outcomes that reject a row (the keys of ``invalid_by_reason``, and the reason column of
# the rejected-rows download). Invalid phones are reported as ``invalid_phone`` with the
# normalizer's own reason in the detail.


class Reason(StrEnum):
    MISSING_PHONE = "missing_phone"
    INVALID_PHONE = "invalid_phone"
    MISSING_BASIS = "missing_basis"
    INVALID_BASIS = "invalid_basis"
    INVALID_EMAIL = "invalid_email"
    INVALID_LANGUAGE = "invalid_language"
    TOO_LONG = "too_long"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    SUPPRESSED = "suppressed"


BASES: Final = ("consent", "legitimate_interest")
_BASIS_WORDS = {
    "consent": "consent",
    "consentimento": "consent",
    "optin": "consent",
    "sim": "consent",
    "legitimateinterest": "legitimate_interest",
    "legitimointeresse": "legitimate_interest",
    "interesselegitimo": "legitimate_interest",
    "li": "legitimate_interest",
}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
_TAG_SPLIT = re.compile(r"[,;|]")

MAX_NAME = 120
MAX_EMAIL = 254
MAX_NOTES = 5000
MAX_CUSTOM_VALUE = 1000
MAX_TAG = 40
MAX_TAGS = 20


@dataclass(frozen=True)
class PhoneResult:
    """What the normalizer says about a raw phone: E.164, or why not."""

    e164: str | None
    reason: str | None = None


Normalizer = Callable[[str], PhoneResult]


def _release(exc: BaseException) -> None:
    """Free the frames an exception (and those chained to it) holds: a returned exception's
    traceback keeps, through the frames' locals, a reference cycle that also holds the
    calling frames (a whole chunk of rows) until the cyclic collector runs."""
    seen: BaseException | None = exc
    while seen is not None:
        if seen.__traceback__ is not None:
            traceback.clear_frames(seen.__traceback__)
            seen.__traceback__ = None
        seen = seen.__context__
    exc.__context__ = None


def phone_normalizer(region: str = "BR") -> Normalizer:
    """The contacts normalizer (``contacts.phones``) with the tenant's country as default."""

    def normalize(raw: str) -> PhoneResult:
        result = check_phone(raw, region)
        if isinstance(result, str):
            return PhoneResult(result)
        _release(result)
        return PhoneResult(None, result.reason.value)

    return normalize


@dataclass(frozen=True)
class Defaults:
    """Options of the import that apply to every row (a row's own basis column wins)."""

    basis: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    number: int
    phone_e164: str
    basis: str
    name: str | None = None
    email: str | None = None
    language: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = ()
    custom: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RowError:
    number: int
    reason: Reason
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """A mapping resolved against a header once: the cell index of each field."""

    phone: int
    name: int | None
    email: int | None
    language: int | None
    notes: int | None
    tags: int | None
    basis: int | None
    custom: tuple[tuple[str, int], ...]


def plan(header: Sequence[str], mapping: Mapping[str, str]) -> Plan:
    """Resolve ``mapping`` (column → field, see ``csvfile``) against ``header``. The mapping
    must have been checked with ``csvfile.validate_mapping``."""
    index = {column: i for i, column in enumerate(header)}
    standard: dict[str, int] = {}
    custom: list[tuple[str, int]] = []
    for column, target in mapping.items():
        if column not in index or target == csvfile.IGNORE:
            continue
        if target.startswith(csvfile.CUSTOM_PREFIX):
            custom.append((target[len(csvfile.CUSTOM_PREFIX) :], index[column]))
        else:
            standard[target] = index[column]
    if csvfile.PHONE not in standard:
        raise ValueError("no column is mapped to phone")
    return Plan(
        phone=standard[csvfile.PHONE],
        name=standard.get(csvfile.NAME),
        email=standard.get(csvfile.EMAIL),
        language=standard.get(csvfile.LANGUAGE),
        notes=standard.get(csvfile.NOTES),
        tags=standard.get(csvfile.TAGS),
        basis=standard.get(csvfile.BASIS),
        custom=tuple(custom),
    )


def _cell(cells: Sequence[str], i: int | None) -> str:
    if i is None or i >= len(cells):
        return ""
    return " ".join(cells[i].split())


def basis_of(raw: str) -> str | None:
    """``consent`` / ``legitimate_interest`` from what a spreadsheet may say, else None."""
    return _BASIS_WORDS.get(csvfile.fold(raw))


def split_tags(raw: str) -> tuple[str, ...]:
    out: list[str] = []
    seen: set[str] = set()
    for part in _TAG_SPLIT.split(raw):
        tag = " ".join(part.split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return tuple(out)


def parse_row(
    number: int,
    cells: Sequence[str],
    p: Plan,
    defaults: Defaults,
    normalize: Normalizer,
) -> Candidate | RowError:
    """Judge one row. Checks run in a fixed order, so a row has exactly one reason: phone,
    basis, then the other fields."""
    raw_phone = _cell(cells, p.phone)
    if not raw_phone:
        return RowError(number, Reason.MISSING_PHONE)
    phone = normalize(raw_phone)
    if phone.e164 is None:
        return RowError(number, Reason.INVALID_PHONE, phone.reason or "invalid")

    raw_basis = _cell(cells, p.basis)
    if raw_basis:
        basis = basis_of(raw_basis)
        if basis is None:
            return RowError(number, Reason.INVALID_BASIS, raw_basis[:60])
    elif defaults.basis is not None:
        basis = defaults.basis
    else:
        return RowError(number, Reason.MISSING_BASIS)

    name = _cell(cells, p.name) or None
    if name is not None and len(name) > MAX_NAME:
        return RowError(number, Reason.TOO_LONG, "name")
    email = _cell(cells, p.email).lower() or None
    if email is not None and (len(email) > MAX_EMAIL or not _EMAIL.match(email)):
        return RowError(number, Reason.INVALID_EMAIL)
    language = _cell(cells, p.language) or None
    if language is not None:
        if not _LANGUAGE.match(language):
            return RowError(number, Reason.INVALID_LANGUAGE)
        language = language.replace("_", "-")
    notes = cells[p.notes].strip() if p.notes is not None and p.notes < len(cells) else ""
    if len(notes) > MAX_NOTES:
        return RowError(number, Reason.TOO_LONG, "notes")

    tags = list(defaults.tags)
    if p.tags is not None:
        known = {t.casefold() for t in tags}
        for tag in split_tags(_cell(cells, p.tags)):
            if len(tag) > MAX_TAG:
                return RowError(number, Reason.TOO_LONG, "tags")
            if tag.casefold() not in known:
                known.add(tag.casefold())
                tags.append(tag)
    if len(tags) > MAX_TAGS:
        return RowError(number, Reason.TOO_LONG, "tags")

    custom: dict[str, str] = {}
    for key, i in p.custom:
        value = _cell(cells, i)
        if not value:
            continue
        if len(value) > MAX_CUSTOM_VALUE:
            return RowError(number, Reason.TOO_LONG, f"custom.{key}")
        custom[key] = value

    return Candidate(
        number=number,
        phone_e164=phone.e164,
        basis=basis,
        name=name,
        email=email,
        language=language,
        notes=notes or None,
        tags=tuple(tags),
        custom=custom,
    )
