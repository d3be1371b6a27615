"""Request files in `req/` answered in `res/` by a connector talking to a real qualification
server (the element values of docs/answer.md, the names and encodings of
docs/file-interface.md), refusals and malformed files each with an error answer."""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.spool import Spool
from tests.support.world import KOKUHO, KYOKAI

from .conftest import (
    SAMPLES,
    AnswerFile,
    read_answer,
    request_file,
    run_without_file_powers,
    search_info,
)

pytestmark = pytest.mark.db

RESULT = "MessageBody/ResultList/ResultOfQualificationConfirmation"


def answer(spool: Spool, client: QualificationClient, file_name: str, data: bytes) -> AnswerFile:
    """Drop one request into `req/`, run one pass, and read the single answer it produced."""
    (spool.req / file_name).write_bytes(data)
    report = Connector(spool, client, settle_s=0).run_once()
    assert report.answered == 1 and report.outage is None
    assert list(spool.req.iterdir()) == [] and list(spool.work.iterdir()) == []
    (written,) = spool.res.iterdir()
    return read_answer(written)


def assert_error(answer_file: AnswerFile, code: str) -> None:
    assert answer_file.text("MessageHeader/SegmentOfResult") == "9"
    assert answer_file.text("MessageHeader/ErrorCode") == code
    assert answer_file.text("MessageHeader/ErrorMessage")
    assert answer_file.text("MessageBody/ProcessingResultStatus") == "2"
    assert answer_file.text("MessageBody/ProcessingResultCode") == code
    assert answer_file.all(RESULT) == []


@pytest.mark.parametrize(
    ("sample", "declared", "identifier"),
    [
        ("OQSsiquc01req_utf8-0001.xml", "UTF-8", "0"),
        ("OQSsiquc01req_sjis-0002.xml", "Shift_JIS", "1"),
    ],
)
def test_a_request_is_answered_in_its_own_encoding(
    spool: Spool, client: QualificationClient, sample: str, declared: str, identifier: str
) -> None:
    shutil.copy(SAMPLES / sample, spool.req / sample)
    Connector(spool, client, settle_s=0).run_once()
    request_id = sample[len("OQSsiquc01req_") : -len(".xml")]
    answer_path = spool.res / f"OQSsiquc01res_{request_id}.xml"
    raw = answer_path.read_bytes()
    assert raw.startswith(f'<?xml version="1.0" encoding="{declared}"?>'.encode())
    assert "山田 太郎".encode("utf-8" if declared == "UTF-8" else "cp932") in raw
    found = read_answer(answer_path)
    assert found.prolog_encoding == declared
    assert found.text("MessageHeader/CharacterCodeIdentifier") == identifier
    assert found.text("MessageHeader/SegmentOfResult") == "1"
    assert found.text("MessageHeader/ReferenceClassification") == "2"
    assert found.text("MessageHeader/QualificationConfirmationDate") == "20260415"
    assert found.text("MessageHeader/MedicalInstitutionCode") == "1310000017"
    assert found.text("MessageHeader/ArbitraryFileIdentifier") == request_id
    assert found.text("MessageBody/ProcessingResultStatus") == "1"
    assert found.text("MessageBody/QualificationValidity") == "1"
    (result,) = found.all(RESULT)
    assert result.findtext("InsurerNumber") == KYOKAI.digits
    assert result.findtext("InsuredCardSymbol") == "記号12"
    assert result.findtext("InsuredIdentificationNumber") == "1001"
    assert result.findtext("InsuredBranchNumber") == "00"
    assert result.findtext("Name") == "山田 太郎"
    assert result.findtext("NameKana") == "ヤマダ タロウ"
    assert result.findtext("Sex1") == "1"
    assert result.findtext("Birthdate") == "19800401"
    assert result.findtext("InsuredCardClassification") == "01"
    assert result.findtext("InsuredPartialContributionRatio") == "030"
    assert result.findtext("InsurerName") == "全国健康保険協会 東京支部"
    # the request consented to 限度額 information: it is there, its code with its zero
    assert result.findtext("LimitApplicationCertificateRelatedConsFlg") == "1"
    assert (
        result.findtext(
            "LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateClassification"
        )
        == "01"
    )
    assert result.find("DisqualificationDate") is None  # absent, not empty


