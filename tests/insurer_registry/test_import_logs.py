"""A refused import file, or one imported with rows refused, is one log line for IT: the file
by its keyed digest (the `Import` record's), the counts, the code, the reasons counted; never
a row's My Number, name, birth date or insured number."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.importer.csv_source import ImportFileInvalid
from insurer_registry.models import Import
from tests.insurer_registry.test_import import csv_bytes, post_csv, rejected, row, run_import
from tests.support.registry import INSURER_A, RegisteredInsurer, my_number

pytestmark = pytest.mark.db

IMPORTER = "insurer_registry.importer.service"
PERSONAL = ("山田", "ヤマダ", "19800401", "19800231", "5001", "5002", "5003")


def importer_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == IMPORTER and r.levelno >= logging.WARNING
    ]


def assert_no_personal_data(caplog: pytest.LogCaptureFixture, numbers: range) -> None:
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for value in (*PERSONAL, *(my_number(n) for n in numbers)):
        assert value not in everything


def test_a_file_refused_whole_is_logged_with_its_digest_counts_and_code(
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [row(n) for n in range(1, 6)]
    rows[1]["Birthdate"] = rows[3]["Birthdate"] = "19800231"
    rows[2]["MyNumber"] = "123456789012"
    with caplog.at_level(logging.WARNING):
        report = rejected(sessions, csv_bytes(rows))
    (line,) = importer_lines(caplog)
    assert line == (
        f"import rows refused code=R1007 file={report.file_digest} import=- by=operator:test "
        "idempotency_key=- insurer=- rows=5 rejected=3 committed=no "
        'reasons="Birthdate: not a calendar date ×2; MyNumber: check digit does not match ×1"'
    )
    assert_no_personal_data(caplog, range(1, 6))


def test_a_partial_import_logs_the_rows_it_refused(
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [row(n) for n in range(1, 4)]
    rows[0]["Birthdate"] = "19800231"
    with caplog.at_level(logging.WARNING):
        report = run_import(sessions, csv_bytes(rows), partial=True)
    assert report.committed and report.import_id is not None
    with sessions() as session:
        digest = session.scalar(select(Import.file_digest).where(Import.id == report.import_id))
    (line,) = importer_lines(caplog)
    assert line.startswith(f"import rows refused code=- file={digest} import={report.import_id} ")
    assert "rows=3 rejected=1 committed=yes" in line
    assert_no_personal_data(caplog, range(1, 4))


def test_an_unreadable_file_is_logged_with_its_digest_and_code(
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = csv_bytes([row(1)]).replace(b"Birthdate", b"Geburtstag", 1)
    with caplog.at_level(logging.WARNING), pytest.raises(ImportFileInvalid):
        run_import(sessions, data)
    (line,) = importer_lines(caplog)
    assert line.startswith("import file refused code=R1006 file=")
    assert " by=operator:test " in line
    assert line.endswith(" line=1 reason=unknown column(s)")  # not the columns it found


def test_a_file_without_its_header_logs_no_cell_of_its_first_row(
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = csv_bytes([row(1)]).split(b"\r\n", 1)[1]  # the first row read as the header
    with caplog.at_level(logging.WARNING), pytest.raises(ImportFileInvalid):
        run_import(sessions, data)
    (line,) = importer_lines(caplog)
    assert line.startswith("import file refused code=R1006 file=")
    assert_no_personal_data(caplog, range(1, 2))
    assert_no_personal_data(caplog, range(1, 2))


def test_an_insurers_refused_upload_is_logged_by_the_importer_and_the_api(
    client: TestClient, insurer_a: RegisteredInsurer, caplog: pytest.LogCaptureFixture
) -> None:
    data = csv_bytes([row(1), row(2, MyNumber="1"), row(3)])
    with caplog.at_level(logging.WARNING):
        response = post_csv(client, insurer_a, data, "imp-logged")
    assert response.status_code == 422
    request_id = response.json()["error"]["request_id"]
    (line,) = importer_lines(caplog)
    assert line.startswith("import rows refused code=R1007 file=")
    # the write's Idempotency-Key names the import; the API's line the request
    assert f" idempotency_key=imp-logged insurer={INSURER_A} rows=3 rejected=1 " in line
    refusals = [r.getMessage() for r in caplog.records if r.name == "onshi_kernel.refusals"]
    assert refusals == [
        f"refused code=R1007 status=422 request_id={request_id} insurer={INSURER_A} "
        'route="POST /v1/imports"'
    ]
    assert_no_personal_data(caplog, range(1, 4))
