"""Every request file the connector refuses, and every check the server refuses, is one
WARNING line for IT: the code (C… or Q…), the file name, the request kind, the clinic; never
what the file holds (an insured number, a birth date, a name)."""

from __future__ import annotations

import logging

import pytest

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.spool import Spool
from tests.support.world import CLINIC

from .conftest import request_file, search_info

pytestmark = pytest.mark.db

SERVICE = "clinic_client.connector.service"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == SERVICE and r.levelno == logging.WARNING
    ]


def test_a_refused_request_file_is_logged_with_its_name_and_code(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    name = "OQSsiquc01req_broken-7.xml"
    (spool.req / name).write_bytes(b"<?xml version='1.0'?><XmlMsg><MessageHeader>19770707")
    with caplog.at_level(logging.WARNING, logger="clinic_client"):
        assert Connector(spool, client, settle_s=0).run_once().answered == 1
    (line,) = warnings_of(caplog)
    code = line.split("code=", 1)[1].split(" ", 1)[0]
    assert code.startswith("C") and code[1:].isdigit()
    assert line == (f"request file refused code={code} file={name} kind=OQSsiquc01 clinic={CLINIC}")
    assert (spool.root / "rejected" / name).exists() or any(spool.root.rglob(name))
    assert "19770707" not in caplog.text


def test_a_check_the_server_refuses_is_logged_without_the_persons_data(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    name = "OQSsiquc01req_nobody-1.xml"
    (spool.req / name).write_bytes(
        request_file(search_info("99887766", "19770707", symbol="記号99"), identifier="nobody-1")
    )
    with caplog.at_level(logging.WARNING, logger="clinic_client"):
        assert Connector(spool, client, settle_s=0).run_once().answered == 1
    (line,) = warnings_of(caplog)
    assert line.startswith("request refused by the server code=Q")
    assert line.endswith(f" file={name} kind=OQSsiquc01 clinic={CLINIC}")
    for value in ("99887766", "19770707", "記号99"):
        assert value not in caplog.text
