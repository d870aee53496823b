"""Where a recipient is: a phone number (E.164) → its region, its possible time zones and the
holiday calendar that applies there. Pure (no I/O, no clock); the policy engine applies a
campaign's contact hours and holidays in the zones this gives (recipient-local time).

Brazil
  The area code (DDD, the two digits after +55) gives the state: ``BR_DDD_STATE`` lists all 67
  DDDs of Anatel's numbering plan (``tests/policy/test_locality.py`` holds an independent copy,
  with its source, and checks every one). The state gives its IANA zone (``STATE_ZONES``, as
  tzdata's ``zone.tab`` describes each Brazilian zone) and its holidays (national + state, from
  the ``holidays`` package, public holidays only: carnival and other *pontos facultativos* are
  not holidays). Brazil has four UTC offsets today: −2 (Fernando de Noronha), −3 (most of the
  country), −4 (AM east, MT, MS, RO, RR) and −5 (AC, AM west); the IANA zones also carry each
  state's past daylight-saving rules, so old instants are right too.

  Two DDDs span two zones, and the number alone cannot tell where in them the person is:
  81 (Pernambuco, which includes Fernando de Noronha, one hour ahead) and 97 (the interior of
  Amazonas, whose south-west — Tabatinga, Eirunepé, Lábrea, … — keeps Acre's time, one hour
  behind Manaus). Such a number has both zones, and the engine requires a send to be inside the
  contact hours in *every* one of them: a window one hour narrower, never a message at 7 a.m.
  on the island or at 9 p.m. in Tabatinga. (phonenumbers' own time-zone data is too coarse for
  Brazil — it gives all of DDD 81 to Noronha and all of MT to Manaus — so it is not used here.)

Other countries
  phonenumbers' time-zone data (by country code and prefix; e.g. a US area code gives its
  zone). A number it knows no zone for (``Etc/Unknown``) gets its country calling code's zones;
  a non-geographic number (+800, +881 …) has no local time at all and gets UTC, marked
  ``zone_source="unknown"``. Where a number has several possible zones (a mobile in a country
  with several), every one must be respected, as for Brazil's two-zone DDDs; in a country that
  spans many hours (Russia, Australia) that can leave no common hour, and the engine then
  says so rather than guess. Holidays: the country's national public holidays when the
  ``holidays`` package knows the country, else none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal, Protocol

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import timezone as phone_zones
from phonenumbers.tzdata import TIMEZONE_DATA

BR = "BR"
UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers when it knows no zone
ZoneSource = Literal["ddd", "phonenumbers", "country", "unknown"]

# fmt: off
#: DDD → state (UF). Anatel, Plano Geral de Códigos Nacionais (the 67 national codes in use).
BR_DDD_STATE: Mapping[int, str] = MappingProxyType({
    11: "SP", 12: "SP", 13: "SP", 14: "SP", 15: "SP", 16: "SP", 17: "SP", 18: "SP", 19: "SP",
    21: "RJ", 22: "RJ", 24: "RJ",
    27: "ES", 28: "ES",
    31: "MG", 32: "MG", 33: "MG", 34: "MG", 35: "MG", 37: "MG", 38: "MG",
    41: "PR", 42: "PR", 43: "PR", 44: "PR", 45: "PR", 46: "PR",
    47: "SC", 48: "SC", 49: "SC",
    51: "RS", 53: "RS", 54: "RS", 55: "RS",
    61: "DF",  # also Goiás towns around Brasília (same zone; DF's holidays)
    62: "GO", 64: "GO",
    63: "TO",
    65: "MT", 66: "MT",
    67: "MS",
    68: "AC",
    69: "RO",
    71: "BA", 73: "BA", 74: "BA", 75: "BA", 77: "BA",
    79: "SE",
    81: "PE", 87: "PE",
    82: "AL",
    83: "PB",
    84: "RN",
    85: "CE", 88: "CE",
    86: "PI", 89: "PI",
    91: "PA", 93: "PA", 94: "PA",
    92: "AM", 97: "AM",
    95: "RR",
    96: "AP",
    98: "MA", 99: "MA",
})

#: State → IANA zone, as tzdata's zone.tab describes the Brazilian zones.
STATE_ZONES: Mapping[str, str] = MappingProxyType({
    # America/Sao_Paulo: "Brazil (southeast: GO, DF, MG, ES, RJ, SP, PR, SC, RS)"
    "SP": "America/Sao_Paulo", "RJ": "America/Sao_Paulo", "ES": "America/Sao_Paulo",
    "MG": "America/Sao_Paulo", "PR": "America/Sao_Paulo", "SC": "America/Sao_Paulo",
    "RS": "America/Sao_Paulo", "DF": "America/Sao_Paulo", "GO": "America/Sao_Paulo",
    # America/Fortaleza: "Brazil (northeast: MA, PI, CE, RN, PB)"
    "MA": "America/Fortaleza", "PI": "America/Fortaleza", "CE": "America/Fortaleza",
    "RN": "America/Fortaleza", "PB": "America/Fortaleza",
    "PE": "America/Recife",
    "AL": "America/Maceio", "SE": "America/Maceio",
    "BA": "America/Bahia",
    "TO": "America/Araguaina",
    "PA": "America/Belem",  # east; DDD 93 (west) is America/Santarem, below
    "AP": "America/Belem",
    "MS": "America/Campo_Grande",
    "MT": "America/Cuiaba",
    "RO": "America/Porto_Velho",
    "RR": "America/Boa_Vista",
    "AM": "America/Manaus",  # east; DDD 97 also reaches the west, below
    "AC": "America/Rio_Branco",
})
# fmt: on

#: DDDs whose zones are not (only) their state's: the likeliest zone first.
DDD_ZONES: Mapping[int, tuple[str, ...]] = MappingProxyType(
    {
        # Pernambuco's DDD also serves Fernando de Noronha (America/Noronha, UTC−2).
        81: ("America/Recife", "America/Noronha"),
        # The interior of Amazonas: Manaus time, and Acre's in the south-west
        # (America/Eirunepe, "Amazonas (west)", UTC−5 since Lei 12.876/2013).
        97: ("America/Manaus", "America/Eirunepe"),
        # West Pará (Santarém, Itaituba, Altamira): America/Santarem, "Para (west)".
        93: ("America/Santarem",),
    }
)


#: Every Brazilian zone (Brasília time first): a number whose DDD is not in use may be anywhere.
BR_ZONES: tuple[str, ...] = tuple(
    dict.fromkeys((*STATE_ZONES.values(), *(z for zs in DDD_ZONES.values() for z in zs)))
)


class HolidayCalendar(Protocol):
    """What the policy engine asks of a holiday calendar (tests pass their own)."""

    def holiday(self, day: date) -> str | None:
        """The holiday's name when ``day`` is a holiday, else None."""
        ...


