"""Recipient locality: every Brazilian DDD → its state, zone(s) and holidays; foreign numbers →
their country's zones and holidays.

The DDD table below is an independent copy, written by state as the sources list them:
Anatel's Plano Geral de Códigos Nacionais (the national codes by state; 67 in use, see
Anatel's "Códigos Nacionais" pages and the 2026 local-area reform that made each of the 67
codes one local area, https://convergenciadigital.com.br/telecom/anatel-muda-ddds-em-todo-o-pais-e-reduz-de-4-mil-para-67-codigos),
as tabulated in https://pt.wikipedia.org/wiki/N%C3%BAmeros_de_telefone_no_Brasil ("Códigos de
Área"). The expected UTC offsets are Brazil's legal time today (Decreto 2.784/1913 as amended by
Lei 11.662/2008 and Lei 12.876/2013; no daylight saving since Decreto 9.772/2019), written as
numbers rather than zone names so they check the module's zone choice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirage.policy.locality import (
    BR_DDD_STATE,
    BR_ZONES,
    Holidays,
    UnknownNumber,
    brazil,
    ddd_state,
    locate,
)

# fmt: off
DDDS_BY_STATE = {
    "AC": (68,), "AL": (82,), "AM": (92, 97), "AP": (96,), "BA": (71, 73, 74, 75, 77),
    "CE": (85, 88), "DF": (61,), "ES": (27, 28), "GO": (62, 64), "MA": (98, 99),
    "MG": (31, 32, 33, 34, 35, 37, 38), "MS": (67,), "MT": (65, 66), "PA": (91, 93, 94),
    "PB": (83,), "PE": (81, 87), "PI": (86, 89), "PR": (41, 42, 43, 44, 45, 46),
    "RJ": (21, 22, 24), "RN": (84,), "RO": (69,), "RR": (95,), "RS": (51, 53, 54, 55),
    "SC": (47, 48, 49), "SE": (79,), "SP": (11, 12, 13, 14, 15, 16, 17, 18, 19),
    "TO": (63,),
}
# fmt: on
TABLE = {ddd: uf for uf, ddds in DDDS_BY_STATE.items() for ddd in ddds}

# UTC offsets (hours) a DDD's people may live at today: most of Brazil at −3; Amazonas (east),
# Mato Grosso, Mato Grosso do Sul, Rondônia and Roraima at −4; Acre and south-west Amazonas
# (in DDD 97) at −5; Fernando de Noronha (in DDD 81) at −2.
OFFSETS = {ddd: {-3} for ddd in TABLE}
OFFSETS.update({92: {-4}, 97: {-4, -5}, 65: {-4}, 66: {-4}, 67: {-4}, 69: {-4}, 95: {-4}})
OFFSETS.update({68: {-5}, 81: {-3, -2}})
NOW = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)


def test_the_table_has_the_67_ddds_of_the_27_states() -> None:
    assert len(TABLE) == 67
    assert len(DDDS_BY_STATE) == 27


@pytest.mark.parametrize("ddd", sorted(TABLE))
def test_every_ddd_gives_its_state_zone_and_holidays(ddd: int) -> None:
    uf = TABLE[ddd]
    assert ddd_state(ddd) == uf
    for e164 in (f"+55{ddd}987654321", f"+55{ddd}32345678"):  # a mobile and a fixed line
        local = locate(e164)
        assert (local.country, local.subdivision, local.area_code) == ("BR", uf, ddd)
        assert local.zone_source == "ddd"
        offsets = {
            int(NOW.astimezone(ZoneInfo(z)).utcoffset().total_seconds() // 3600)  # type: ignore[union-attr]
            for z in local.zones
        }
        assert offsets == OFFSETS[ddd], local.zones
        assert local.zone == local.zones[0]
        # National holidays everywhere, by their dates.
        cal = local.holidays
        for day in (date(2025, 4, 21), date(2025, 9, 7), date(2025, 11, 20), date(2025, 12, 25)):
            assert cal.holiday(day), (uf, day)
        assert cal.holiday(date(2025, 6, 3)) is None  # an ordinary Tuesday


def test_no_other_two_digit_code_is_a_ddd() -> None:
    assert set(BR_DDD_STATE) == set(TABLE)
    for code in range(10, 100):
        if code not in TABLE:
            assert ddd_state(code) is None
            assert brazil(code) is None


def test_the_two_zone_ddds_list_the_likelier_zone_first() -> None:
    assert locate("+5581999990000").zones == ("America/Recife", "America/Noronha")
    assert locate("+5597999990000").zones == ("America/Manaus", "America/Eirunepe")
    assert locate("+5593999990000").zones == ("America/Santarem",)
    assert locate("+5568999990000").zones == ("America/Rio_Branco",)
    assert locate("+5511999990000").zones == ("America/Sao_Paulo",)


@pytest.mark.parametrize(
    ("e164", "day", "name_part"),
    [
        ("+5511999990000", date(2025, 7, 9), "Constitutionalist"),  # SP, 9 July
        ("+5521999990000", date(2025, 4, 23), "George"),  # RJ, São Jorge
        ("+5571999990000", date(2025, 7, 2), "Bahia"),  # BA, 2 July
        ("+5551999990000", date(2025, 9, 20), "Gaucho"),  # RS, Farroupilha
        ("+5581999990000", date(2025, 3, 6), "Pernambuco"),  # PE, Data Magna
        ("+5585999990000", date(2025, 3, 25), "Ceará"),  # CE, abolition
        ("+5592999990000", date(2025, 9, 5), "Amazonas"),  # AM
        ("+5568999990000", date(2025, 6, 15), "Acre"),  # AC
    ],
)
def test_state_holidays_apply_only_in_their_state(e164: str, day: date, name_part: str) -> None:
    name = locate(e164).holidays.holiday(day)
    assert name is not None and name_part in name
    # The same day is an ordinary day in a state without that holiday (MG has none of these).
    assert locate("+5531999990000").holidays.holiday(day) is None


def test_carnival_is_no_public_holiday_except_where_the_state_makes_it_one() -> None:
    carnival = date(2025, 3, 4)
    assert locate("+5511999990000").holidays.holiday(carnival) is None
    assert locate("+5521999990000").holidays.holiday(carnival) is not None  # RJ state law


def test_foreign_numbers_use_their_countrys_zones_and_holidays() -> None:
    us = locate("+12125550123")
    assert (us.country, us.zones, us.zone_source) == ("US", ("America/New_York",), "phonenumbers")
    assert us.holidays.holiday(date(2025, 7, 4)) is not None
    assert us.holidays.holiday(date(2025, 9, 7)) is None  # Brazil's independence, not theirs
    pt = locate("+351912345678")
    assert pt.country == "PT" and set(pt.zones) == {"Europe/Lisbon", "Atlantic/Azores"}
    assert pt.holidays.holiday(date(2025, 4, 25)) is not None


def test_a_number_without_zone_data_gets_its_country_code_zones_or_utc() -> None:
    # An invalid UAE number: phonenumbers has no zone for it, the country code has one.
    ae = locate("+97150123456")
    assert ae.zones == ("Asia/Dubai",) and ae.zone_source == "country"
    # A non-geographic (international freephone) number has no local time.
    free = locate("+80012345678")
    assert free.zones == ("UTC",) and free.zone_source == "unknown"
    assert free.holidays.holiday(date(2025, 12, 25)) is None  # no country, no holidays
    # A Brazilian number with no DDD in use may be anywhere in Brazil: every zone.
    odd = locate("+5510987654321")
    assert odd.zones == BR_ZONES and odd.subdivision is None and odd.zone_source == "country"
    assert len({ZoneInfo(z).utcoffset(NOW.replace(tzinfo=None)) for z in BR_ZONES}) == 4


@pytest.mark.parametrize(
    "text", ["", "11987654321", "5511987654321", "+55 11 98765-4321", "+55", "+abc", "+١١٢"]
)
def test_only_e164_is_read(text: str) -> None:
    with pytest.raises(UnknownNumber):
        locate(text)


def test_an_unknown_country_has_no_holidays() -> None:
    assert Holidays("XX").holiday(date(2025, 1, 1)) is None


@given(
    st.sampled_from(sorted(TABLE)),
    st.integers(0, 99_999_999),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
)
def test_any_brazilian_number_maps_to_its_ddds_state(ddd: int, subscriber: int, day: date) -> None:
    local = locate(f"+55{ddd}9{subscriber:08d}")
    assert local.subdivision == TABLE[ddd]
    for zone in local.zones:
        ZoneInfo(zone)  # a real IANA zone
    # National holidays are holidays in every state, every year.
    national = Holidays("BR").holiday(day)
    if national is not None:
        assert local.holidays.holiday(day) is not None


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@given(st.sampled_from(REGIONS))
def test_every_countrys_example_number_has_loadable_zones(region: str) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        example = phonenumbers.example_number(region)
    if example is None:
        return
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    local = locate(e164)
    assert local.zones
    for zone in local.zones:
        instant = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=180)
        assert instant.astimezone(ZoneInfo(zone)).utcoffset() is not None
    if region != "BR":
        assert local.country == phonenumbers.region_code_for_number(example)
