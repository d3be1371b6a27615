"""The error pattern every package follows: a catalogue is complete for its codes or refused
at build, and a refusal carries its code, its texts and what it adds for IT."""

from __future__ import annotations

from enum import StrEnum

import pytest

from onshi_kernel.errors import CodedError, ErrorInfo, ErrorText, catalogue


class Code(StrEnum):
    BROKEN = "T1001"
    GONE = "T2001"


ENTRIES = {
    Code.BROKEN: ErrorInfo(422, "入力内容に誤りがあります。", "The request breaks the schema."),
    Code.GONE: ErrorInfo(404, "見つかりません。", "No such thing."),
}


def test_a_catalogue_without_an_entry_for_every_code_is_refused_at_build() -> None:
    with pytest.raises(TypeError, match=r"Code: no catalogue entry for T2001"):
        catalogue(Code, {Code.BROKEN: ENTRIES[Code.BROKEN]})


def test_a_catalogue_with_an_entry_of_another_enum_is_refused() -> None:
    class Other(StrEnum):
        STRAY = "X1001"

    with pytest.raises(TypeError, match="catalogue has entries for <Other"):
        catalogue(Code, {**ENTRIES, Other.STRAY: ENTRIES[Code.GONE]})  # type: ignore[dict-item]


def test_two_members_sharing_a_code_are_refused() -> None:
    class Doubled(StrEnum):
        FIRST = "T1001"
        SECOND = "T1001"  # an enum makes this an alias of FIRST: one code, two meanings

    with pytest.raises(TypeError, match="SECOND repeat"):
        catalogue(Doubled, {Doubled.FIRST: ENTRIES[Code.BROKEN]})


def test_a_catalogue_is_read_only() -> None:
    built = catalogue(Code, ENTRIES)
    with pytest.raises(TypeError):
        built[Code.GONE] = ENTRIES[Code.BROKEN]  # type: ignore[index]


def test_an_error_info_is_the_status_then_the_texts_and_is_an_error_text() -> None:
    info = ErrorInfo(503, "しばらくお待ちください。", "Retry later.")
    assert (info.http_status, info.front_desk, info.it) == (
        503,
        "しばらくお待ちください。",
        "Retry later.",
    )
    assert isinstance(info, ErrorText)
    assert info == ErrorInfo(503, "しばらくお待ちください。", "Retry later.")
    assert info != ErrorInfo(500, "しばらくお待ちください。", "Retry later.")


class Refusal(CodedError[Code]):
    catalogue = catalogue(Code, ENTRIES)


def test_a_coded_error_carries_its_code_its_entry_and_its_detail() -> None:
    error = Refusal(Code.GONE, "qualification 7", retry_after_s=3)
    assert (error.code, error.detail, error.retry_after_s) == (Code.GONE, "qualification 7", 3)
    assert error.info is Refusal.catalogue[Code.GONE]
    assert str(error) == "T2001: qualification 7"


def test_a_coded_error_without_detail_reads_as_its_it_text() -> None:
    assert str(Refusal(Code.BROKEN)) == "T1001: The request breaks the schema."


def test_a_coded_error_class_that_names_no_catalogue_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="Nameless names no catalogue"):

        class Nameless(CodedError[Code]):
            pass


def test_a_subclass_of_a_package_base_keeps_its_catalogue() -> None:
    class Gone(Refusal):
        def __init__(self, thing_id: int) -> None:
            super().__init__(Code.GONE, f"thing {thing_id}")

    assert Gone(5).info.http_status == 404
