"""Request files read as docs/file-interface.md describes them: encodings, padded 国保
numbers, and every way a file can be wrong, each with its own code. Pure: no server, no folders."""

from __future__ import annotations

import pytest

from clinic_client.connector.errors import ConnectorCode, RequestRejected
from clinic_client.connector.names import RequestKind, RequestName, face_result_name
from clinic_client.connector.requests import (
    MAX_REQUEST_BYTES,
    BatchRequest,
    RejectedEntry,
    SingleRequest,
    read_request,
)
from clinic_client.connector.xmlcodec import WireEncoding
from tests.support.world import KOKUHO, KYOKAI

from .conftest import SAMPLES, request_file, search_info


def single(data: bytes) -> SingleRequest:
    request = read_request(RequestKind.SINGLE, data)
    assert isinstance(request, SingleRequest)
    return request


def refusal(data: bytes, kind: RequestKind = RequestKind.SINGLE) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        read_request(kind, data)
    return caught.value


@pytest.mark.parametrize(
    ("sample", "encoding"),
    [
        ("OQSsiquc01req_utf8-0001.xml", WireEncoding.UTF8),
        ("OQSsiquc01req_sjis-0002.xml", WireEncoding.SHIFT_JIS),
    ],
)
def test_sample_requests_are_read_in_the_encoding_their_prolog_declares(
    sample: str, encoding: WireEncoding
) -> None:
    request = single((SAMPLES / sample).read_bytes())
    assert request.encoding is encoding
    assert request.query.InsuredCardSymbol == "記号12"
    assert request.query.InsurerNumber == KYOKAI.digits
    assert request.query.LimitApplicationCertificateRelatedConsFlg == "1"
    assert request.header.confirmation_date == "20260415"
    assert request.header.arbitrary_file_identifier == sample[len("OQSsiquc01req_") : -4]


def test_a_request_without_an_encoding_declaration_is_utf8() -> None:
    data = request_file(search_info("1001", "19800401", symbol="記号12"), encoding="")
    assert single(data).encoding is WireEncoding.UTF8


def test_shift_jis_bytes_without_a_declaration_are_refused_as_undeclared() -> None:
    data = request_file(search_info("1001", "19800401", symbol="記号12"), encoding="")
    undeclared = data.decode("utf-8").encode("cp932")
    assert refusal(undeclared).code is ConnectorCode.UNREADABLE_ENCODING


@pytest.mark.parametrize("label", ["EUC-JP", "UTF-16", "ISO-2022-JP", ""])
def test_an_encoding_other_than_utf8_or_shift_jis_is_refused(label: str) -> None:
    data = b'<?xml version="1.0" encoding="%s"?><XmlMsg/>' % label.encode()
    rejected = refusal(data)
    assert rejected.code is ConnectorCode.UNREADABLE_ENCODING
    assert rejected.encoding is WireEncoding.UTF8


def test_bytes_that_do_not_decode_as_declared_are_refused_with_their_position() -> None:
    data = request_file(search_info("1001", "19800401", symbol="記号12"), encoding="Shift_JIS")
    broken = data.replace("記号".encode("cp932"), b"\x81\x20")  # a lead byte without its trail
    rejected = refusal(broken)
    assert rejected.code is ConnectorCode.UNREADABLE_ENCODING
    assert rejected.detail is not None and "byte" in rejected.detail


def test_a_utf8_byte_order_mark_contradicting_a_shift_jis_declaration_is_refused() -> None:
    data = b"\xef\xbb\xbf" + request_file(search_info("1001", "19800401"), encoding="Shift_JIS")
    assert refusal(data).code is ConnectorCode.UNREADABLE_ENCODING


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + request_file(search_info("1001", "19800401"))
    assert single(data).query.InsuredIdentificationNumber == "1001"


