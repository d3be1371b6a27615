"""Answer documents as written (docs/answer.md): element order, absent elements, lists, and text
Shift_JIS cannot carry. No server; one face-result file in a temporary folder."""

from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import ValidationError

from clinic_client.api import ServerRefused, ServerUnreachable
from clinic_client.connector import write_face_result
from clinic_client.connector.answering import ServerOutage, _server
from clinic_client.connector.answers import eligibility_answer_file, error_answer_file
from clinic_client.connector.requests import RequestHeader
from clinic_client.connector.xmlcodec import WireEncoding, write_xml
from qualification_server.contract.schemas import EligibilityAnswer

from .conftest import read_answer

NOW = dt.datetime(2026, 4, 15, 1, 2, 3, tzinfo=dt.UTC)


def answer_with(**result: object) -> EligibilityAnswer:
    return EligibilityAnswer.model_validate(
        {
            "MessageHeader": {
                "ProcessExecutionTime": "20260415100203",
                "QualificationConfirmationDate": "20260415",
                "MedicalInstitutionCode": "1310000017",
                "ReferenceClassification": "2",
            },
            "MessageBody": {
                "QualificationValidity": "1",
                "ResultList": {
                    "ResultOfQualificationConfirmation": [
                        {
                            "InsuredCardClassification": "01",
                            "InsurerNumber": "  131011",
                            "InsuredIdentificationNumber": "1",
                            "InsuredBranchNumber": "00",
                            "PersonalFamilyClassification": "1",
                            "Name": "テスト",
                            "Sex1": "3",
                            "Birthdate": "20000101",
                            "QualificationDate": "20200101",
                            "InsurerName": "テスト国保",
                            **result,
                        }
                    ]
                },
            },
        }
    )


def parse(data: bytes, encoding: WireEncoding) -> ET.Element:
    return ET.fromstring(data.decode(encoding.codec))


NAME = "MessageBody/ResultList/ResultOfQualificationConfirmation/Name"
NAME_KANA = "MessageBody/ResultList/ResultOfQualificationConfirmation/NameKana"


def test_a_shift_jis_answer_replaces_what_cp932_lacks_and_holds_no_character_reference() -> None:
    data = eligibility_answer_file(
        answer_with(Name="𠮷田　髙子①", NameKana="ﾖｼﾀﾞ ﾀｶｺ"), WireEncoding.SHIFT_JIS
    )
    # As a parser that leaves references undecoded sees it: the bytes themselves.
    assert b"&#" not in data
    # 𠮷 (U+20BB7) is outside cp932; 髙 (U+9AD9, an IBM extension) and ① are in it, as they are.
    assert "<Name>吉田　髙子①</Name>".encode("cp932") in data
    assert b"\xee\xe0" in data  # 髙 in the NEC-selected rows, which every cp932 reader takes
    assert "<NameKana>ﾖｼﾀﾞ ﾀｶｺ</NameKana>".encode("cp932") in data  # half-width, one byte each
    root = parse(data, WireEncoding.SHIFT_JIS)
    assert root.findtext(NAME) == "吉田　髙子①"
    assert root.findtext(NAME_KANA) == "ﾖｼﾀﾞ ﾀｶｺ"


def test_a_utf8_answer_keeps_every_character_exactly() -> None:
    data = eligibility_answer_file(answer_with(Name="𠮷田　髙子①"), WireEncoding.UTF8)
    assert "<Name>𠮷田　髙子①</Name>".encode() in data
    assert parse(data, WireEncoding.UTF8).findtext(NAME) == "𠮷田　髙子①"


def test_a_shift_jis_face_result_file_holds_the_substitute_not_a_reference(
    tmp_path: Path,
) -> None:
    path = write_face_result(tmp_path, answer_with(Name="𠮷田　髙子"), encoding="shift_jis")
    data = path.read_bytes()
    assert b"&#" not in data
    assert "<Name>吉田　髙子</Name>".encode("cp932") in data
    assert read_answer(path).text(NAME) == "吉田　髙子"


def test_replacing_characters_logs_how_many_and_never_the_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="clinic_client.connector"):
        eligibility_answer_file(answer_with(Name="𠮷田　𠮷子"), WireEncoding.SHIFT_JIS)
    (record,) = caplog.records
    assert "2 character(s)" in record.getMessage()
    assert "吉" not in caplog.text and "𠮷" not in caplog.text and "田" not in caplog.text


def test_an_answer_cp932_carries_whole_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="clinic_client.connector"):
        eligibility_answer_file(answer_with(Name="髙橋　①"), WireEncoding.SHIFT_JIS)
        eligibility_answer_file(answer_with(Name="𠮷田"), WireEncoding.UTF8)
    assert caplog.records == []


def test_leading_spaces_and_zeros_are_kept_and_absent_elements_left_out() -> None:
    root = parse(eligibility_answer_file(answer_with(), WireEncoding.UTF8), WireEncoding.UTF8)
    result = root.find("MessageBody/ResultList/ResultOfQualificationConfirmation")
    assert result is not None
    assert result.findtext("InsurerNumber") == "  131011"
    assert result.findtext("InsuredBranchNumber") == "00"
    assert result.find("InsuredCardSymbol") is None
    assert result.find("NameKana") is None


