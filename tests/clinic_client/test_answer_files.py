"""Answer documents as written (docs/answer.md): element order, absent elements, lists, and text
Shift_JIS cannot carry. Pure: no server, no folders."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from clinic_client.api import ServerRefused, ServerUnreachable
from clinic_client.connector.answering import ServerOutage, _server
from clinic_client.connector.answers import eligibility_answer_file, error_answer_file
from clinic_client.connector.requests import RequestHeader
from clinic_client.connector.xmlcodec import WireEncoding, write_xml
from qualification_server.contract.schemas import EligibilityAnswer

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


def test_a_character_shift_jis_cannot_carry_becomes_a_reference_and_reads_back() -> None:
    data = eligibility_answer_file(answer_with(Name="𠮷田 はしご髙"), WireEncoding.SHIFT_JIS)
    assert b"&#134071;" in data  # 𠮷 (U+20BB7) is outside cp932
    root = parse(data, WireEncoding.SHIFT_JIS)
    assert root.findtext("MessageBody/ResultList/ResultOfQualificationConfirmation/Name") == (
        "𠮷田 はしご髙"
    )


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
        {"SpecificDiseasesDiseaseCategory": "1", "SpecificDiseasesValidStartDate": "20200101"},
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
    (listed,) = root.findall(
        "MessageBody/ResultList/ResultOfQualificationConfirmation/SpecificDiseasesCertificateList"
    )
    items = listed.findall("SpecificDiseasesCertificateInfo")
    assert [i.findtext("SpecificDiseasesDiseaseCategory") for i in items] == ["1", "2"]


def test_an_error_answer_has_the_header_in_spec_order_and_echoes_what_was_read() -> None:
    data = error_answer_file(
        code="C1005", message="保険者番号に誤りがあります。", detail="InsurerNumber: check digit",
        header=RequestHeader(arbitrary_file_identifier="x-1"), encoding=WireEncoding.UTF8, now=NOW,
    )  # fmt: skip
    root = parse(data, WireEncoding.UTF8)
    header = root.find("MessageHeader")
    assert header is not None
    assert [(e.tag, e.text) for e in header] == [
        ("ProcessExecutionTime", "20260415100203"),  # Japan time
        ("QualificationConfirmationDate", "20260415"),
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
