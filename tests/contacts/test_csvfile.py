"""The CSV reader: detection of encoding and dialect, streaming, preview, mapping guesses."""

from __future__ import annotations

import codecs
import csv
import io
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.contacts import csvfile
from mirage.contacts.csvfile import CsvFileError, Dialect

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALPHABET = "abcXYZ áéíóúãõçÁÉÇ;,\t\"'\n0123456789-()+@."
cells = st.text(alphabet=ALPHABET, max_size=12)
names = st.text(alphabet="abcdefghij", min_size=1, max_size=8)


def _encode(rows: list[list[str]], delimiter: str, encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    header = draw(st.lists(names, min_size=2, max_size=6, unique=True))
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), max_size=30))
    return header, rows


@FAST
@given(
    tables(),
    st.sampled_from(csvfile.DELIMITERS),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_round_trip_any_dialect_and_encoding(
    table: tuple[list[str], list[list[str]]], delimiter: str, encoding: str
) -> None:
    header, rows = table
    data = _encode([header, *rows], delimiter, encoding)
    p = csvfile.preview(io.BytesIO(data), rows=1000)
    assert p.dialect.delimiter == delimiter
    assert p.header == tuple(header)
    expected = [tuple(r) for r in rows if any(c.strip() for c in r)]
    assert list(p.rows) == expected
    if encoding == "utf-8-sig":
        assert p.dialect.encoding == "utf-8-sig"


@FAST
@given(tables(), st.integers(min_value=0, max_value=40))
def test_skip_resumes_at_the_same_record(
    table: tuple[list[str], list[list[str]]], skip: int
) -> None:
    header, rows = table
    data = _encode([header, *rows], ";", "utf-8")
    dialect = Dialect("utf-8", ";")
    _, everything = csvfile.read_records(io.BytesIO(data), dialect)
    full = list(everything)
    _, rest = csvfile.read_records(io.BytesIO(data), dialect, skip=skip)
    assert list(rest) == full[skip:]
    assert [r.number for r in full] == list(range(1, len(full) + 1))


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_either_read_or_refused_cleanly(data: bytes) -> None:
    try:
        p = csvfile.preview(io.BytesIO(data))
    except CsvFileError:
        return
    assert all(len(row) == len(p.header) for row in p.rows)
    assert set(p.mapping) == set(p.header)


# --- examples -------------------------------------------------------------------------------


def test_encodings() -> None:
    text = "Nome;Observações\nJoão;ação\n"
    assert csvfile.detect_encoding(codecs.BOM_UTF8 + text.encode()) == "utf-8-sig"
    assert csvfile.detect_encoding(text.encode()) == "utf-8"
    assert csvfile.detect_encoding(text.encode("cp1252")) == "cp1252"
    assert csvfile.detect_encoding(text.encode("latin-1") + b"\x81") == "latin-1"
    # A sample cut inside a multi-byte character is still UTF-8.
    assert csvfile.detect_encoding("açaí".encode()[:-1]) == "utf-8"


def test_cp1252_specials_are_decoded() -> None:
    data = "nome;telefone\n“Zé” – €;11987654321\n".encode("cp1252")
    p = csvfile.preview(io.BytesIO(data))
    assert p.dialect.encoding == "cp1252"
    assert p.rows == (("“Zé” – €", "11987654321"),)


def test_dialects() -> None:
    assert csvfile.detect_dialect(b"a,b\n1,2\n").delimiter == ","
    assert csvfile.detect_dialect(b"a\tb\n1\t2\n").delimiter == "\t"
    assert csvfile.detect_dialect(b"a;b\n1,5;2\n").delimiter == ";"
    # Commas inside a ;-file's cells do not fool it.
    assert csvfile.detect_dialect(b"nome;tags\nAna;a,b,c\nBia;d,e\n").delimiter == ";"
    # One column: the file's only delimiter-free shape; ; by default.
    assert csvfile.detect_dialect(b"telefone\n11987654321\n", whole=True).delimiter == ";"
    single = csvfile.detect_dialect(b"nome,obs\n'Ana','a, b'\n'Bia','c'\n")
    assert (single.delimiter, single.quotechar) == (",", "'")
    with pytest.raises(CsvFileError) as err:
        csvfile.detect_dialect(b"  \r\n\r\n")
    assert err.value.reason == "empty"


def test_quoted_newlines_blank_lines_and_ragged_rows() -> None:
    data = (
        b"nome;telefone;obs\r\n"
        b"\r\n"
        b'Ana;11987654321;"linha 1\r\nlinha 2"\r\n'
        b";;\r\n"
        b"Bia;11987654322\r\n"
        b"Caio;11987654323;x;extra;mais\r\n"
    )
    header, records = csvfile.read_records(io.BytesIO(data), Dialect("utf-8", ";"))
    assert header == ("nome", "telefone", "obs")
    assert list(records) == [
        csvfile.Record(1, ("Ana", "11987654321", "linha 1\r\nlinha 2")),
        csvfile.Record(2, ("Bia", "11987654322", "")),
        csvfile.Record(3, ("Caio", "11987654323", "x")),
    ]


def test_header_cleaning() -> None:
    assert csvfile.clean_header([" Nome ", "", "nome", "\ufeffTel"]) == (
        "Nome",
        "coluna_2",
        "nome_2",
        "Tel",
    )


def test_a_runaway_quote_is_refused_not_swallowed() -> None:
    data = b'nome;obs\nAna;"' + b"x" * 200_000
    _, records = csvfile.read_records(io.BytesIO(data), Dialect("utf-8", ";"))
    with pytest.raises(CsvFileError) as err:
        list(records)
    assert err.value.reason == "malformed"


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x14\x00\x06\x00",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"%PDF-1.7\n",
        "nome;telefone\n".encode("utf-16"),
        b"\x00\x01\x02\x03" * 100,
    ],
)
def test_not_a_csv_is_named(data: bytes) -> None:
    with pytest.raises(CsvFileError) as err:
        csvfile.preview(io.BytesIO(data))
    assert err.value.reason == "not_csv"


