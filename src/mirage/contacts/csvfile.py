"""CSV files as people actually send them: detection, streaming, preview, mapping guesses.

Pure (no database, no clock): everything here is a function of the bytes it is given.

- Encoding: UTF-8 with or without a BOM; otherwise Windows-1252 (what Excel pt-BR writes),
  or Latin-1 when the bytes use code points Windows-1252 leaves undefined.
- Dialect: delimiter ``;``, ``,`` or tab, and the quote character, from a sample.
- Rows are streamed from a binary file object with bounded memory (``csv`` reads one record
  at a time; a field is capped by csv's field size limit): quoted newlines, blank lines and ragged
  rows (short rows padded, extra cells dropped) are handled.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

SAMPLE_BYTES = 64 * 1024
# csv's own field size limit (131,072 characters by default) bounds a field, and so the
# memory an unterminated quote can take.
MAX_COLUMNS = 200
MAX_HEADER_CHARS = 100
DELIMITERS = (";", ",", "\t")
QUOTES = ('"', "'")
# Bytes Windows-1252 leaves undefined (Latin-1 maps them to C1 controls).
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


class CsvFileError(ValueError):
    """The file cannot be read as a CSV; ``reason`` is a short machine-readable word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Dialect:
    encoding: str
    delimiter: str
    quotechar: str = '"'


@dataclass(frozen=True)
class Record:
    """One data row: its number (1 = the first data row after the header, blank lines not
    counted) and its cells, padded or cut to the header's width."""

    number: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    dialect: Dialect
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    mapping: dict[str, str] = field(default_factory=dict)


# --- detection ----------------------------------------------------------------------------


def detect_encoding(sample: bytes) -> str:
    """``utf-8-sig`` (BOM), ``utf-8``, ``cp1252`` or ``latin-1``."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # The sample may end inside a multi-byte character: an incremental decoder accepts a
        # truncated tail and refuses only real errors.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        if _CP1252_UNDEFINED.intersection(sample):
            return "latin-1"
        return "cp1252"
    return "utf-8"


def _decode_sample(sample: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)


def _complete_lines(text: str, *, whole: bool) -> str:
    """The sample without its last (possibly cut) line, unless it is the whole file."""
    if whole:
        return text
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[:cut] if cut > 0 else text


def _widths(text: str, delimiter: str, quotechar: str) -> list[int]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar)
    widths: list[int] = []
    try:
        for row in itertools.islice(reader, 200):
            if any(cell.strip() for cell in row):
                widths.append(len(row))
    except csv.Error:
        return []
    return widths


def _score(widths: list[int]) -> tuple[float, int]:
    if not widths:
        return (0.0, 0)
    header = widths[0]
    if header < 2:
        return (0.0, 1)
    consistent = sum(1 for w in widths if w == header) / len(widths)
    return (consistent, header)


def detect_dialect(sample: bytes, *, whole: bool = False) -> Dialect:
    """Encoding, delimiter and quote character from the first bytes of a file.

    ``whole`` says the sample is the entire file (its last line is complete). A file with a
    single column gets the delimiter that appears most (``;`` on a tie: Excel pt-BR)."""
    kind = _not_csv(sample)
    if kind is not None:
        raise CsvFileError("not_csv", kind)
    encoding = detect_encoding(sample)
    text = _complete_lines(_decode_sample(sample, encoding), whole=whole).lstrip("\ufeff")
    if not text.strip():
        raise CsvFileError("empty", "The file is empty.")
    best: tuple[tuple[float, int], str, str] | None = None
    for quotechar in QUOTES:
        if quotechar == "'" and not _single_quoted(text):
            continue
        for delimiter in DELIMITERS:
            score = _score(_widths(text, delimiter, quotechar))
            if best is None or score > best[0]:
                best = (score, delimiter, quotechar)
    if best is None:  # the candidate lists are never empty
        raise RuntimeError("no delimiter candidate was scored")
    (_, width), delimiter, quotechar = best
    if width < 2:
        counts = {d: text.count(d) for d in DELIMITERS}
        delimiter = max(DELIMITERS, key=lambda d: counts[d])
        quotechar = '"'
    return Dialect(encoding=encoding, delimiter=delimiter, quotechar=quotechar)


_MAGIC = (
    (b"PK\x03\x04", "This looks like an Excel workbook (.xlsx): save it as CSV first."),
    (b"\xd0\xcf\x11\xe0", "This looks like an old Excel workbook (.xls): save it as CSV first."),
    (b"%PDF", "This is a PDF, not a CSV file."),
    (b"\xff\xfe", "This file is UTF-16 (Excel's 'Unicode text'): save it as CSV UTF-8."),
    (b"\xfe\xff", "This file is UTF-16 (Excel's 'Unicode text'): save it as CSV UTF-8."),
)


def _not_csv(sample: bytes) -> str | None:
    """Why ``sample`` is clearly not a CSV (a workbook, a PDF, UTF-16, binary), or None."""
    for magic, why in _MAGIC:
        if sample.startswith(magic):
            return why
    head = sample[:4096]
    if head and head.count(0) > len(head) // 10:
        return "This is not a text file (save the spreadsheet as CSV)."
    return None


def _single_quoted(text: str) -> bool:
    """Single quotes used as the quote character (and double quotes not at all)."""
    if '"' in text:
        return False
    return bool(re.search(r"(^|[;,\t])'[^']*'($|[;,\t])", text, re.MULTILINE))


# --- streaming ----------------------------------------------------------------------------


def _text_stream(stream: BinaryIO, encoding: str) -> io.TextIOWrapper:
    # errors="replace": a stray byte later in the file must not abort an import that was
    # previewed fine; the cell gets U+FFFD and the row is judged on its content.
    buffered = io.BufferedReader(_Unclosable(stream), buffer_size=256 * 1024)
    return io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")


class _Unclosable(io.RawIOBase):
    """Lets a TextIOWrapper read a caller's stream without closing it when collected."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def _is_blank(row: Sequence[str]) -> bool:
    return not any(cell.strip() for cell in row)


