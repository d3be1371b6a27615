"""個別照会 files as real receipt computers write them (Shift_JIS, no 枝番), answered by a
connector talking to a real qualification server: one holder born that day gets the answer,
twins under one card number get QualificationValidity 5 with one result each."""

from __future__ import annotations

import pytest

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.spool import Spool
from tests.support.families import FAMILY_NUMBER, FAMILY_SYMBOL, add_family
from tests.support.world import World

from .conftest import AnswerFile, read_answer, request_file, search_info

pytestmark = pytest.mark.db

RESULT = "MessageBody/ResultList/ResultOfQualificationConfirmation"


def ask(spool: Spool, client: QualificationClient, name: str, birthdate: str) -> AnswerFile:
    data = request_file(
        search_info(FAMILY_NUMBER, birthdate, symbol=FAMILY_SYMBOL), encoding="Shift_JIS"
    )
    assert b"InsuredBranchNumber" not in data
    (spool.req / name).write_bytes(data)
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    return read_answer(spool.res / name.replace("req_", "res_"))


def test_a_shift_jis_request_without_branch_gets_its_holders_answer(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    add_family(world)
    found = ask(spool, client, "OQSsiquc01req_nobranch-1.xml", "19800401")
    assert found.prolog_encoding == "Shift_JIS"
    assert found.text("MessageBody/QualificationValidity") == "1"
    (result,) = found.all(RESULT)
    assert result.findtext("InsuredBranchNumber") == "00"


def test_twins_without_branch_are_answered_5_one_result_each(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    add_family(world)
    found = ask(spool, client, "OQSsiquc01req_twins-1.xml", "20150505")
    assert found.text("MessageHeader/SegmentOfResult") == "1"
    assert found.text("MessageBody/QualificationValidity") == "5"
    results = found.all(RESULT)
    assert [r.findtext("InsuredBranchNumber") for r in results] == ["01", "02"]
    assert {r.findtext("PersonalFamilyClassification") for r in results} == {"2"}


def test_a_wrong_birth_date_without_branch_is_q4001(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    add_family(world)
    found = ask(spool, client, "OQSsiquc01req_wrong-1.xml", "19800402")
    assert found.text("MessageHeader/ErrorCode") == "Q4001"