def test_header_only_and_empty() -> None:
    p = csvfile.preview(io.BytesIO(b"nome;telefone\n"))
    assert p.rows == ()
    with pytest.raises(CsvFileError):
        csvfile.preview(io.BytesIO(b""))


def test_mapping_guesses() -> None:
    header = [
        "Nome",
        "Celular",
        "WhatsApp",
        "E-mail",
        "Tags",
        "Idioma",
        "Observações",
        "Data de Nascimento",
        "Cidade",
        "cidade!",
    ]
    assert csvfile.guess_mapping(header) == {
        "Nome": "name",
        "Celular": "phone",
        "WhatsApp": "custom.whatsapp",  # phone is taken by the first phone-like column
        "E-mail": "email",
        "Tags": "tags",
        "Idioma": "language",
        "Observações": "notes",
        "Data de Nascimento": "custom.data_de_nascimento",
        "Cidade": "custom.cidade",
        "cidade!": "custom.cidade_2",
    }
    for phone in ("telefone", "TELEFONE", "fone", "phone", "whatsapp"):
        assert csvfile.guess_mapping([phone])[phone] == "phone"
    assert csvfile.guess_mapping(["name", "email"]) == {"name": "name", "email": "email"}


def test_mapping_validation() -> None:
    header = ["nome", "tel", "x"]
    ok = {"nome": "name", "tel": "phone", "x": "custom.x"}
    assert csvfile.validate_mapping(header, ok) == []
    assert csvfile.validate_mapping(header, {"nome": "name"}) == ["no column is mapped to phone"]
    problems = csvfile.validate_mapping(
        header, {"tel": "phone", "nome": "phone", "x": "custom.X Y", "zz": "name"}
    )
    assert len(problems) == 3
    assert csvfile.validate_mapping(header, {"tel": "phone", "x": "shoe"}) == [
        "unknown field 'shoe' for column 'x'"
    ]


class _Generated(io.RawIOBase):
    """A large CSV produced on the fly (never whole in memory)."""

    def __init__(self, rows: int) -> None:
        self._lines = self._make(rows)
        self._buffer = b""

    @staticmethod
    def _make(rows: int) -> Iterator[bytes]:
        yield b"nome;telefone;cidade\n"
        for i in range(rows):
            yield f'Pessoa {i};(11) 9{i:08d};"Cidade\n{i % 50}"\n'.encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._buffer) < len(buffer):
            chunk = next(self._lines, None)
            if chunk is None:
                break
            self._buffer += chunk
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def test_streaming_memory_is_bounded() -> None:
    rows = 100_000  # ~4 MB of CSV
    tracemalloc.start()
    try:
        _, records = csvfile.read_records(
            io.BufferedReader(_Generated(rows)), Dialect("utf-8", ";")
        )
        count = sum(1 for _ in records)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    assert peak < 1_000_000, peak