@pytest.mark.parametrize("padded", ["131011", "  131011", "00131011"])
def test_a_kokuho_number_is_passed_on_right_aligned_with_spaces(padded: str) -> None:
    assert KOKUHO.digits == "131011"
    request = single(request_file(search_info("2002", "19921115", insurer=padded)))
    assert request.query.InsurerNumber == "  131011"


def test_a_broken_sample_file_is_not_well_formed() -> None:
    rejected = refusal((SAMPLES / "OQSsiquc01req_broken-0004.xml").read_bytes())
    assert rejected.code is ConnectorCode.NOT_WELL_FORMED
    assert rejected.detail is not None and "line" in rejected.detail


def test_a_doctype_is_refused_before_any_entity_is_expanded() -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE XmlMsg [<!ENTITY l0 "lol">{laughs}]>'
        "<XmlMsg><MessageHeader/><MessageBody>&l9;</MessageBody></XmlMsg>"
    ).encode()
    rejected = refusal(bomb)
    assert rejected.code is ConnectorCode.NOT_WELL_FORMED
    assert rejected.detail is not None and "DOCTYPE" in rejected.detail


def test_a_file_over_one_mebibyte_is_refused_unread() -> None:
    data = request_file(search_info("1001", "19800401")) + b" " * MAX_REQUEST_BYTES
    assert refusal(data).code is ConnectorCode.TOO_LARGE


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"<Other/>", "root element is Other"),
        (b"<XmlMsg><MessageBody/></XmlMsg>", "XmlMsg/MessageHeader is missing"),
        (b"<XmlMsg><MessageHeader/></XmlMsg>", "XmlMsg/MessageBody is missing"),
        (
            b"<XmlMsg><MessageHeader/><MessageBody/></XmlMsg>",
            "QualificationConfirmSearchInfo is missing",
        ),
        (
            request_file(
                search_info("1001", "19800401").replace("<Birthdate>19800401</Birthdate>", "")
            ),
            "QualificationConfirmSearchInfo/Birthdate is missing",
        ),
        (
            request_file(search_info("1001", "19800401"), search_info("1002", "19800401")),
            "QualificationConfirmSearchInfo is repeated",
        ),
        (
            request_file(search_info("<x>1001</x>", "19800401")),
            "InsuredIdentificationNumber must hold text",
        ),
    ],
)
def test_a_wrong_structure_is_refused_naming_the_element(data: bytes, detail: str) -> None:
    rejected = refusal(data)
    assert rejected.code is ConnectorCode.WRONG_STRUCTURE
    assert rejected.detail is not None and detail in rejected.detail


@pytest.mark.parametrize("insurer", ["01130013", "1234", "ABCDEFGH", "00000000", "99131011"])
def test_a_bad_insurer_number_is_refused(insurer: str) -> None:
    rejected = refusal(request_file(search_info("1001", "19800401", insurer=insurer)))
    assert rejected.code is ConnectorCode.INVALID_INSURER_NUMBER
    assert insurer.strip() not in (rejected.detail or "")


@pytest.mark.parametrize(
    ("info", "element"),
    [
        (search_info("1001", "19800231"), "Birthdate"),
        (search_info("1001", "1980040X"), "Birthdate"),
        (search_info("1001", "19800401", branch="0"), "InsuredBranchNumber"),
        (search_info("1001", "19800401", limit_consent="2"), "LimitApplicationCertificate"),
        (search_info("9" * 39, "19800401"), "InsuredIdentificationNumber"),
    ],
)
def test_a_value_breaking_its_format_is_refused_without_quoting_it(info: str, element: str) -> None:
    rejected = refusal(request_file(info))
    assert rejected.code is ConnectorCode.INVALID_VALUE
    assert rejected.detail is not None and element in rejected.detail
    assert "19800231" not in rejected.detail and "1980040X" not in rejected.detail
    assert "9" * 39 not in rejected.detail


