"""照会番号登録 through the folders (OQS-IF-003/004 single, 009..012 bulk), answered by a
connector talking to a real qualification server: a registered number comes back in the
clinic's later answers as ReferenceNumber; a bulk file's unreadable entry is refused in its
place; twins without 枝番 and a malformed number get numbered refusals."""

from __future__ import annotations

import pytest

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.spool import Spool
from tests.support.families import FAMILY_NUMBER, FAMILY_SYMBOL, add_family
from tests.support.world import World

from .conftest import AnswerFile, read_answer, request_file, search_info

pytestmark = pytest.mark.db

YAMADA = search_info("1001", "19800401", symbol="記号12")
RESULT = "MessageBody/ResultList/ResultOfQualificationConfirmation"


def drop(spool: Spool, client: QualificationClient, name: str, data: bytes) -> AnswerFile:
    (spool.req / name).write_bytes(data)
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    return read_answer(spool.res / name.replace("req_", "res_"))


def with_body(body: str, encoding: str = "Shift_JIS") -> bytes:
    """A request file whose MessageBody is `body` (a search info with its number, or units)."""
    data = request_file(encoding=encoding)
    codec = "cp932" if encoding == "Shift_JIS" else "utf-8"
    return data.replace(
        b"<MessageBody></MessageBody>", f"<MessageBody>{body}</MessageBody>".encode(codec)
    )


def unit(info: str, number: str) -> str:
    return (
        f"<ReferenceNumberRegistrationInfo>{info}"
        f"<ReferenceNumber>{number}</ReferenceNumber></ReferenceNumberRegistrationInfo>"
    )


def test_a_registered_number_comes_back_in_the_clinics_lookups(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    registered = drop(
        spool, client, "OQSsiimm01req_r1.xml",
        with_body(f"{YAMADA}<ReferenceNumber>000123</ReferenceNumber>"),
    )  # fmt: skip
    assert registered.prolog_encoding == "Shift_JIS"
    assert registered.text("MessageHeader/SegmentOfResult") == "1"
    assert registered.text("MessageHeader/MedicalInstitutionCode") == "1310000017"
    assert registered.text("MessageBody/ProcessingResultStatus") == "1"
    assert registered.text("MessageBody/ReferenceNumber") == "000123"
    found = drop(spool, client, "OQSsiquc01req_l1.xml", request_file(YAMADA))
    (result,) = found.all(RESULT)
    assert result.findtext("ReferenceNumber") == "000123"


def test_twins_without_branch_are_refused_rather_than_guessed(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    add_family(world)
    twins = search_info(FAMILY_NUMBER, "20150505", symbol=FAMILY_SYMBOL)
    found = drop(
        spool,
        client,
        "OQSsiimm01req_t1.xml",
        with_body(f"{twins}<ReferenceNumber>7</ReferenceNumber>"),
    )
    assert found.text("MessageHeader/SegmentOfResult") == "9"
    assert found.text("MessageHeader/ErrorCode") == "Q4006"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (YAMADA, "C1002"),  # no ReferenceNumber
        (f"{YAMADA}<ReferenceNumber>12-34</ReferenceNumber>", "C1004"),
        (f"{YAMADA}<ReferenceNumber>{'9' * 21}</ReferenceNumber>", "C1004"),
        ("<ReferenceNumber>1</ReferenceNumber>", "C1002"),  # nobody named
    ],
)
def test_a_registration_file_that_cannot_be_read_is_refused_and_kept(
    world: World, spool: Spool, client: QualificationClient, body: str, code: str
) -> None:
    found = drop(spool, client, "OQSsiimm01req_bad.xml", with_body(body))
    assert found.text("MessageHeader/ErrorCode") == code
    assert found.text("MessageHeader/MedicalInstitutionCode") == "1310000017"
    assert [p.name for p in spool.rejected.iterdir()] == ["OQSsiimm01req_bad.xml"]


def test_a_bulk_file_registers_each_entry_and_refuses_the_unreadable_in_place(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    suzuki = search_info("2002", "19921115", insurer="00131011")  # 国保, zero-padded
    wrong = search_info("1001", "19800402", symbol="記号12")  # a wrong birth date
    body = (
        unit(YAMADA, "A1") + unit(search_info("1001", "19800401", insurer="1"), "A2")
        + unit(suzuki, "A3") + unit(wrong, "A4")
    )  # fmt: skip
    found = drop(spool, client, "OQSmuimm01req_b1.xml", with_body(body))
    names = ("NumberOfProcessingResult", "NumberOfNormalProcessing", "NumberOfError")
    assert [found.text(f"MessageHeader/{n}") for n in names] == ["4", "2", "2"]
    units = found.all("MessageBody/BulkRegistrationUnit")
    assert [u.findtext("ProcessingResultStatus") for u in units] == list("1212")
    assert [u.findtext("ProcessingResultCode") for u in units] == [None, "C1005", None, "Q4001"]
    assert [u.findtext("ReferenceNumber") for u in units] == ["A1", "A2", "A3", "A4"]
    assert units[1].findtext("QualificationConfirmSearchInfo/InsuredIdentificationNumber") == "1001"
    found = drop(spool, client, "OQSsiquc01req_l2.xml", request_file(suzuki))
    (result,) = found.all(RESULT)
    assert result.findtext("ReferenceNumber") == "A3"


def test_another_clinics_connector_never_sees_the_number(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    drop(
        spool,
        client,
        "OQSsiimm01req_r2.xml",
        with_body(f"{YAMADA}<ReferenceNumber>55</ReferenceNumber>"),
    )
    other = QualificationClient("http://testserver", world.other_clinic_token, http=world.client)
    found = drop(spool, other, "OQSsiquc01req_o1.xml", request_file(YAMADA))
    (result,) = found.all(RESULT)
    assert result.find("ReferenceNumber") is None