def test_the_specific_diseases_list_holds_one_element_per_certificate() -> None:
    diseases = [
        {
            "SpecificDiseasesDiseaseCategory": "1",
            "SpecificDiseasesValidStartDate": "20200101",
            "SpecificDiseasesValidEndDate": "20301231",
            "SpecificDiseasesCertificateDate": "20191220",
            "SpecificDiseasesSelfPay": "10000",
        },
        {"SpecificDiseasesDiseaseCategory": "2", "SpecificDiseasesValidStartDate": "20210101"},
    ]
    root = parse(
        eligibility_answer_file(
            answer_with(SpecificDiseasesCertificateRelatedConsFlg="1",
                        SpecificDiseasesCertificateList=diseases),
            WireEncoding.UTF8,
        ),
        WireEncoding.UTF8,
    )  # fmt: skip
    # Repeated, each holding the certificate's elements directly: no inner wrapper.
    items = root.findall(
        "MessageBody/ResultList/ResultOfQualificationConfirmation/SpecificDiseasesCertificateList"
    )
    assert [[e.tag for e in item] for item in items] == [
        ["SpecificDiseasesDiseaseCategory", "SpecificDiseasesCertificateDate",
         "SpecificDiseasesValidStartDate", "SpecificDiseasesValidEndDate",
         "SpecificDiseasesSelfPay"],
        ["SpecificDiseasesDiseaseCategory", "SpecificDiseasesValidStartDate"],
    ]  # fmt: skip
    assert [i.findtext("SpecificDiseasesDiseaseCategory") for i in items] == ["1", "2"]
    assert root.find(".//SpecificDiseasesCertificateInfo") is None


def test_an_error_answer_has_the_header_in_spec_order_and_echoes_what_was_read() -> None:
    data = error_answer_file(
        code="C1005", message="保険者番号に誤りがあります。", detail="InsurerNumber: check digit",
        header=RequestHeader(arbitrary_file_identifier="x-1"), clinic_code="1310000017",
        encoding=WireEncoding.UTF8, now=NOW,
    )  # fmt: skip
    root = parse(data, WireEncoding.UTF8)
    header = root.find("MessageHeader")
    assert header is not None
    assert [(e.tag, e.text) for e in header] == [
        ("ProcessExecutionTime", "20260415100203"),  # Japan time
        ("QualificationConfirmationDate", "20260415"),
        ("MedicalInstitutionCode", "1310000017"),  # the connector's, the request had none
        ("ArbitraryFileIdentifier", "x-1"),
        ("ReferenceClassification", "2"),
        ("SegmentOfResult", "9"),
        ("ErrorCode", "C1005"),
        ("ErrorMessage", "保険者番号に誤りがあります。"),
        ("CharacterCodeIdentifier", "0"),
    ]
    assert root.findtext("MessageBody/ProcessingResultStatus") == "2"
    assert root.findtext("MessageBody/ProcessingResultMessage") == (
        "保険者番号に誤りがあります。（InsurerNumber: check digit）"
    )


def test_a_list_repeats_its_element() -> None:
    root = parse(write_xml({"A": ["1", {"B": "2"}]}, WireEncoding.UTF8), WireEncoding.UTF8)
    first, second = root
    assert (first.tag, first.text) == ("A", "1")
    assert (second.tag, second.findtext("B")) == ("A", "2")


def _raise(exc: Exception) -> None:
    raise exc


@pytest.mark.parametrize(
    "exc",
    [
        ServerUnreachable("http://server: connection refused"),
        ServerRefused(503, "Q9002", "一時的に利用できません。", "database unavailable"),
        ServerRefused(429, "Q4002", "照会が多すぎます。", "rate limit"),
    ],
)
def test_a_server_that_cannot_answer_now_postpones_the_request(exc: Exception) -> None:
    with pytest.raises(ServerOutage):
        _server(lambda: _raise(exc))


def test_a_numbered_refusal_is_answered() -> None:
    refusal = ServerRefused(404, "Q4001", "該当する資格がありません。", "no match")
    with pytest.raises(ServerRefused):
        _server(lambda: _raise(refusal))


def test_a_prescription_choice_made_at_the_reader_reads_and_is_written_first_in_the_body() -> None:
    answer = answer_with().model_dump(exclude_none=True)
    answer["MessageBody"]["PrescriptionIssueSelect"] = "2"  # paper
    root = parse(
        eligibility_answer_file(EligibilityAnswer.model_validate(answer), WireEncoding.UTF8),
        WireEncoding.UTF8,
    )
    body = root.find("MessageBody")
    assert body is not None
    assert [e.tag for e in body][:3] == [
        "PrescriptionIssueSelect", "ProcessingResultStatus", "QualificationValidity"
    ]  # fmt: skip
    assert body.findtext("PrescriptionIssueSelect") == "2"
    answer["MessageBody"]["PrescriptionIssueSelect"] = "3"
    with pytest.raises(ValidationError):
        EligibilityAnswer.model_validate(answer)
