"""The log holds one line per event: a file name (or anything else from outside the
connector) cannot add a line of its own. Control characters are logged as escapes."""

from __future__ import annotations

import logging

import pytest

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.logtext import loggable
from clinic_client.connector.spool import Spool

from .conftest import request_file, search_info

A_REQUEST = request_file(search_info("1001", "19800401", symbol="記号12"), identifier="n1")


@pytest.mark.db
def test_a_file_name_cannot_add_a_line_to_the_log(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "INFO clinic_client.connector.service request x (OQSsiquc01): validity 1"
    file_name = f"OQSsiquc01req_n1\n{forged}\n.xml"
    (spool.req / file_name).write_bytes(A_REQUEST)
    with caplog.at_level(logging.DEBUG, logger="clinic_client"):
        assert Connector(spool, client, settle_s=0).run_once().answered == 1

    messages = [r.getMessage() for r in caplog.records if r.name.startswith("clinic_client")]
    assert messages, "the request is logged"
    assert all("\n" not in m and "\r" not in m for m in messages)
    assert [line for line in caplog.text.splitlines() if line.startswith(forged)] == []
    assert any(r"OQSsiquc01req_n1\nINFO" in m for m in messages)  # escaped, still legible


@pytest.mark.db
def test_a_stray_name_cannot_add_a_line_to_the_log(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "WARNING clinic_client.connector.service answering again"
    (spool.req / f"notes\r\n{forged}").write_bytes(b"a note")
    with caplog.at_level(logging.WARNING, logger="clinic_client"):
        assert Connector(spool, client, settle_s=0).run_once().answered == 0

    (message,) = [r.getMessage() for r in caplog.records]
    assert message == rf"req/notes\r\n{forged} is not a request file (*.xml): left alone"


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("OQSsiquc01req_1.xml", "OQSsiquc01req_1.xml"),
        ("記号 12.xml", "記号 12.xml"),
        ("a\nb\r\tc", r"a\nb\r\tc"),
        ("\x1b[2Kred", r"\x1b[2Kred"),  # a terminal escape that would erase the line
        ("a\u2028b\x85c", r"a\u2028b\x85c"),  # lines to some log viewers
        ("bytes\udcff.xml", r"bytes\udcff.xml"),  # a name that is not UTF-8
        ("a\\nb", r"a\\nb"),  # a real backslash stays apart from an escape
    ],
)
def test_text_from_outside_is_logged_on_one_line(text: str, logged: str) -> None:
    assert loggable(text) == logged
