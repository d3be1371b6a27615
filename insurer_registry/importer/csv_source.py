"""Reading a member CSV as a stream: its encoding, its header, its rows with line numbers.

Files come in UTF-8 (with or without BOM) or Shift_JIS (read as CP932, Microsoft's superset
that Japanese office software writes). Unless told, the encoding is detected on the evidence
of the file's lines (`encoding.detect_encoding`), and a file that mixes the two is refused
with the first line at fault. The file is read twice or three times (detect, then parse) and
never held in memory.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from insurer_registry.members.domain import (
    ELEMENT_NAMES,
    INSURER_NUMBER_ELEMENT,
    MY_NUMBER_ELEMENT,
)
from onshi_kernel import encoding as encodings
from onshi_kernel.encoding import CP932, UTF8, UTF8_BOM

ENCODINGS = (UTF8, UTF8_BOM, CP932)

# Columns: the answer's element names of the flat record fields, plus InsurerNumber and
# MyNumber. Order does not matter; every column must be known.
ATTRIBUTE_OF_COLUMN: dict[str, str] = {element: name for name, element in ELEMENT_NAMES.items()}
ATTRIBUTE_OF_COLUMN[INSURER_NUMBER_ELEMENT] = "insurer_number"
ATTRIBUTE_OF_COLUMN[MY_NUMBER_ELEMENT] = "my_number"
REQUIRED_COLUMNS = (
    INSURER_NUMBER_ELEMENT,
    MY_NUMBER_ELEMENT,
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "InsuredCardClassification",
    "PersonalFamilyClassification",
    "Name",
    "Sex1",
    "Birthdate",
    "QualificationDate",
)
# A header cell is echoed in an error only if it looks like an element name: a file without
# its header row has data in the first line (a My Number, a name), and that is never echoed.
_ELEMENT_SHAPED = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")


class ImportFileInvalid(ValueError):
    """The file as a whole cannot be read: wrong or mixed encodings, a bad header, broken
    CSV. `offset`, when known, is the first byte at fault (from 0, in the file)."""

    def __init__(self, reason: str, line: int | None = None, offset: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        if line is not None and offset is not None:
            where = f" (line {line}, byte {offset})"
        super().__init__(f"cannot import this file{where}: {reason}")
        self.reason = reason
        self.line = line
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Header:
    """The columns of a file, mapped to record attributes by position."""

    attributes: tuple[str, ...]

    @classmethod
    def parse(cls, names: list[str]) -> Header:
        """Check a header row against the known columns."""
        cleaned = [name.strip() for name in names]
        unknown = [
            _describe_cell(position, name)
            for position, name in enumerate(cleaned, start=1)
            if name not in ATTRIBUTE_OF_COLUMN
        ]
        if len(unknown) == len(cleaned):
            raise ImportFileInvalid(
                "the first line names no known column: the header row is missing", line=1
            )
        if unknown:
            raise ImportFileInvalid(f"unknown column(s): {', '.join(unknown)}", line=1)
        doubled = sorted({name for name in cleaned if cleaned.count(name) > 1})
        if doubled:
            raise ImportFileInvalid(f"column(s) given twice: {', '.join(doubled)}", line=1)
        missing = [name for name in REQUIRED_COLUMNS if name not in cleaned]
        if missing:
            raise ImportFileInvalid(f"missing column(s): {', '.join(missing)}", line=1)
        return cls(tuple(ATTRIBUTE_OF_COLUMN[name] for name in cleaned))


def _describe_cell(position: int, name: str) -> str:
    """An unknown header cell for an error: its position, and its text if element-shaped."""
    if _ELEMENT_SHAPED.fullmatch(name):
        return f"{name} (column {position})"
    return f"column {position}"


@dataclass(frozen=True, slots=True)
class RawRow:
    """One CSV record and the line it starts on (1 is the header)."""

    line: int
    values: list[str]


def detect_encoding(source: BinaryIO) -> str:
    """UTF-8 (`utf-8-sig` with a BOM) or CP932, on the evidence of the whole file; a file
    that is neither as a whole is `ImportFileInvalid` with its first line at fault. Leaves
    `source` at its start."""
    try:
        return encodings.detect_encoding(source)
    except encodings.EncodingUnclear as unclear:
        raise ImportFileInvalid(unclear.reason, line=unclear.line, offset=unclear.offset) from None


def _lines(source: BinaryIO, encoding: str) -> Iterator[str]:
    """Decode line by line, so that bad bytes are reported on their own line. Splitting
    bytes at LF is safe in both encodings: 0x0A is never part of a multi-byte character."""
    codec = UTF8 if encoding == UTF8_BOM else encoding
    offset = 0
    for number, raw in enumerate(source, start=1):
        start = offset
        offset += len(raw)
        if number == 1 and encoding == UTF8_BOM and raw.startswith(codecs.BOM_UTF8):
            raw, start = raw[len(codecs.BOM_UTF8) :], start + len(codecs.BOM_UTF8)
        try:
            yield raw.decode(codec)
        except UnicodeDecodeError as error:
            raise ImportFileInvalid(
                f"bytes that are not {encoding}", line=number, offset=start + error.start
            ) from None


def read_rows(source: BinaryIO, encoding: str) -> tuple[Header, Iterator[RawRow]]:
    """The header and a lazy stream of the rows of a CSV file in `encoding`."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}")
    reader = csv.reader(_lines(source, encoding), strict=True)
    try:
        names = next(reader)
    except StopIteration:
        raise ImportFileInvalid("the file is empty") from None
    except csv.Error as error:
        raise ImportFileInvalid(_csv_problem(error), line=1) from None
    header = Header.parse(names)

    def rows() -> Iterator[RawRow]:
        previous_end = reader.line_num
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise ImportFileInvalid(_csv_problem(error), line=previous_end + 1) from None
            line = previous_end + 1
            previous_end = reader.line_num
            if values:  # a blank line is no row
                yield RawRow(line, values)

    return header, rows()


# Python's csv messages, said for whoever has to fix the file.
_CSV_PROBLEMS = {
    "new-line character seen in unquoted field": (
        "a line break inside an unquoted field: a line ending in CR alone? "
        "(lines must end in CRLF or LF)"
    ),
    "unexpected end of data": "a quoted field is not closed before the end of the file",
    "expected after": "a quote inside a field that is not quoted as a whole",
    "field larger than field limit": (f"a field longer than {csv.field_size_limit()} characters"),
}


def _csv_problem(error: csv.Error) -> str:
    message = str(error)
    for known, said in _CSV_PROBLEMS.items():
        if known in message:
            return f"malformed CSV: {said}"
    return f"malformed CSV ({message})"
