"""The week-grid editor's form (pure): each problem lands on the cell it was typed in, with
that cell's column number, in pt-BR and in English."""

from __future__ import annotations

import pytest

from mirage.conversations import forms
from mirage.kit.i18n import text


def _problems(fields: dict[str, str]) -> dict[str, list[str]]:
    with pytest.raises(forms.FormProblems) as caught:
        forms.parse_form(
            {"rounds_per_window": "3", "pause_min_m": "10", "pause_max_m": "60", **fields}, cols=3
        )
    by_field = forms.problems_by_field(caught.value)
    return {k: [text("pt_BR", m) for m in v] for k, v in by_field.items()}


def test_a_problem_is_on_its_cell_with_its_column_number() -> None:
    found = _problems(
        {
            "w1_0_start": "08:00",
            "w1_0_end": "12:00",
            # The afternoon left empty; the night crosses midnight.
            "w1_2_start": "23:00",
            "w1_2_end": "02:00",
            "w0_0_start": "08:00",
            "w0_0_end": "12:00",
            "w0_2_start": "11:00",  # overlaps the morning, typed in the night column
            "w0_2_end": "13:00",
            "w2_1_start": "14:00",  # no end
        }
    )
    assert found == {
        "windows.1.2": [
            "Terça-feira, faixa 3: o início deve ser antes do fim (uma faixa que passa da "
            "meia-noite vira uma faixa em cada dia)"
        ],
        "windows.0.2": ["Segunda-feira, faixa 3 se sobrepõe à faixa 1"],
        "windows.2.1": ["Quarta-feira, faixa 2: informe o início e o fim"],
    }


def test_numbers_are_checked_and_named_in_english_too() -> None:
    with pytest.raises(forms.FormProblems) as caught:
        forms.parse_form(
            {
                "w0_0_start": "08:00",
                "w0_0_end": "09:00",
                "rounds_per_window": "x",
                "pause_min_m": "90",
                "pause_max_m": "30",
            },
            cols=3,
        )
    by_field = forms.problems_by_field(caught.value)
    assert {k: [text("en", m) for m in v] for k, v in by_field.items()} == {
        "rounds_per_window": ["Rounds per window: enter a whole number"],
        "pause_min_m": ["the shortest pause must not be longer than the longest pause"],
    }
    windows, rounds, low, high = forms.parse_form(
        {
            "w0_2_start": "19:00",
            "w0_2_end": "00:00",
            "rounds_per_window": "2",
            "pause_min_m": "5",
            "pause_max_m": "30",
        },
        cols=3,
    )
    assert windows["0"] == [["19:00", "00:00"]] and (rounds, low, high) == (2, 300, 1800)
