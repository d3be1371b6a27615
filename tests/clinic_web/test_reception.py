"""The reception terminal (受付端末) in a real Chromium: check-ins posted as the patient-facing
reader posts them arrive without a reload, newest first; a selected one shows its result in
和暦 with 西暦, prints, and is cleared for the next patient; the insured-number lookup and the
batch say in Japanese which field is wrong and never leave an old answer under new input."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from card_reader.issuance.residents import Resident
from clinic_client.api import QualificationClient
from clinic_client.connector import write_face_result
from clinic_client.web.app import MAX_REQUEST_BYTES, CheckInBook, create_clinic_app
from onshi_kernel.japan_time import JST, japan_now, japan_today
from qualification_server.api.app import create_app
from tests.support.desk import RECEPTION_KEY, Reception, ServerThread, check_in
from tests.support.ports import free_port
from tests.support.world import World

pytestmark = [pytest.mark.db]

YAMADA = {
    "InsurerNumber": "01130012",
    "InsuredCardSymbol": "記号12",
    "InsuredIdentificationNumber": "1001",
    "Birthdate": "1980-04-01",
}


def test_check_ins_arrive_live_newest_first(
    reception: Reception, caplog: pytest.LogCaptureFixture
) -> None:
    page = reception.page
    expect(page.locator("#live-text")).to_have_text("受付を受信中")
    expect(page.locator("#checkins-empty")).to_be_visible()
    earlier = japan_now() - dt.timedelta(minutes=3)
    answer = reception.answer("yamada-taro")
    assert reception.post(check_in(answer, checked_at=earlier)).status_code == 202
    failure = {
        "kind": "not-registered",
        "code": "Q3001",
        "message_ja": "利用登録がされていません。",
    }
    with caplog.at_level(logging.WARNING, logger="clinic_client.web"):
        assert reception.post(check_in(failure=failure, method="face")).status_code == 202
    assert "failed check-in: kind=not-registered code=Q3001" in caplog.text
    items = page.locator("#checkins li")
    expect(items).to_have_count(2)  # no reload: pushed
    expect(items.nth(0).locator(".badge")).to_have_text("確認できず")
    expect(items.nth(0)).to_contain_text("利用登録がされていません")
    expect(items.nth(1).locator(".badge")).to_have_text("有効")
    expect(items.nth(1)).to_contain_text("山田 太郎")
    expect(items.nth(1)).to_contain_text("全国健康保険協会")
    expect(items.nth(1)).to_contain_text("記号12・1001")
    expect(items.nth(1).locator(".time")).to_have_text(earlier.strftime("%H:%M:%S"))
    reception.shot("reception-checkins")


def test_a_check_in_shows_its_result_in_wareki_prints_and_clears(reception: Reception) -> None:
    page = reception.page
    answer = reception.answer("yamada-taro", {"limit_application": True})
    reception.post(check_in(answer))
    page.locator("#checkins li button").first.click()
    detail = page.locator("#detail")
    expect(detail.locator(".badge")).to_have_text("有効")
    expect(detail.locator("h2")).to_have_text("山田 太郎")
    expect(detail).to_contain_text("昭和55年4月1日 (1980-04-01)")  # 生年月日
    expect(detail).to_contain_text("3割")
    expect(detail).to_contain_text("資格の期間")
    expect(detail).to_contain_text("暗証番号")
    expect(detail).to_contain_text("診療・薬剤情報の提供：同意する")
    expect(detail).to_contain_text("処方箋：電子処方箋")
    expect(detail).to_contain_text("マイナンバーカード")
    reception.shot("reception-detail")

    page.emulate_media(media="print")
    expect(page.locator("nav")).to_be_hidden()
    expect(page.locator("#checkins")).to_be_hidden()
    expect(detail).to_be_visible()
    expect(detail.locator(".print-only")).to_contain_text("オンライン資格確認 受付端末 — 確認時刻")
    reception.shot("reception-print")
    page.emulate_media(media="screen")

    page.get_by_role("button", name="次の患者へ").click()
    expect(detail).to_be_hidden()
    expect(page.locator("#detail-empty")).to_be_visible()
    expect(page.locator("#checkins li.selected")).to_have_count(0)
    reception.shot("reception-next-patient")


def test_a_failed_check_in_says_what_to_do_and_leads_on(reception: Reception) -> None:
    page = reception.page
    failure = {"kind": "pin-blocked", "code": None, "message_ja": "暗証番号がロックされています。"}
    reception.post(check_in(failure=failure))
    page.locator("#checkins li button").first.click()
    detail = page.locator("#detail")
    expect(detail.locator("h2")).to_have_text("暗証番号がロックされています")
    expect(detail).to_contain_text("顔認証または目視確認")
    reception.shot("reception-failure")
    detail.get_by_role("button", name="保険証の番号で確認").click()
    expect(page.locator("#tab-number")).to_be_visible()


def test_the_english_toggle_rerenders_a_shown_result(reception: Reception) -> None:
    page = reception.page
    reception.post(check_in(reception.answer("yamada-taro")))
    page.locator("#checkins li button").first.click()
    expect(page.locator("#detail .badge")).to_have_text("有効")
    page.click("#lang")
    expect(page.locator("#detail .badge")).to_have_text("Valid")
    expect(page.locator("#detail")).to_contain_text("1980-04-01 (昭和55年4月1日)")
    expect(page.locator("#detail")).to_contain_text("Copay")
    expect(page.locator("#detail")).to_contain_text("Share diagnoses and medication: agreed")
    expect(page.locator("#checkins li .badge")).to_have_text("Valid")
    reception.shot("reception-english")


def test_a_check_in_without_the_reception_key_is_refused(
    reception: Reception, caplog: pytest.LogCaptureFixture
) -> None:
    record = check_in(failure={"kind": "refused", "message_ja": "x"})
    with caplog.at_level(logging.WARNING, logger="clinic_client.web"):
        assert reception.post(record, key=None).status_code == 401
        assert reception.post(record, key="not-the-key").status_code == 401
    assert "refused check-in: code=unauthenticated" in caplog.text
    listed = httpx.get(f"{reception.url}/api/check-ins").json()
    assert listed == {"check_ins": []}
    reception.page.reload()
    expect(reception.page.locator("#checkins-empty")).to_be_visible()


def test_a_new_lookup_clears_the_old_answer_and_names_the_field(
    reception: Reception, caplog: pytest.LogCaptureFixture
) -> None:
    page = reception.page
    page.get_by_role("button", name="保険証の番号で確認").click()
    form = page.locator("#number-form")
    for name, value in YAMADA.items():
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button", name="照会する").click()
    result = page.locator("#number-result")
    expect(result.locator("h2")).to_have_text("山田 太郎")
    expect(result).to_contain_text("昭和55年4月1日 (1980-04-01)")
    reception.shot("reception-lookup")
    form.locator("[name=InsurerNumber]").fill("12AB")
    with caplog.at_level(logging.WARNING, logger="clinic_client.web"):
        form.get_by_role("button", name="照会する").click()
        expect(result).to_contain_text("保険者番号")
    expect(result).not_to_contain_text("山田")
    expect(result).not_to_contain_text("pattern")
    assert result.locator("h2").count() == 0
    reception.shot("reception-lookup-invalid")
    # logged for IT, without the person
    assert "refused lookup: code=bad-input" in caplog.text
    assert "1001" not in caplog.text and "19800401" not in caplog.text
    form.locator("[name=InsurerNumber]").fill("01130012")
    form.locator("[name=Birthdate]").fill("1980-04-02")
    with caplog.at_level(logging.WARNING, logger="clinic_client.web"):
        form.get_by_role("button", name="照会する").click()
        expect(result).to_contain_text("Q4001")
    expect(result).not_to_contain_text("山田")
    # the server's refusal is logged with the server's request id, to find it in its log
    line = next(
        r.getMessage() for r in caplog.records if "refused lookup: code=Q4001" in r.getMessage()
    )
    server = next(r.getMessage() for r in caplog.records if "refused code=Q4001" in r.getMessage())
    server_id = re.search(r"request_id=(\S+)", server)
    assert server_id is not None and f"server_request={server_id.group(1)} " in line, line


def test_the_batch_defaults_to_tomorrow_and_shows_birth_dates(
    reception: Reception, tmp_path: Path
) -> None:
    page = reception.page
    page.get_by_role("button", name="予約の一括確認").click()
    tomorrow = japan_today() + dt.timedelta(days=1)
    expect(page.locator("#batch-date")).to_have_value(tomorrow.isoformat())
    csv = tmp_path / "appointments.csv"
    csv.write_text(
        "InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,Birthdate\n"
        "01130012,記号12,1001,,19800401\n"
        "  131011,,4001,,19750630\n"
        "01130012,,9999,00,20000101\n",
        encoding="cp932",
    )
    page.set_input_files("#batch-file", str(csv))
    page.get_by_role("button", name="一括確認する").click()
    result = page.locator("#batch-result")
    expect(result.locator("p.big")).to_have_text("3件中 正常2件・エラー1件", timeout=15_000)
    rows = result.locator("table tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("生年月日")
    expect(rows.nth(1)).to_contain_text("山田 太郎")
    expect(rows.nth(1)).to_contain_text("昭和55年4月1日 (1980-04-01)")
    expect(rows.nth(2)).to_contain_text("無効（新しい資格あり）")
    expect(rows.nth(3)).to_contain_text("Q4001")
    reception.shot("reception-batch")
    with page.expect_download() as download:
        result.get_by_role("button", name="CSVで保存").click()
    saved = download.value.path().read_bytes().decode("utf-8-sig")
    assert "山田 太郎" in saved and saved.count("\r\n") == 3


def test_batch_errors_name_the_row_and_field_in_japanese(
    reception: Reception, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = reception.page
    page.get_by_role("button", name="予約の一括確認").click()
    csv = tmp_path / "appointments.csv"
    csv.write_text(
        "InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,Birthdate\n"
        "01130012,記号12,1001,,19800401\n"
        "01130012,記号12,1001,,1980-04-01\n",
        encoding="utf-8",
    )
    page.set_input_files("#batch-file", str(csv))
    with caplog.at_level(logging.WARNING, logger="clinic_client.web"):
        page.get_by_role("button", name="一括確認する").click()
        result = page.locator("#batch-result")
        expect(result).to_contain_text("3行目の生年月日")
    expect(result).not_to_contain_text("String should match")
    expect(result).not_to_contain_text("^")
    reception.shot("reception-batch-error")
    assert "refused batch file: code=bad-input" in caplog.text
    assert "1980-04-01" not in caplog.text


def test_a_wide_batch_scrolls_inside_its_panel(reception: Reception) -> None:
    page = reception.page
    page.get_by_role("button", name="予約の一括確認").click()
    long_name = "寿限無寿限無五劫の擦り切れ海砂利水魚の水行末雲来末風来末" * 2
    unit = {
        "QualificationConfirmSearchInfo": {
            "InsurerNumber": "01130012",
            "InsuredCardSymbol": "記号12",
            "InsuredIdentificationNumber": "1001",
            "Birthdate": "19800401",
        },
        "ProcessingResultStatus": "1",
        "QualificationValidity": "1",
        "ResultOfQualificationConfirmation": [
            {
                "Name": long_name,
                "NameKana": "ジュゲム" * 10,
                "InsurerName": "全国健康保険協会東京支部" * 3,
                "InsuredPartialContributionRatio": "030",
            }
        ],
    }
    header = {
        "NumberOfProcessingResult": "1",
        "NumberOfNormalProcessing": "1",
        "NumberOfError": "0",
    }
    page.evaluate(
        "(b) => renderBatch(b, {'19800401': '昭和55年4月1日'})",
        {"MessageHeader": header, "BulkConfirmUnit": [unit]},
    )
    scroll = page.locator("#batch-result .table-scroll")
    expect(scroll).to_be_visible()
    widths = page.evaluate(
        "() => { const p = document.querySelector('#tab-batch');"
        " const s = document.querySelector('#batch-result .table-scroll');"
        " return [p.scrollWidth, p.clientWidth, s.scrollWidth, s.clientWidth]; }"
    )
    panel_scroll, panel_client, table_scroll, table_client = widths
    assert table_scroll > table_client  # the table is wider than its box: it scrolls …
    assert panel_scroll <= panel_client  # … inside the panel, which does not overflow
    reception.shot("reception-batch-overflow")


def test_readiness_and_health(reception: Reception) -> None:
    assert httpx.get(f"{reception.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{reception.url}/readyz")
    assert ready.status_code == 200, ready.text


@pytest.mark.parametrize("fault", ["wrong token", "no server"])
def test_not_ready_without_the_server_or_with_a_refused_token(
    world: World, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        url = server.url if fault == "wrong token" else f"http://127.0.0.1:{free_port()}"
        token = f"{world.clinic_token.split('.')[0]}.wrong" if fault == "wrong token" else "x.y"
        client = QualificationClient(url, token)
        with (
            ServerThread(create_clinic_app(client=client, clinic_code="1310000017")) as web,
            caplog.at_level(logging.WARNING, logger="clinic_client.web"),
        ):
            ready = httpx.get(f"{web.url}/readyz")
            healthy = httpx.get(f"{web.url}/healthz")
        client.close()
    assert ready.status_code == 503
    assert healthy.status_code == 200
    reason = "refused the token" if fault == "wrong token" else "unreachable"
    assert reason in ready.json()["reason"]
    assert "refused readiness" in caplog.text and "clinic=1310000017" in caplog.text
    assert "wrong" not in caplog.text  # the token's secret is never logged


def test_a_server_refusal_of_the_lookup_names_the_field(reception: Reception) -> None:
    page = reception.page
    page.get_by_role("button", name="保険証の番号で確認").click()
    form = page.locator("#number-form")
    for name, value in {**YAMADA, "InsurerNumber": "01130013"}.items():  # check digit wrong
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button", name="照会する").click()
    result = page.locator("#number-result")
    expect(result).to_contain_text("Q6001")
    expect(result).to_contain_text("保険者番号")
    reception.shot("reception-lookup-q6001")


def test_an_oversized_body_is_refused_unread(reception: Reception) -> None:
    body = b'{"InsurerNumber": "' + b"1" * (MAX_REQUEST_BYTES + 1) + b'"}'
    response = httpx.post(
        reception.url + "/api/lookup", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["failure"]["kind"] == "bad-input"


def test_security_headers(reception: Reception) -> None:
    headers = reception.page.request.get(reception.url + "/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_yesterdays_check_ins_are_dropped_at_the_next_day() -> None:
    today = [dt.date(2026, 12, 2)]
    book = CheckInBook(lambda: today[0])
    moment = dt.datetime(2026, 12, 2, 9, 30, tzinfo=JST).isoformat()
    assert book.add({"id": "a", "checked_at": moment}, dt.date(2026, 12, 2))
    assert [r["id"] for r in book.listing()] == ["a"]
    assert not book.add({"id": "b", "checked_at": moment}, dt.date(2026, 12, 1))
    today[0] = dt.date(2026, 12, 3)
    assert book.listing() == []


def test_an_answered_check_in_lands_in_the_connectors_face_folder(
    world: World, tmp_path: Path
) -> None:
    """The receipt computer's face/ folder gets each answered check, as `clinic serve` with
    ONSHI_CLINIC_CONNECTOR_DIR writes it; a failed one writes nothing."""
    world.register("yamada-taro")
    status, answer = world.check("yamada-taro")
    assert status == 200
    client = QualificationClient(f"http://127.0.0.1:{free_port()}", "1310000017.x")
    app = create_clinic_app(
        client=client,
        reception_key=RECEPTION_KEY,
        on_check=lambda answered: write_face_result(tmp_path, answered),
    )
    with ServerThread(app) as web:
        headers = {"Authorization": f"Bearer {RECEPTION_KEY}"}
        failed = check_in(failure={"kind": "wrong-pin", "message_ja": "暗証番号が違います。"})
        assert httpx.post(f"{web.url}/api/check-ins", json=failed, headers=headers).is_success
        assert not (tmp_path / "face").exists() or not list((tmp_path / "face").iterdir())
        answered = check_in(answer)
        assert httpx.post(f"{web.url}/api/check-ins", json=answered, headers=headers).is_success
    client.close()
    (face,) = (tmp_path / "face").glob("OQSsiquc01res_face_*.xml")
    assert "山田 太郎" in face.read_text(encoding="utf-8")


def test_card_expiry_specific_diseases_and_a_lost_qualification(
    reception: Reception, residents: dict[str, Resident]
) -> None:
    page = reception.page
    # 田中 一郎 lost his 国保 on 2025-03-31 (無効): the server's answer to his number
    tanaka = reception.world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": {"InsurerNumber": "  131011", "InsuredIdentificationNumber": "3001",
                        "Birthdate": residents["tanaka-ichiro"].birth_date.strftime("%Y%m%d")}},
        headers=reception.world.headers(),
    )  # fmt: skip
    assert tanaka.status_code == 200, tanaka.text
    lost = tanaka.json()
    reception.post(check_in(lost))
    answer = reception.answer("yamada-taro")
    # the seeded registry has no 特定疾病 or card expiry: the answer's elements as an insurer
    # with them sends them (docs/answer.md)
    (result,) = answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]
    result["InsuredCardExpirationDate"] = "20270331"
    result["SpecificDiseasesCertificateRelatedConsFlg"] = "1"
    result["SpecificDiseasesCertificateList"] = [
        {
            "SpecificDiseasesDiseaseCategory": "01",
            "SpecificDiseasesValidStartDate": "20190501",
            "SpecificDiseasesSelfPay": "10000",
        }
    ]
    reception.post(check_in(answer))
    items = page.locator("#checkins li")
    expect(items).to_have_count(2)
    items.nth(0).locator("button").click()
    detail = page.locator("#detail")
    expect(detail).to_contain_text("令和9年3月31日 (2027-03-31)")  # 保険証の有効期限
    expect(detail).to_contain_text("特定疾病")
    expect(detail).to_contain_text("区分01（自己負担限度額 月10,000円）")
    expect(detail).to_contain_text("令和元年5月1日 (2019-05-01)")
    reception.shot("reception-detail-diseases")
    items.nth(1).locator("button").click()
    expect(detail.locator(".badge")).to_have_text("無効（資格喪失）")
    expect(detail).to_contain_text("令和7年3月31日 (2025-03-31)")
    expect(items.nth(1).locator(".badge")).to_have_text("無効（資格喪失）")
    reception.shot("reception-detail-lost")


def test_the_english_toggle_rerenders_a_lookup_answer_and_a_batch(reception: Reception) -> None:
    page = reception.page
    page.get_by_role("button", name="保険証の番号で確認").click()
    form = page.locator("#number-form")
    for name, value in YAMADA.items():
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button", name="照会する").click()
    result = page.locator("#number-result")
    expect(result.locator(".badge")).to_have_text("有効")
    page.click("#lang")
    expect(result.locator(".badge")).to_have_text("Valid")
    expect(result).to_contain_text("1980-04-01 (昭和55年4月1日)")
    header = {
        "NumberOfProcessingResult": "0",
        "NumberOfNormalProcessing": "0",
        "NumberOfError": "0",
    }
    page.evaluate("(b) => renderBatch(b, {})", {"MessageHeader": header, "BulkConfirmUnit": []})
    page.click("#lang")
    expect(page.locator("#batch-result p.big")).to_have_text("0件中 正常0件・エラー0件")
    page.click("#lang")
    expect(page.locator("#batch-result p.big")).to_have_text("0 checked: 0 answered, 0 errors")