def test_answer_elements_come_in_spec_order(spool: Spool, client: QualificationClient) -> None:
    found = answer(
        spool,
        client,
        "OQSsiquc01req_1.xml",
        request_file(search_info("1001", "19800401", symbol="記号12")),
    )
    header = [e.tag for e in found.root.find("MessageHeader") or []]
    assert header == [
        "ProcessExecutionTime", "QualificationConfirmationDate", "MedicalInstitutionCode",
        "ArbitraryFileIdentifier", "ReferenceClassification", "SegmentOfResult",
        "CharacterCodeIdentifier",
    ]  # fmt: skip
    assert [e.tag for e in found.root] == ["MessageHeader", "MessageBody"]
    (result,) = found.all(RESULT)
    tags = [e.tag for e in result]
    assert tags[:3] == ["InsuredCardClassification", "InsurerNumber", "InsuredCardSymbol"]
    assert (
        tags.index("Name")
        < tags.index("Sex1")
        < tags.index("Birthdate")
        < tags.index("InsurerName")
    )


@pytest.mark.parametrize("padded", ["  131011", "00131011"])
def test_a_kokuho_number_comes_back_right_aligned_however_it_was_padded(
    spool: Spool, client: QualificationClient, padded: str
) -> None:
    found = answer(
        spool, client, "OQSsiquc01req_k.xml",
        request_file(search_info("2002", "19921115", insurer=padded), encoding="Shift_JIS"),
    )  # fmt: skip
    assert found.text("MessageBody/QualificationValidity") == "1"
    (result,) = found.all(RESULT)
    assert result.findtext("InsurerNumber") == "  131011" == KOKUHO.wire
    assert result.findtext("InsurerName") == "千代田区国民健康保険"
    assert result.findtext("Name") == "鈴木 花子"


def test_an_old_number_with_a_newer_qualification_is_validity_3(
    spool: Spool, client: QualificationClient
) -> None:
    found = answer(
        spool, client, "OQSsiquc01req_old.xml",
        request_file(search_info("4001", "19750630", insurer=KOKUHO.digits)),
    )  # fmt: skip
    assert found.text("MessageHeader/SegmentOfResult") == "1"
    assert found.text("MessageBody/QualificationValidity") == "3"
    (result,) = found.all(RESULT)
    assert result.findtext("InsuredIdentificationNumber") == "4001"
    assert result.findtext("DisqualificationDate") == "20241001"
    assert result.findtext("ReasonOfLoss") == "03"


def test_a_wrong_birth_date_is_answered_with_the_servers_q4001(
    spool: Spool, client: QualificationClient
) -> None:
    found = answer(
        spool, client, "OQSsiquc01req_wrong.xml",
        request_file(search_info("1001", "19800402", symbol="記号12"), identifier="w-1"),
    )  # fmt: skip
    assert_error(found, "Q4001")
    assert "生年月日" in (found.text("MessageHeader/ErrorMessage") or "")
    assert found.text("MessageHeader/ArbitraryFileIdentifier") == "w-1"
    assert found.text("MessageHeader/QualificationConfirmationDate") == "20260415"


def test_a_malformed_file_gets_an_error_answer_named_after_its_id(
    spool: Spool, client: QualificationClient
) -> None:
    sample = "OQSsiquc01req_broken-0004.xml"
    shutil.copy(SAMPLES / sample, spool.req / sample)
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    found = read_answer(spool.res / "OQSsiquc01res_broken-0004.xml")
    assert_error(found, "C1001")
    assert "line" in (found.text("MessageBody/ProcessingResultMessage") or "")


def test_a_bad_insurer_number_gets_an_error_answer_in_the_request_encoding(
    spool: Spool, client: QualificationClient
) -> None:
    found = answer(
        spool, client, "OQSsiquc01req_bad.xml",
        request_file(search_info("1001", "19800401", insurer="01130013"), encoding="Shift_JIS",
                     identifier="b-9"),
    )  # fmt: skip
    assert_error(found, "C1005")
    assert found.prolog_encoding == "Shift_JIS"
    assert found.text("MessageHeader/CharacterCodeIdentifier") == "1"
    assert found.text("MessageHeader/ErrorMessage") == "保険者番号に誤りがあります。"
    assert found.text("MessageHeader/ArbitraryFileIdentifier") == "b-9"
    assert found.text("MessageHeader/MedicalInstitutionCode") == "1310000017"


A_REQUEST = request_file(search_info("1001", "19800401"))
EUC_JP = b'<?xml version="1.0" encoding="EUC-JP"?><XmlMsg/>'
OVERSIZED = b"<XmlMsg>" + b" " * (1 << 20) + b"</XmlMsg>"