def clean_header(raw: Sequence[str]) -> tuple[str, ...]:
    """Trimmed, non-empty, unique column names (``coluna_3`` for an empty one, ``nome_2``
    for a repeated one)."""
    out: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(raw[:MAX_COLUMNS], start=1):
        name = " ".join(cell.replace("\ufeff", "").split())[:MAX_HEADER_CHARS] or f"coluna_{i}"
        base, n = name, 1
        while name.casefold() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.casefold())
        out.append(name)
    return tuple(out)


def read_records(
    stream: BinaryIO, dialect: Dialect, *, skip: int = 0
) -> tuple[tuple[str, ...], Iterator[Record]]:
    """The header and an iterator over the data records, ``skip`` data records skipped (to
    resume an import). The iterator raises ``CsvFileError`` for a malformed file (a field over
    csv's field size limit, e.g. from an unterminated quote)."""
    # NUL characters cannot be stored in PostgreSQL text: dropped as the lines are read.
    lines = (line.replace("\x00", "") for line in _text_stream(stream, dialect.encoding))
    reader = csv.reader(
        lines, delimiter=dialect.delimiter, quotechar=dialect.quotechar, strict=False
    )
    header: tuple[str, ...] | None = None
    for row in _guarded(reader):
        if not _is_blank(row):
            header = clean_header(row)
            break
    if header is None:
        raise CsvFileError("empty", "The file has no header row.")
    return header, _records(reader, len(header), skip)


def _records(reader: Iterator[list[str]], width: int, skip: int) -> Iterator[Record]:
    number = 0
    for row in _guarded(reader):
        if _is_blank(row):
            continue
        number += 1
        if number <= skip:
            continue
        cells = row[:width] if len(row) >= width else row + [""] * (width - len(row))
        yield Record(number, tuple(cells))


def _guarded(reader: Iterable[list[str]]) -> Iterator[list[str]]:
    it = iter(reader)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFileError("malformed", f"The file is not a valid CSV: {exc}.") from None
        yield row