@dataclass(frozen=True)
class Holidays:
    """A country's public holidays, plus its subdivision's (a Brazilian state's) when given,
    from the ``holidays`` package; no holidays at all for a country it does not know."""

    country: str
    subdivision: str | None = None

    def holiday(self, day: date) -> str | None:
        calendar = _calendar(self.country, self.subdivision)
        if calendar is None:
            return None
        name: str | None = calendar.get(day)
        return name


@lru_cache(maxsize=512)
def _calendar(country: str, subdivision: str | None) -> Any:
    """The ``holidays`` object of a country (and subdivision), built once per process; it
    fills in each year on first use. None for a country the package does not know.
    Imported here: the package takes ~0.3 s to import, paid only by a process that asks."""
    import holidays

    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:  # the package raises this for an unknown country
        return None


@dataclass(frozen=True)
class Locality:
    """Where a number's owner is, as far as the number tells.

    ``zones`` lists every IANA zone the person may be in, the likeliest first: a send must be
    inside the contact hours in all of them. ``subdivision`` is the Brazilian state (UF) for
    Brazilian numbers, and ``area_code`` their DDD.
    """

    country: str
    zones: tuple[str, ...]
    zone_source: ZoneSource
    subdivision: str | None = None
    area_code: int | None = None

    @property
    def zone(self) -> str:
        """The likeliest zone (the first)."""
        return self.zones[0]

    @property
    def holidays(self) -> Holidays:
        """The public holidays where the person is: national, plus the state's in Brazil."""
        return Holidays(self.country, self.subdivision)


class UnknownNumber(ValueError):
    """Not a phone number in E.164 form (``+`` then the country code and number)."""


def ddd_state(ddd: int) -> str | None:
    """The state (UF) of a Brazilian area code, or None when no such DDD is in use."""
    return BR_DDD_STATE.get(ddd)


def brazil(ddd: int) -> Locality | None:
    """The locality of a Brazilian DDD, or None for a code not in use."""
    state = BR_DDD_STATE.get(ddd)
    if state is None:
        return None
    zones = DDD_ZONES.get(ddd, (STATE_ZONES[state],))
    return Locality(BR, zones, "ddd", subdivision=state, area_code=ddd)


def locate(e164: str) -> Locality:
    """The locality of a number in E.164 form (as contacts store them: ``+5511987654321``).

    Raises `UnknownNumber` for text that is not an E.164 number. A number need not be valid
    in its plan (an old or unassigned range still has a country): only its country code and,
    in Brazil, its DDD are read.
    """
    text = e164.strip()
    if not text.startswith("+") or not text[1:].isascii() or not text[1:].isdigit():
        raise UnknownNumber(f"not an E.164 number: {e164[:40]!r}")
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException as exc:
        raise UnknownNumber(f"not an E.164 number: {e164[:40]!r}") from exc
    code = number.country_code or 0
    if code == 55:
        local = brazil(int(str(number.national_number)[:2]))
        if local is not None:
            return local
        return Locality(BR, BR_ZONES, "country")  # no such DDD: anywhere in Brazil
    region = phonenumbers.region_code_for_number(number)
    if region is None:
        region = phonenumbers.region_code_for_country_code(code)
    zones = tuple(z for z in phone_zones.time_zones_for_number(number) if z != UNKNOWN_ZONE)
    source: ZoneSource = "phonenumbers"
    if not zones:
        country_zones = TIMEZONE_DATA.get(str(code), ())
        zones = tuple(z for z in country_zones if z != UNKNOWN_ZONE)
        source = "country"
    if not zones:
        return Locality(region or "001", ("UTC",), "unknown")
    return Locality(region or "001", zones, source)
