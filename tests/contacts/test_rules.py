"""Pure pieces of the contacts service: keywords, cursors, search filters, CSV cells."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirage.contacts import service
from mirage.contacts.repository import _upper_bound
from mirage.contacts.schemas import ContactFilterIn
from mirage.kit.errors import ValidationFailed


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("VOLTAR", "VOLTAR"),
        (" voltar! ", "VOLTAR"),
        ("Start", "START"),
        ("PARE", "PARE"),
        ("pare.", "PARE"),
        ("Descadastrar", "DESCADASTRAR"),
        ("vou parar no mercado", None),
        ("voltar amanhã", None),
        ("não", None),
        ("", None),
        ("🙂", None),
    ],
)
def test_keywords_are_whole_messages(text: str, word: str | None) -> None:
    assert service.keyword_of(text) == word


def test_cursor_roundtrip_and_hostile_cursors() -> None:
    at, rid = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC), uuid.uuid4()
    assert service.decode_cursor(service.encode_cursor(at, rid)) == (at, rid)
    assert service.decode_cursor(None) is None
    for bad in ("!!!", "W10", "e30", "x" * 300, "WyJ4IiwgInkiXQ", "WyIyMDI2LTAxLTAxIiwgIngiXQ"):
        with pytest.raises(ValidationFailed):
            service.decode_cursor(bad)


@given(st.text(max_size=100))
@settings(max_examples=300, deadline=None)
def test_any_search_text_builds_a_filter_or_a_4xx(q: str) -> None:
    try:
        f = service.build_filter(ContactFilterIn(q=q))
    except ValidationFailed:
        assert "\x00" in q
        return
    for word in f.words:
        assert word and word == word.lower()
    for prefix in f.phone_prefixes:
        assert prefix.startswith("+") and prefix[1:].isdigit()


def test_search_words_fold_accents_and_digits_become_prefixes() -> None:
    assert service.build_filter(ContactFilterIn(q="JOÃO  Conceição")).words == (
        "joao",
        "conceicao",
    )
    assert service.build_filter(ContactFilterIn(q="(11) 98765")).phone_prefixes == (
        "+1198765",
        "+551198765",
    )
    f = service.build_filter(ContactFilterIn(q="11 98765-4321"))
    assert "+5511987654321" in f.phone_prefixes


def test_upper_bounds() -> None:
    assert _upper_bound("ab") == "ac"
    assert _upper_bound("a\ud7ff") == "a\ue000"
    assert _upper_bound("a\U0010ffff") is None


def test_export_csv_cells_cannot_be_formulas() -> None:
    export = {
        "request_id": "r",
        "generated_at": "now",
        "subject": {"phones": ["+5511987654321"]},
        "contacts": [{"id": "c", "name": '=HYPERLINK("http://x")', "custom_fields": {"a": 1}}],
        "messages": [{"id": "m", "text": "@SUM(A1)"}],
        "outgoing_messages": [],
        "suppressions": [{"reason": "opt_out"}],
    }
    rows = list(csv.reader(io.StringIO(service.export_csv(export))))
    cells = {(r[0], r[2]): r[3] for r in rows}
    assert cells[("contacts", "name")].startswith("'=")
    assert cells[("messages", "text")] == "'@SUM(A1)"
    assert cells[("subject", "phone")] == "+5511987654321"  # a plain number stays as it is
    assert cells[("contacts", "custom_fields")] == '{"a": 1}'