def preview(stream: BinaryIO, *, rows: int = 10) -> Preview:
    """Detected dialect, header, the first ``rows`` data rows and the guessed mapping.
    ``stream`` must be seekable (it is read from its start)."""
    stream.seek(0)
    sample = stream.read(SAMPLE_BYTES + 1)
    whole = len(sample) <= SAMPLE_BYTES
    dialect = detect_dialect(sample[:SAMPLE_BYTES], whole=whole)
    stream.seek(0)
    header, records = read_records(stream, dialect)
    first = tuple(r.cells for r in itertools.islice(records, rows))
    return Preview(dialect=dialect, header=header, rows=first, mapping=guess_mapping(header))


# --- mapping ------------------------------------------------------------------------------

NAME, PHONE, EMAIL, TAGS, LANGUAGE, NOTES, BASIS, IGNORE = (
    "name",
    "phone",
    "email",
    "tags",
    "language",
    "notes",
    "basis",
    "ignore",
)
STANDARD_FIELDS = (NAME, PHONE, EMAIL, TAGS, LANGUAGE, NOTES, BASIS)
CUSTOM_PREFIX = "custom."
_CUSTOM_KEY = re.compile(r"^[a-z0-9_]{1,40}$")

_GUESSES: dict[str, tuple[str, ...]] = {
    NAME: ("nome", "name", "nomecompleto", "fullname", "contato", "cliente", "razaosocial"),
    PHONE: (
        "telefone",
        "celular",
        "whatsapp",
        "whats",
        "zap",
        "phone",
        "fone",
        "tel",
        "cel",
        "mobile",
        "telefonecelular",
        "numero",
        "phonenumber",
        "telefone1",
        "celular1",
    ),
    EMAIL: ("email", "mail", "correioeletronico", "emailaddress"),
    TAGS: ("tags", "tag", "etiquetas", "etiqueta", "marcadores", "grupos", "labels"),
    LANGUAGE: ("idioma", "language", "lingua", "lang", "locale"),
    NOTES: ("observacoes", "observacao", "obs", "notes", "notas", "nota", "note", "comentarios"),
    BASIS: ("baselegal", "basis", "legalbasis", "base"),
}
_BY_KEY = {key: target for target, keys in _GUESSES.items() for key in keys}


def fold(name: str) -> str:
    """Lower case, accents removed, letters and digits only: ``Observações`` → ``observacoes``."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


def custom_key(column: str) -> str:
    """The custom-field key for a column: ``Data de nascimento`` → ``data_de_nascimento``."""
    decomposed = unicodedata.normalize("NFKD", column.casefold())
    ascii_only = "".join(c if (c.isascii() and c.isalnum()) else "_" for c in decomposed)
    key = re.sub(r"_+", "_", ascii_only).strip("_")[:40].strip("_")
    return key or "campo"


def guess_mapping(header: Sequence[str]) -> dict[str, str]:
    """Column → field: each standard field goes to the first column that names it; every
    other column becomes a custom field ``custom.<key>`` (keys unique)."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        target = _BY_KEY.get(fold(column))
        if target is not None and target not in taken:
            mapping[column] = target
            taken.add(target)
            continue
        key, n = custom_key(column), 1
        while f"{CUSTOM_PREFIX}{key}" in taken:
            n += 1
            key = f"{custom_key(column)[:36]}_{n}"
        mapping[column] = f"{CUSTOM_PREFIX}{key}"
        taken.add(mapping[column])
    return mapping


def validate_mapping(header: Sequence[str], mapping: dict[str, str]) -> list[str]:
    """Problems with a mapping chosen by a person (empty list = fine): unknown columns or
    fields, a standard field mapped twice, no phone column."""
    problems: list[str] = []
    columns = set(header)
    seen: dict[str, str] = {}
    for column, target in mapping.items():
        if column not in columns:
            problems.append(f"unknown column {column!r}")
            continue
        if target == IGNORE:
            continue
        if target.startswith(CUSTOM_PREFIX):
            if not _CUSTOM_KEY.match(target[len(CUSTOM_PREFIX) :]):
                problems.append(f"custom field for {column!r} must be custom.<a-z0-9_>")
        elif target not in STANDARD_FIELDS:
            problems.append(f"unknown field {target!r} for column {column!r}")
        if target in seen:
            problems.append(f"{target!r} is mapped from both {seen[target]!r} and {column!r}")
        seen[target] = column
    if PHONE not in seen:
        problems.append("no column is mapped to phone")
    return problems
