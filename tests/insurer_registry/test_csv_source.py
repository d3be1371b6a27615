"""Reading member CSV files: encodings, header, line numbers."""

from __future__ import annotations

import io

import pytest

from insurer_registry.importer.csv_source import (
    CP932,
    UTF8,
    UTF8_BOM,
    ImportFileInvalid,
    detect_encoding,
    read_rows,
)

HEADER = (
    "InsurerNumber,MyNumber,InsuredIdentificationNumber,InsuredBranchNumber,"
    "InsuredCardClassification,PersonalFamilyClassification,Name,Sex1,Birthdate,"
    "QualificationDate\n"
)
ROW = "06130017,123456789018,1,00,01,1,山田　太郎,1,19800401,20200401\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ((HEADER + ROW).encode("utf-8"), UTF8),
        (b"\xef\xbb\xbf" + (HEADER + ROW).encode("utf-8"), UTF8_BOM),
        ((HEADER + ROW).encode("cp932"), CP932),
        (HEADER.encode("ascii"), UTF8),
    ],
)
def test_encoding_is_detected(raw: bytes, expected: str) -> None:
    source = io.BytesIO(raw)
    assert detect_encoding(source) == expected
    assert source.tell() == 0


def test_shift_jis_beyond_the_first_chunk_is_detected() -> None:
    raw = (HEADER + ROW.replace("山田　太郎", "Yamada") * 50_000 + ROW).encode("cp932")
    assert detect_encoding(io.BytesIO(raw)) == CP932


def test_rows_carry_the_line_they_start_on() -> None:
    text = HEADER + ROW + '06130017,1,"2\n3",00,01,1,x,1,19800401,20200401\n' + ROW
    header, rows = read_rows(io.BytesIO(text.encode()), UTF8)
    assert [row.line for row in rows] == [2, 3, 5]
    assert header.attributes[0] == "insurer_number"


def test_unknown_column_is_refused() -> None:
    with pytest.raises(ImportFileInvalid, match="unknown column"):
        read_rows(io.BytesIO((HEADER.strip() + ",Shoe\n").encode()), UTF8)


def test_missing_required_column_is_refused() -> None:
    with pytest.raises(ImportFileInvalid, match=r"missing column.*MyNumber"):
        read_rows(io.BytesIO(HEADER.replace("MyNumber,", "").encode()), UTF8)


def test_empty_file_is_refused() -> None:
    with pytest.raises(ImportFileInvalid, match="empty"):
        read_rows(io.BytesIO(b""), UTF8)


def test_bytes_of_the_wrong_encoding_name_their_line() -> None:
    raw = (HEADER + ROW).encode("utf-8") + ROW.encode("cp932")
    _, rows = read_rows(io.BytesIO(raw), UTF8)
    with pytest.raises(ImportFileInvalid, match="line 3"):
        list(rows)