@pytest.mark.parametrize(
    ("file_name", "data", "answer_name", "code"),
    [
        ("OQSsiquc01req_big.xml", OVERSIZED, "OQSsiquc01res_big.xml", "C1006"),
        ("OQSsiquc01req_euc.xml", EUC_JP, "OQSsiquc01res_euc.xml", "C1003"),
        ("OQSsiquc01req_root.xml", b"<Root/>", "OQSsiquc01res_root.xml", "C1002"),
        # a 照会番号 registration without its ReferenceNumber, or without its unit
        ("OQSsiimm01req_p1.xml", A_REQUEST, "OQSsiimm01res_p1.xml", "C1002"),
        ("OQSmuimm01req_p2.xml", A_REQUEST, "OQSmuimm01res_p2.xml", "C1002"),
        ("garbage.xml", b"\x00\x01", "garbage_res.xml", "C1007"),
    ],
)
def test_every_unanswerable_file_gets_an_error_answer(
    spool: Spool,
    client: QualificationClient,
    file_name: str,
    data: bytes,
    answer_name: str,
    code: str,
) -> None:
    found = answer(spool, client, file_name, data)
    assert_error(found, code)
    assert (spool.res / answer_name).exists()


def test_files_that_are_not_requests_are_left_alone_and_strays_are_named_once(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    outside = spool.root / "elsewhere.xml"
    outside.write_bytes(request_file(search_info("1001", "19800401", symbol="記号12")))
    (spool.req / "OQSsiquc01req_link.xml").symlink_to(outside)
    (spool.req / "OQSsiquc01req_1.xml.tmp").write_bytes(b"half a request")
    (spool.req / ".hidden.xml").write_bytes(b"<XmlMsg/>")
    (spool.req / "notes.txt").write_bytes(b"a note")
    before = sorted(p.name for p in spool.req.iterdir())
    connector = Connector(spool, client, settle_s=0)
    with caplog.at_level(logging.WARNING):
        assert connector.run_once().answered == 0
        assert connector.run_once().answered == 0
    assert sorted(p.name for p in spool.req.iterdir()) == before
    assert list(spool.res.iterdir()) == []
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "req/OQSsiquc01req_link.xml is not a request file (*.xml): left alone",
        "req/notes.txt is not a request file (*.xml): left alone",
    ]


def test_a_file_still_being_written_waits_until_it_settles(
    spool: Spool, client: QualificationClient
) -> None:
    (spool.req / "OQSsiquc01req_fresh.xml").write_bytes(
        request_file(search_info("1001", "19800401", symbol="記号12"))
    )
    assert Connector(spool, client, settle_s=60).run_once().answered == 0
    assert (spool.req / "OQSsiquc01req_fresh.xml").exists()
    assert Connector(spool, client, settle_s=0).run_once().answered == 1


def test_a_refusal_by_the_server_is_an_answer_too(spool: Spool, world) -> None:  # type: ignore[no-untyped-def]
    stranger = QualificationClient("http://testserver", "not-a-token", http=world.client)
    found = answer(
        spool, stranger, "OQSsiquc01req_s.xml", request_file(search_info("1001", "19800401"))
    )
    assert_error(found, "Q5001")


def test_a_request_the_connector_may_not_read_is_refused_kept_and_does_not_stop_the_rest(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Another user's file with no permissions for anyone (a receipt computer writing through
    # a share with the wrong mask). It can be neither read, nor linked, nor copied.
    locked = spool.req / "OQSsiquc01req_locked.xml"
    locked.write_bytes(A_REQUEST)
    locked.chmod(0)
    if os.geteuid() == 0:
        os.chown(locked, NOBODY, NOBODY)
    (spool.req / "OQSsiquc01req_fine.xml").write_bytes(
        request_file(search_info("1001", "19800401", symbol="記号12"))
    )
    connector = Connector(spool, client, settle_s=0)
    with caplog.at_level(logging.INFO, logger="clinic_client"):
        report = run_without_file_powers(connector.run_once)

    assert report.answered == 2 and report.outage is None
    assert list(spool.req.iterdir()) == [] and list(spool.work.iterdir()) == []
    assert_error(read_answer(spool.res / "OQSsiquc01res_locked.xml"), "C1009")
    fine = read_answer(spool.res / "OQSsiquc01res_fine.xml")
    assert fine.text("MessageBody/QualificationValidity") == "1"
    # Moved, not copied: the file is in rejected/ as it came, permissions and all.
    (kept,) = spool.rejected.iterdir()
    assert kept.name == locked.name and kept.stat().st_mode & 0o777 == 0
    assert kept.read_bytes() == A_REQUEST  # (read back with the test's own powers)
    assert "request locked: cannot be read (Permission denied)" in caplog.messages


NOBODY = 65534
