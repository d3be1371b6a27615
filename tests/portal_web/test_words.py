"""The portal's words: dates and times in 和暦 with 西暦, in Japan time whatever the host's
zone; the linkages of the My Number, by item and by its last 4 digits only."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from clinic_client.portal_web.words import japan_time_text, linkage_rows, my_number_words, wareki
from qualification_server.contract.schemas import AccessHistory, PortalLinkage


def test_era_boundaries_and_the_first_year() -> None:
    assert wareki(dt.date(2019, 4, 30)) == "平成31年4月30日"
    assert wareki(dt.date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki(dt.date(2026, 12, 2)) == "令和8年12月2日"


def test_a_time_is_told_in_japan_time() -> None:
    late_utc = dt.datetime(2026, 12, 31, 15, 5, tzinfo=dt.UTC)  # already 2027 in Japan
    assert japan_time_text(late_utc) == "令和9年1月1日（2027年1月1日） 0時05分"


def _linkage(event: str, state: str, **extra: object) -> PortalLinkage:
    fields: dict[str, object] = {
        "At": dt.datetime(2026, 12, 2, 3, 4, tzinfo=dt.UTC),
        "InsurerNumber": "131011",
        "InsurerName": "千代田区国民健康保険",
        "Event": event,
        "State": state,
        "PersonKnownToIssuer": True,
        "Outcomes": {"Name": "match", "Birthdate": "match", "Sex1": "match"},
        "MyNumberLast4": "0354",
        **extra,
    }
    return PortalLinkage.model_validate(fields)


def _rows(*linkages: PortalLinkage) -> list[dict[str, object]]:
    return linkage_rows(AccessHistory(entries=[], Linkages=list(linkages)))


def test_a_matched_linkage_in_words() -> None:
    (row,) = _rows(_linkage("linked", "matched"))
    assert row["when"] == "令和8年12月2日（2026年12月2日） 12時04分"
    assert row["insurer"] == "千代田区国民健康保険（保険者番号 131011）"
    assert row["what"] == "登録されました。登録内容が住民票の情報と一致しました。"
    assert (row["differing"], row["held"], row["advice"]) == (None, False, None)
    assert row["my_number"] == "マイナンバー下4桁 ****0354"


def test_a_hold_names_the_items_and_what_to_do() -> None:
    outcomes = {"Name": "mismatch", "Birthdate": "match", "Sex1": "match", "Address": "mismatch"}
    (row,) = _rows(_linkage("linked", "held", Outcomes=outcomes))
    assert row["what"] == "登録されました。一致しなかったため保留中です（保険者が確認中）。"
    assert row["differing"] == "氏名・住所"
    assert row["held"] is True
    advice = str(row["advice"])
    assert "千代田区国民健康保険にお問い合わせください" in advice and "資格確認書" in advice


def test_a_person_the_issuer_does_not_know_is_said_so() -> None:
    (row,) = _rows(_linkage("linked", "held", PersonKnownToIssuer=False, Outcomes={}))
    assert (
        row["what"]
        == "登録されました。住民票の情報と照合できなかったため保留中です（保険者が確認中）。"
    )
    assert row["differing"] == "照合できませんでした（住民票の情報にありません）"


def test_a_released_hold_newest_first_and_the_old_hold_in_the_past() -> None:
    held = _linkage("linked", "held", Outcomes={"Name": "mismatch"})
    rows = _rows(
        held, _linkage("confirmed", "held"), _linkage("confirmed", "held"),
        _linkage("released", "confirmed"),
    )  # fmt: skip
    assert [r["what"] for r in rows] == [
        "保険者の担当者2名が確認し保留を解除しました。",
        "保険者の担当者1名が確認しました（2名の確認で保留が解除されます）。",
        "保険者の担当者1名が確認しました（2名の確認で保留が解除されます）。",
        "登録されました。一致しなかったため保留されました（その後の記録をご覧ください）。",
    ]
    assert not any(r["held"] for r in rows) and rows[-1]["differing"] == "氏名"


def test_a_correction_to_another_person_and_a_rematch() -> None:
    unlinked = _linkage("unlinked", "held", MyNumberLast4=None)
    rematched = _linkage("rematched", "matched", InsurerNumber="01130012", InsurerName="協会")
    first, second = _rows(rematched, unlinked)
    assert first["what"] == "別の方の番号として訂正され、あなたとの紐付けが解除されました。"
    assert (first["my_number"], first["held"], first["differing"]) == (None, False, None)
    assert second["what"] == "登録内容が訂正されました。登録内容が住民票の情報と一致しました。"


def test_the_my_number_only_by_its_last_4_digits() -> None:
    assert my_number_words("1234") == "マイナンバー下4桁 ****1234"
    assert my_number_words(None) == "マイナンバー下4桁 記録なし"
    with pytest.raises(ValidationError):
        _linkage("linked", "matched", MyNumberLast4="711066580354")
