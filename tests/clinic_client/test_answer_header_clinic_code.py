"""Every answer file's header carries `MedicalInstitutionCode` (docs/file-interface.md):
clinic software refuses a header without it. The answers the connector makes itself name
the clinic of its credential, as the server's answers do, whatever the request said."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from clinic_client.api import QualificationClient, clinic_code_of
from clinic_client.connector import Connector
from clinic_client.connector.spool import Spool
from tests.support.world import CLINIC, KYOKAI, OTHER_CLINIC

from .conftest import AnswerFile, read_answer, search_info

pytestmark = pytest.mark.db

CODE = "MessageHeader/MedicalInstitutionCode"


def without_clinic_code(*infos: str, encoding: str = "UTF-8") -> bytes:
    """A request whose header has no MedicalInstitutionCode (it is optional in requests)."""
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<XmlMsg><MessageHeader>'
        "<ArbitraryFileIdentifier>rc-1</ArbitraryFileIdentifier>"
        f"</MessageHeader><MessageBody>{''.join(infos)}</MessageBody></XmlMsg>\n"
    )
    return text.encode("utf-8" if encoding == "UTF-8" else "cp932")


def answer(spool: Spool, client: QualificationClient, file_name: str, data: bytes) -> AnswerFile:
    (spool.req / file_name).write_bytes(data)
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    (written,) = spool.res.iterdir()
    return read_answer(written)


def test_a_request_the_connector_refuses_is_answered_with_its_clinic_code(
    spool: Spool, client: QualificationClient
) -> None:
    found = answer(
        spool, client, "OQSsiquc01req_c1.xml", without_clinic_code(search_info("1001", "1980"))
    )
    assert found.text("MessageHeader/ErrorCode") == "C1004"
    assert found.text(CODE) == CLINIC


def test_a_file_that_is_no_xml_is_answered_with_the_clinic_code(
    spool: Spool, client: QualificationClient
) -> None:
    found = answer(spool, client, "OQSsiquc01req_c2.xml", b"\x00 not a document")
    assert found.text("MessageHeader/SegmentOfResult") == "9"
    assert found.text(CODE) == CLINIC


def test_a_refusal_by_the_server_is_answered_with_the_clinic_code(
    spool: Spool, client: QualificationClient
) -> None:
    found = answer(
        spool, client, "OQSsiquc01req_c3.xml",
        without_clinic_code(search_info("9999", "19800401"), encoding="Shift_JIS"),
    )  # fmt: skip
    assert found.text("MessageHeader/ErrorCode") == "Q4001"
    assert found.text(CODE) == CLINIC


def test_a_batch_answered_without_the_server_carries_the_clinic_code(
    spool: Spool, tmp_path: Path
) -> None:
    # Every entry is unreadable: the connector refuses the file alone (the server is never
    # reached).
    nowhere = QualificationClient(
        "http://127.0.0.1:9", f"{CLINIC}.secret", http=httpx.Client(base_url="http://127.0.0.1:9")
    )
    found = answer(
        spool, nowhere, "OQSmuquc01req_c4.xml",
        without_clinic_code(search_info("1001", "19800401", insurer="1")),
    )  # fmt: skip
    assert found.text("MessageHeader/ErrorCode") == "C1005"
    assert found.text(CODE) == CLINIC


def test_the_connectors_clinic_is_named_rather_than_the_requests(
    spool: Spool, client: QualificationClient
) -> None:
    data = without_clinic_code(search_info("1001", "1980")).replace(
        b"<MessageHeader>",
        f"<MessageHeader><MedicalInstitutionCode>{OTHER_CLINIC}</MedicalInstitutionCode>".encode(),
    )
    found = answer(spool, client, "OQSsiquc01req_c5.xml", data)
    assert found.text(CODE) == CLINIC


def test_a_batch_answered_by_the_server_keeps_the_servers_header(
    spool: Spool, client: QualificationClient
) -> None:
    entry = search_info("1001", "19800401", insurer=KYOKAI.digits, symbol="記号12")
    found = answer(spool, client, "OQSmuquc01req_c6.xml", without_clinic_code(entry))
    assert found.text("MessageHeader/NumberOfProcessingResult") == "1"
    assert len(found.text("MessageHeader/ReceptionNumber") or "") == 16
    assert found.text(CODE) == CLINIC


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (f"{CLINIC}.secret", CLINIC),
        (f"{CLINIC}.sec.ret", CLINIC),
        ("not-a-token", None),
        (f"{CLINIC}secret", None),  # no dot: no code named
        ("4810000017.secret", None),  # no prefecture 48
        ("131000001.secret", None),  # 9 digits
    ],
)
def test_the_clinic_code_is_the_first_part_of_the_token(token: str, code: str | None) -> None:
    assert clinic_code_of(token) == code
