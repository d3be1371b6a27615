"""The front desk's appointment list (CSV) for a batch lookup: read, or refused with the
line and the problem named."""

from __future__ import annotations

import pytest

from clinic_client.web.app import parse_batch_csv

HEADER = "InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,Birthdate"
FIRST = f"{HEADER}\n06130017,東京,1,00,19800401\n"
SECOND = "06130017,東京,2,00,19800401\n"
SYMBOL_AT = SECOND.index("東")


def test_a_list_is_read_in_utf8_and_shift_jis() -> None:
    text = f"{HEADER}\n06130017,東京１,1234567,0,19800401\n"
    for raw in (text.encode(), text.encode("cp932")):
        (query,) = parse_batch_csv(raw)
        assert (query.InsuredCardSymbol, query.InsuredBranchNumber) == ("東京１", "00")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\r0\r\n", "missing columns"),  # found by schemathesis: was a crash (500)
        (f'{HEADER}\n"06130017,\n'.encode(), "line 2"),  # an unclosed quote
        (f"{HEADER}\n06130017,,1234567,00,1980-04-01\n".encode(), "line 2: Birthdate"),
        (b"\x82\xff", "neither UTF-8 nor Shift_JIS"),
        (  # 東京 in UTF-8 is valid Shift_JIS too (譚ｱ莠ｬ): the list was read garbled
            FIRST.encode() + SECOND.encode("cp932"),
            f"line 3, byte {len(FIRST.encode()) + SYMBOL_AT}: mixed encodings",
        ),
        (
            FIRST.encode("cp932") + SECOND.encode(),
            f"line 3, byte {len(FIRST.encode('cp932')) + SYMBOL_AT}: mixed encodings",
        ),
        (b"a" * (1 << 20 + 1), "larger than"),
    ],
)
def test_bad_lists_are_refused_with_the_problem_named(raw: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        parse_batch_csv(raw)
    assert "19800401" not in str(refused.value) and "1980-04-01" not in str(refused.value)
