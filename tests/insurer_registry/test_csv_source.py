"""Reading member CSV files: encodings, header, line numbers."""

from __future__ import annotations

import codecs
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


UTF8_ROW = "06130017,123456789018,2,00,01,1,鈴木　一郎,1,19800401,20200401\n"
BOTH_ROW = "06130017,123456789018,3,00,01,1,山田,1,19800401,20200401\n"  # UTF-8 as CP932: 螻ｱ逕ｰ
UTF8_FILE = (HEADER + ROW + UTF8_ROW).encode()
SJIS_FILE = (HEADER + ROW + UTF8_ROW).encode("cp932")
# Line 4 starts here in each file: the mixed files add their odd row as line 4.
LINE_4_UTF8, LINE_4_SJIS = len(UTF8_FILE), len(SJIS_FILE)
NAME_AT = ROW.index("山")  # the first non-ASCII byte of a row, in both encodings
NEITHER = b"06130017,123456789018,4,00,01,1,\x82\xff,1,19800401,20200401\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(UTF8_FILE, UTF8, id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + UTF8_FILE, UTF8_BOM, id="utf-8 with BOM"),
        pytest.param(SJIS_FILE, CP932, id="shift_jis"),
        pytest.param(
            UTF8_FILE + ROW.encode("cp932"), (4, LINE_4_UTF8 + NAME_AT), id="utf-8, one cp932 row"
        ),
        pytest.param(
            codecs.BOM_UTF8 + (HEADER + BOTH_ROW).encode() + ROW.encode("cp932"),
            (3, 3 + len(HEADER) + len(BOTH_ROW.encode()) + NAME_AT),
            id="utf-8 with BOM, one cp932 row",
        ),
        pytest.param(
            SJIS_FILE + UTF8_ROW.encode(), (4, LINE_4_SJIS + NAME_AT), id="shift_jis, one utf-8 row"
        ),
        pytest.param(
            SJIS_FILE + BOTH_ROW.encode(),
            (4, LINE_4_SJIS + NAME_AT),
            id="shift_jis, one utf-8 row that is also valid cp932",
        ),
        pytest.param(UTF8_FILE + NEITHER, (4, LINE_4_UTF8 + NAME_AT), id="utf-8, a row of neither"),
        pytest.param(SJIS_FILE + NEITHER, (4, LINE_4_SJIS + NAME_AT), id="cp932, a row of neither"),
        pytest.param(HEADER.encode() + NEITHER, (2, len(HEADER) + NAME_AT), id="neither"),
    ],
)
def test_a_file_is_read_in_one_encoding_or_refused_at_the_first_line_at_fault(
    raw: bytes, expected: str | tuple[int, int]
) -> None:
    source = io.BytesIO(raw)
    if isinstance(expected, str):
        assert detect_encoding(source) == expected
        assert source.tell() == 0
        return
    with pytest.raises(ImportFileInvalid) as refused:
        detect_encoding(source)
    assert (refused.value.line, refused.value.offset) == expected
    line, offset = expected
    assert str(refused.value).startswith(f"cannot import this file (line {line}, byte {offset}): ")


def test_a_mixed_file_is_refused_without_its_content() -> None:
    with pytest.raises(ImportFileInvalid) as refused:
        detect_encoding(io.BytesIO(UTF8_FILE + ROW.encode("cp932")))
    said = str(refused.value)
    assert "mixed encodings" in said and "2 lines are UTF-8 (the first: line 2)" in said
    for value in ("山田", "123456789018", "19800401", "螻ｱ逕ｰ", "\\x"):
        assert value not in said


@pytest.mark.parametrize(
    ("name", "as_utf8"),
    [("ﾅｶ ﾐｷ", "Ŷ з"), ("貍句崕", "漋囻")],
    ids=["half-width kana", "kanji"],
)
def test_a_shift_jis_row_that_is_valid_utf8_by_chance_does_not_make_the_file_mixed(
    name: str, as_utf8: str
) -> None:
    # Read as UTF-8 the first is no Japanese; the second is, but read as CP932 it shows no
    # trace of UTF-8 misread (no half-width kana among the kanji): neither proves UTF-8.
    chance = f"06130017,123456789018,5,00,01,1,{name},1,19800401,20200401\n".encode("cp932")
    assert as_utf8 in chance.decode("utf-8")
    assert detect_encoding(io.BytesIO(SJIS_FILE + chance)) == CP932


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
