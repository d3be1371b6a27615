"""一括照会 through the folders in two steps, as receipt computers drive it (OQS-IF-005..008):
`OQSmuquc01req` → `OQSmuquc01res` with a ReceptionNumber; `OQSmuquc02req` with it →
`OQSmuquc02res`, 処理中 (SegmentOfResult 2) until the server is done, then one BulkConfirmUnit
per entry of the batch file, the connector's own refusals in place; nothing lost or doubled
when the connector or the server restarts between the steps."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.spool import Spool
from qualification_server.lookups import batches
from qualification_server.models import AccessRecord, Batch
from tests.support.world import KYOKAI, World

from .conftest import SAMPLES, AnswerFile, read_answer, request_file

pytestmark = pytest.mark.db

SAMPLE = "OQSmuquc01req_batch-0003.xml"  # Shift_JIS, no 枝番, a padded 国保 number, 5 entries


def run(spool: Spool, client: QualificationClient) -> None:
    assert Connector(spool, client, settle_s=0).run_once().outage is None


def submit_sample(spool: Spool, client: QualificationClient) -> AnswerFile:
    shutil.copy(SAMPLES / SAMPLE, spool.req / SAMPLE)
    run(spool, client)
    return read_answer(spool.res / "OQSmuquc01res_batch-0003.xml")


def fetch(spool: Spool, client: QualificationClient, number: str, ident: str) -> AnswerFile:
    body = f"<ReceptionNumber>{number}</ReceptionNumber>"
    data = request_file(identifier=ident, encoding="Shift_JIS").replace(
        b"<MessageBody></MessageBody>", f"<MessageBody>{body}</MessageBody>".encode()
    )
    (spool.req / f"OQSmuquc02req_{ident}.xml").write_bytes(data)
    run(spool, client)
    return read_answer(spool.res / f"OQSmuquc02res_{ident}.xml")


def records(world: World) -> int:
    with world.deps.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(AccessRecord)) or 0)


def test_the_upload_result_carries_a_reception_number_for_every_entry(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    receipt = submit_sample(spool, client)
    assert receipt.prolog_encoding == "Shift_JIS"
    assert receipt.text("MessageHeader/SegmentOfResult") == "1"
    number = receipt.text("MessageHeader/ReceptionNumber") or ""
    assert len(number) == 16 and number.isdigit()
    assert receipt.text("MessageBody/ReceptionNumber") == number
    assert receipt.text("MessageHeader/NumberOfProcessingResult") == "5"  # refused one too
    assert receipt.text("MessageHeader/ArbitraryFileIdentifier") == "batch-0003"
    assert receipt.text("MessageHeader/MedicalInstitutionCode") == "1310000017"
    assert records(world) == 0  # nothing looked up yet


def test_a_fetch_before_the_batch_is_done_is_in_progress_then_the_result(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    number = submit_sample(spool, client).text("MessageHeader/ReceptionNumber") or ""
    early = fetch(spool, client, number, "f1")
    assert early.text("MessageHeader/SegmentOfResult") == "2"
    assert early.text("MessageHeader/ReceptionNumber") == number
    assert early.text("MessageHeader/NumberOfProcessingResult") == "0"
    assert early.all("MessageBody/BulkConfirmUnit") == []
    batches.work(world.deps)
    found = fetch(spool, client, number, "f2")
    assert found.text("MessageHeader/SegmentOfResult") == "1"
    assert found.text("MessageHeader/CharacterCodeIdentifier") == "1"
    header = [e.tag for e in found.root.find("MessageHeader") or []]
    assert header == [
        "ProcessExecutionTime", "QualificationConfirmationDate", "MedicalInstitutionCode",
        "ArbitraryFileIdentifier", "ReceptionNumber", "SegmentOfResult",
        "NumberOfProcessingResult", "NumberOfNormalProcessing", "NumberOfError",
        "CharacterCodeIdentifier",
    ]  # fmt: skip
    names = ("NumberOfProcessingResult", "NumberOfNormalProcessing", "NumberOfError")
    counts = [found.text(f"MessageHeader/{n}") for n in names]
    assert counts == ["5", "3", "2"]
    units = found.all("MessageBody/BulkConfirmUnit")
    assert [u.findtext("ProcessingResultStatus") for u in units] == list("11122")
    assert [u.findtext("QualificationValidity") for u in units[:3]] == list("113")
    assert [u.findtext("ProcessingResultCode") for u in units[3:]] == ["Q4001", "C1005"]
    assert [u.findtext("QualificationConfirmSearchInfo/InsurerNumber") for u in units[:3]] == [
        KYOKAI.digits, "  131011", "  131011",
    ]  # fmt: skip
    first = units[0].find("ResultOfQualificationConfirmation")  # directly in the unit
    assert first is not None and first.findtext("InsuredCardSymbol") == "記号12"
    assert units[4].findtext("QualificationConfirmSearchInfo/InsuredIdentificationNumber") == (
        "5001"
    )
    assert [e.tag for e in units[0]] == [
        "QualificationConfirmSearchInfo", "ProcessingResultStatus", "QualificationValidity",
        "ResultOfQualificationConfirmation",
    ]  # fmt: skip
    assert [e.tag for e in units[3]] == [
        "QualificationConfirmSearchInfo", "ProcessingResultStatus", "ProcessingResultCode",
        "ProcessingResultMessage", "QualificationValidity",
    ]  # fmt: skip


def test_a_restart_between_the_steps_loses_nothing_and_doubles_nothing(
    world: World, tmp_path: Path, client: QualificationClient
) -> None:
    spool = Spool.open(tmp_path)
    number = submit_sample(spool, client).text("MessageHeader/ReceptionNumber") or ""
    # The same file dropped again (the receipt computer retried): the same batch
    shutil.copy(SAMPLES / SAMPLE, spool.req / SAMPLE)
    run(spool, client)
    again = read_answer(spool.res / "OQSmuquc01res_batch-0003.xml")
    assert again.text("MessageHeader/ReceptionNumber") == number
    with world.deps.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 1
    batches.work(world.deps)
    # A new connector process over the same folders fetches the result with its refusals
    restarted = Spool.open(tmp_path)
    found = fetch(restarted, client, number, "after-restart")
    units = found.all("MessageBody/BulkConfirmUnit")
    assert len(units) == 5 and units[4].findtext("ProcessingResultCode") == "C1005"
    assert records(world) == 4  # the four entries sent, each looked up once


def test_another_clinics_or_an_unknown_reception_number_is_an_error_answer(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    found = fetch(spool, client, "0" * 16, "unknown")
    assert found.text("MessageHeader/SegmentOfResult") == "9"
    assert found.text("MessageHeader/ErrorCode") == "Q4004"
    assert found.text("MessageHeader/MedicalInstitutionCode") == "1310000017"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "C1002"),  # no ReceptionNumber
        ("<ReceptionNumber>12345</ReceptionNumber>", "C1004"),
        ("<ReceptionNumber>１２３４５６７８９０１２３４５６</ReceptionNumber>", "C1004"),
    ],
)
def test_a_download_request_without_a_usable_reception_number_is_refused(
    world: World, spool: Spool, client: QualificationClient, body: str, code: str
) -> None:
    data = request_file(identifier="bad").replace(
        b"<MessageBody></MessageBody>", f"<MessageBody>{body}</MessageBody>".encode()
    )
    (spool.req / "OQSmuquc02req_bad.xml").write_bytes(data)
    run(spool, client)
    found = read_answer(spool.res / "OQSmuquc02res_bad.xml")
    assert found.text("MessageHeader/ErrorCode") == code
    assert list(spool.rejected.iterdir())  # kept for whoever fixes the sender


def test_a_batch_layout_older_than_the_servers_retention_is_forgotten(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    old = spool.keep_batch("1" * 16, b"[null]")
    new = spool.keep_batch("2" * 16, b"[null]")
    week_and_two_days_ago = old.stat().st_mtime - 9 * 24 * 3600
    os.utime(old, (week_and_two_days_ago, week_and_two_days_ago))
    assert spool.remove_old_batches() == 1
    assert [p.name for p in spool.batches.iterdir()] == [new.name]
    assert spool.kept_batch("1" * 16) is None
