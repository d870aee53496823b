"""The port of Evolution's createJid and the 9th-digit lookup."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirage.simulator.jids import br_variants, create_jid, digits


@pytest.mark.parametrize(
    ("raw", "jid"),
    [
        ("5511999999999", "5511999999999@s.whatsapp.net"),  # DDD < 31 keeps the 9
        ("+55 (11) 99999-9999", "5511999999999@s.whatsapp.net"),
        ("5531988887777", "553188887777@s.whatsapp.net"),  # DDD >= 31, 8 after the 9: dropped
        ("5531966667777", "5531966667777@s.whatsapp.net"),  # subscriber starts with 6: kept
        ("5215512345678", "525512345678@s.whatsapp.net"),  # Mexico drops its extra digit
        ("5491112345678", "541112345678@s.whatsapp.net"),  # Argentina too
        ("14155550100", "14155550100@s.whatsapp.net"),
        ("5511999999999:12@s.whatsapp.net", "5511999999999@s.whatsapp.net"),  # device suffix
        ("123456789012345678", "123456789012345678@g.us"),  # 18+ digits: a group
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),
    ],
)
def test_create_jid_matches_evolution(raw: str, jid: str) -> None:
    assert create_jid(raw) == jid


@given(st.from_regex(r"\A55[1-9][1-9]9[0-9]{8}\Z"))
def test_both_forms_of_a_brazilian_mobile_reach_each_other(number: str) -> None:
    short = number[:4] + number[5:]
    assert short in br_variants(number)
    assert number in br_variants(short)
    # Whatever createJid makes of either form, a lookup over variants finds the account.
    for dialled in (number, short):
        user = create_jid(dialled).split("@")[0]
        assert number in br_variants(user) or user == number


@given(st.text(alphabet="0123456789 +()-", min_size=1, max_size=20))
def test_create_jid_is_stable(raw: str) -> None:
    jid = create_jid(raw)
    assert create_jid(jid) == jid
    assert digits(jid).isdigit() or digits(jid) == ""