def test_a_header_date_that_is_not_a_date_is_refused() -> None:
    rejected = refusal(request_file(search_info("1001", "19800401"), date="2026-04-15"))
    assert rejected.code is ConnectorCode.INVALID_VALUE
    assert rejected.header is None  # nothing of the header is echoed when it is wrong


@pytest.mark.parametrize("code", ["131000001", "13100000170", "1310OOOO17", "4810000017"])
def test_a_medical_institution_code_that_is_not_one_is_refused(code: str) -> None:
    rejected = refusal(request_file(search_info("1001", "19800401"), clinic_code=code))
    assert rejected.code is ConnectorCode.INVALID_VALUE
    assert rejected.detail is not None and "MessageHeader/MedicalInstitutionCode" in rejected.detail
    assert code not in rejected.detail
    assert rejected.header is None


def test_a_refusal_after_the_header_keeps_the_encoding_and_the_header() -> None:
    data = request_file(search_info("1001", "19800401", insurer="1234"), encoding="Shift_JIS")
    rejected = refusal(data)
    assert rejected.encoding is WireEncoding.SHIFT_JIS
    assert rejected.header is not None and rejected.header.arbitrary_file_identifier == "rc-1"


def test_a_batch_sample_keeps_its_good_entries_and_refuses_the_bad_one_alone() -> None:
    request = read_request(
        RequestKind.BATCH, (SAMPLES / "OQSmuquc01req_batch-0003.xml").read_bytes()
    )
    assert isinstance(request, BatchRequest)
    assert request.encoding is WireEncoding.SHIFT_JIS
    assert len(request.entries) == 5
    assert [q.InsurerNumber for q in request.queries] == [
        KYOKAI.digits,
        "  131011",
        "  131011",
        KYOKAI.digits,
    ]
    refused = request.entries[4]
    assert isinstance(refused, RejectedEntry)
    assert refused.code is ConnectorCode.INVALID_INSURER_NUMBER
    assert refused.detail is not None and "QualificationConfirmSearchInfo[5]" in refused.detail
    assert dict(refused.echo)["InsuredIdentificationNumber"] == "5001"


@pytest.mark.parametrize(
    ("file_name", "kind", "answer"),
    [
        ("OQSsiquc01req_0001.xml", RequestKind.SINGLE, "OQSsiquc01res_0001.xml"),
        ("OQSmuquc01req_A-7.XML", RequestKind.BATCH, "OQSmuquc01res_A-7.xml"),
        ("OQSsiimm01req_x.xml", RequestKind.REGISTER_SINGLE, "OQSsiimm01res_x.xml"),
        ("OQSmuimm01req_y.xml", RequestKind.REGISTER_BULK, "OQSmuimm01res_y.xml"),
        ("OQSsiquc01req_.xml", RequestKind.SINGLE, "OQSsiquc01req__res.xml"),
        ("notes.xml", None, "notes_res.xml"),
        ("oqssiquc01req_1.xml", None, "oqssiquc01req_1_res.xml"),
    ],
)
def test_answer_names_follow_the_request_id_or_else_the_file_name(
    file_name: str, kind: RequestKind | None, answer: str
) -> None:
    name = RequestName.parse(file_name)
    assert name.kind is kind
    assert name.answer_name == answer


def test_face_result_names_put_the_time_last() -> None:
    assert (
        face_result_name(unique="ab12", timestamp="20261128150000")
        == "OQSsiquc01res_face_ab12_20261128150000.xml"
    )


@pytest.mark.parametrize(
    ("unique", "timestamp"),
    [
        ("ab12", "2026112815000"),  # 13 digits
        ("ab12", "20261128150000\n"),
        ("ab12", "２0261128150000"),  # a full-width digit
        ("ab_12", "20261128150000"),  # would move the time away from the end
        ("", "20261128150000"),
    ],
)
def test_a_face_result_name_with_a_bad_part_is_a_caller_error(unique: str, timestamp: str) -> None:
    with pytest.raises(ValueError, match="face result"):
        face_result_name(unique=unique, timestamp=timestamp)
