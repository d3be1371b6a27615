"""The four-item match: which spellings of the same person match, which near misses do not,
and that an answer never carries a value."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from onshi_kernel.four_items import (
    REGISTER_FORMAT,
    FileResidentRegister,
    FourItemMatch,
    FourItems,
    InMemoryResidentRegister,
    Item,
    Outcome,
    ResidentRegisterError,
    parse_register,
    register_document,
)

REF = "a" * 64
OTHER_REF = "b" * 64
BIRTH = dt.date(1980, 4, 1)
ISSUED = FourItems(
    name="髙橋 太郎",
    birthdate=BIRTH,
    sex="1",
    address="東京都千代田区霞が関一丁目2番2号",
    name_kana="タカハシ タロウ",
)


def outcome_of(stored: FourItems, claimed: FourItems, item: Item) -> Outcome:
    return InMemoryResidentRegister({REF: stored}).match(REF, claimed).outcome(item)


# --- names: (rule, as issued, as the insurer wrote it) ------------------------------------

NAMES_THAT_MATCH = [
    ("the same", "山田 太郎", "山田 太郎"),
    ("ASCII space removed", "山田 太郎", "山田太郎"),
    ("ideographic space", "山田 太郎", "山田　太郎"),
    ("any number of spaces", "山田 太郎", " 山田　 　太郎  "),
    ("full-width letters (NFKC)", "ＳＭＩＴＨ ＪＯＨＮ", "SMITH JOHN"),
    ("variation selector (IVS)", "葛\U000e0100西 花子", "葛西 花子"),
    ("variation selector (SVS)", "辻\ufe00 花子", "辻 花子"),
    ("joyokanji: 髙→高", "髙橋 太郎", "高橋 太郎"),
    ("joyokanji: 﨑→崎", "山﨑 花子", "山崎 花子"),
    ("joyokanji: 邊→辺", "渡邊 健", "渡辺 健"),
    ("joyokanji: 𠮷→吉", "𠮷田 一郎", "吉田 一郎"),
    ("joyokanji: 澤→沢", "澤田 舞", "沢田 舞"),
    ("joyokanji: 齋→斎", "齋藤 結衣", "斎藤 結衣"),
    ("joyokanji: 廣→広", "廣瀬 健", "広瀬 健"),
    ("joyokanji: 國→国", "國分 健", "国分 健"),
    ("supplement: 邉→辺", "渡邉 健", "渡辺 健"),
    ("supplement: 邉 = 邊", "渡邉 健", "渡邊 健"),
    ("supplement: 濵→浜", "長濵 舞", "長浜 舞"),
    ("joyokanji: 濱→浜", "長濱 舞", "長浜 舞"),
    ("supplement: 嶋→島", "中嶋 健", "中島 健"),
    ("supplement: 嶌→島", "大嶌 健", "大島 健"),
    ("supplement: 嵜→崎", "宮嵜 舞", "宮崎 舞"),
    ("supplement: 槇→槙", "槇原 健", "槙原 健"),
    ("supplement: 冨→富", "冨田 舞", "富田 舞"),
    ("supplement: 逹→達", "伊逹 健", "伊達 健"),
    ("two variants at once", "髙﨑 太郎", "高崎　太郎"),
]

NAMES_THAT_DO_NOT_MATCH = [
    ("斉藤 and 斎藤 are different surnames", "斎藤 結衣", "斉藤 結衣"),
    ("齋藤 (斎) is not 斉藤", "齋藤 結衣", "斉藤 結衣"),
    ("崎 and 埼 are different kanji", "山崎 花子", "山埼 花子"),
    ("another given name", "山田 太郎", "山田 次郎"),
    ("another surname", "山田 太郎", "山川 太郎"),
    ("a missing character", "山田 太郎", "山田 太"),
    ("an extra character", "山田 太郎", "山田 太郎丸"),
    ("surname and given name swapped", "山田 太郎", "太郎 山田"),
    ("the reading is not the name", "山田 太郎", "ヤマダ タロウ"),
    ("鳥 is not a variant of 島 (嶌)", "大嶌 健", "大鳥 健"),
    ("the supplement folds only the listed forms: 辺 is not 边", "渡辺 健", "渡边 健"),
]


@pytest.mark.parametrize(("rule", "issued", "claimed"), NAMES_THAT_MATCH)
def test_names_that_match(rule: str, issued: str, claimed: str) -> None:
    stored = replace(ISSUED, name=issued, name_kana=None)
    assert outcome_of(stored, replace(stored, name=claimed), Item.NAME) is Outcome.MATCH, rule


@pytest.mark.parametrize(("rule", "issued", "claimed"), NAMES_THAT_DO_NOT_MATCH)
def test_names_that_do_not_match(rule: str, issued: str, claimed: str) -> None:
    stored = replace(ISSUED, name=issued, name_kana=None)
    assert outcome_of(stored, replace(stored, name=claimed), Item.NAME) is Outcome.MISMATCH, rule


KANA_THAT_MATCH = [
    ("the same", "ヤマダ キョウコ", "ヤマダ キョウコ"),
    ("hiragana", "ヤマダ キョウコ", "やまだ きょうこ"),
    ("half-width kana (NFKC)", "ヤマダ キョウコ", "ﾔﾏﾀﾞ ｷｮｳｺ"),
    ("no space / ideographic space", "ヤマダ キョウコ", "ヤマダ　キョウコ"),
    ("no space at all", "ヤマダ キョウコ", "ヤマダキョウコ"),
    ("small kana written large", "ヤマダ キョウコ", "ヤマダ キヨウコ"),
    ("small kana written large, half width", "ヤマダ キョウコ", "ﾔﾏﾀﾞ ｷﾖｳｺ"),
    ("small ッ written large", "ハットリ ケン", "ハツトリ ケン"),
    ("long vowel as a hyphen", "ルーカス ジョー", "ル-カス ジョ-"),
    ("long vowel as a half-width ｰ", "ルーカス ジョー", "ﾙｰｶｽ ｼﾞｮｰ"),
    ("long vowel as a dash", "ルーカス ジョー", "ル—カス ジョ―"),
]

KANA_THAT_DO_NOT_MATCH = [
    ("another reading of the same kanji", "ヤマダ キョウコ", "ヤマダ ケイコ"),
    ("a missing kana", "ヤマダ キョウコ", "ヤマダ キョコ"),
    ("voiced and unvoiced differ", "ヤマダ キョウコ", "ヤマタ キョウコ"),
    ("a long vowel is not a kana", "ルーカス ジョー", "ルウカス ジョウ"),
]


@pytest.mark.parametrize(("rule", "issued", "claimed"), KANA_THAT_MATCH)
def test_readings_that_match(rule: str, issued: str, claimed: str) -> None:
    stored = replace(ISSUED, name_kana=issued)
    claim = replace(ISSUED, name_kana=claimed)
    assert outcome_of(stored, claim, Item.NAME) is Outcome.MATCH, rule


@pytest.mark.parametrize(("rule", "issued", "claimed"), KANA_THAT_DO_NOT_MATCH)
def test_readings_that_do_not_match(rule: str, issued: str, claimed: str) -> None:
    stored = replace(ISSUED, name_kana=issued)
    claim = replace(ISSUED, name_kana=claimed)
    assert outcome_of(stored, claim, Item.NAME) is Outcome.MISMATCH, rule


def test_a_reading_is_compared_only_when_both_sides_have_one() -> None:
    without = replace(ISSUED, name_kana=None)
    assert outcome_of(ISSUED, without, Item.NAME) is Outcome.MATCH
    assert outcome_of(without, replace(ISSUED, name_kana="ベツ"), Item.NAME) is Outcome.MATCH
    # A right reading does not rescue a wrong kanji name.
    wrong = replace(ISSUED, name="高橋 次郎")
    assert outcome_of(ISSUED, wrong, Item.NAME) is Outcome.MISMATCH


# --- addresses ---------------------------------------------------------------------------

KASUMIGASEKI = "東京都千代田区霞が関一丁目2番2号"

ADDRESSES_THAT_MATCH = [
    ("the same", KASUMIGASEKI, KASUMIGASEKI),
    ("丁目 and Arabic numerals, 番-号 as dashes", KASUMIGASEKI, "東京都千代田区霞が関1丁目2-2"),
    ("full-width digits and dashes", KASUMIGASEKI, "東京都千代田区霞が関１－２－２"),
    ("dashes, no 号", KASUMIGASEKI, "東京都千代田区霞が関1-2-2"),
    ("dashes with 号", KASUMIGASEKI, "東京都千代田区霞が関1-2-2号"),
    ("1丁目2番2号 in Arabic numerals", KASUMIGASEKI, "東京都千代田区霞が関1丁目2番2号"),
    ("minus sign as dash", KASUMIGASEKI, "東京都千代田区霞が関1−2−2"),
    ("long-vowel mark as dash", KASUMIGASEKI, "東京都千代田区霞が関1ー2ー2"),
    ("half-width ｰ as dash", KASUMIGASEKI, "東京都千代田区霞が関1ｰ2ｰ2"),
    ("en dash and em dash", KASUMIGASEKI, "東京都千代田区霞が関1–2—2"),
    ("の between numbers", KASUMIGASEKI, "東京都千代田区霞が関1の2の2"),
    ("ノ between numbers", KASUMIGASEKI, "東京都千代田区霞が関1ノ2ノ2"),
    ("spaces of any kind", KASUMIGASEKI, "東京都 千代田区　霞が関 1-2-2"),
    ("half-width kana in the place name", "東京都千代田区霞ケ関1-2-2", "東京都千代田区霞ｹ関1-2-2"),
    ("ヶ for が", KASUMIGASEKI, "東京都千代田区霞ヶ関1-2-2"),
    ("ケ for が", KASUMIGASEKI, "東京都千代田区霞ケ関1-2-2"),
    ("ヵ for ケ", "神奈川県茅ヶ崎市1-2", "神奈川県茅ヵ崎市1-2"),
    ("prefecture omitted by the insurer", KASUMIGASEKI, "千代田区霞が関1-2-2"),
    ("prefecture omitted by the register", "千代田区霞が関1-2-2", KASUMIGASEKI),
    (
        "a building and room on the insurer's side only",
        KASUMIGASEKI,
        "千代田区霞が関1-2-2 中央合同庁舎5号館 101号室",
    ),
    (
        "a building on the register's side only",
        "大阪府大阪市北区梅田3-1-1梅田ビル",
        "大阪府大阪市北区梅田三丁目1番1号",
    ),
    ("番地の", "群馬県吾妻郡草津町大字草津123番地の4", "群馬県吾妻郡草津町草津123-4"),
    ("番地 at the end", "長野県下高井郡山ノ内町大字平穏1234番地", "長野県下高井郡山ノ内町平穏1234"),
    ("大字 dropped", "長野県下高井郡山ノ内町大字平穏1234", "長野県下高井郡山ノ内町平穏1234"),
    (
        "kanji numerals above ten",
        "北海道札幌市中央区北一条西二十三丁目",
        "北海道札幌市中央区北1条西23丁目",
    ),
    ("丁目 alone at the end", "北海道札幌市中央区北一条西二丁目", "北海道札幌市中央区北1条西2"),
    ("〇 in a number", "東京都港区芝公園四丁目二番八号", "東京都港区芝公園4-2-8"),
    ("kanji numerals for every number", KASUMIGASEKI, "東京都千代田区霞が関一丁目二番二号"),
    (
        "numbers spelt 百",
        "京都府京都市東山区清水一丁目二百九十四番地",
        "京都府京都市東山区清水1-294",
    ),
    (
        "三の丸 (の not between numbers)",
        "愛知県名古屋市中区三の丸三丁目1番1号",
        "愛知県名古屋市中区三の丸3-1-1",
    ),
    (
        "a room number written with 号室 and a building",
        "東京都府中市宮町1-2-2",
        "東京都府中市宮町一丁目2番2号　府中ハイツ203号室",
    ),
    ("old kanji in a place name", "神奈川県横浜市港北区大倉山1-2", "神奈川県横濱市港北区大倉山1-2"),
]

ADDRESSES_THAT_DO_NOT_MATCH = [
    (
        "a number cut short is not a building (北1 vs 北1条西2)",
        "北海道札幌市中央区北一条西二丁目",
        "北海道札幌市中央区北1",
    ),
    ("a unit after the number is not a building (3 vs 3番町5)", "千代田区3番町5", "千代田区3"),
    ("nor is a 丁 after the number", "京都府京都市中京区1丁", "京都府京都市中京区1"),
    ("another house number (2 vs 20)", "千代田区霞が関1-2-2", "千代田区霞が関1-2-20"),
    ("a house number missing", "千代田区霞が関1-2-2", "千代田区霞が関1-2"),
    ("another house number (20 vs 2)", "千代田区霞が関1-2-20", "千代田区霞が関1-2-2"),
    ("another 番", "千代田区霞が関1-2-2", "千代田区霞が関1-3-2"),
    ("another 丁目", KASUMIGASEKI, "東京都千代田区霞が関二丁目2番2号"),
    ("another 丁目 in Arabic", KASUMIGASEKI, "東京都千代田区霞が関2-2-2"),
    ("another town", "東京都府中市宮町1-2-2", "東京都府中市寿町1-2-2"),
    ("東京都府中市 is not 広島県府中市", "東京都府中市宮町1-2-2", "広島県府中市宮町1-2-2"),
    ("another prefecture", KASUMIGASEKI, "大阪府千代田区霞が関1-2-2"),
    ("a town alone is not the town with a number", "東京都府中市宮町1-2-2", "東京都府中市宮町"),
    (
        "a room number as a fourth number is not ignored",
        "千代田区霞が関1-2-2",
        "千代田区霞が関1-2-2-101",
    ),
    (
        "numbers joined by a space are not one number",
        "千代田区霞が関1-2-2101",
        "千代田区霞が関1-2-2 101",
    ),
    ("another ward", "東京都千代田区霞が関1-2-2", "東京都中央区霞が関1-2-2"),
    ("another city, prefecture omitted", "東京都府中市宮町1-2-2", "府中町宮町1-2-2"),
    (
        "an address with no number is compared whole",
        "北海道夕張郡栗山町大字角田",
        "北海道夕張郡栗山町角",
    ),
]


@pytest.mark.parametrize(("rule", "issued", "claimed"), ADDRESSES_THAT_MATCH)
def test_addresses_that_match(rule: str, issued: str, claimed: str) -> None:
    stored = replace(ISSUED, address=issued)
    claim = replace(ISSUED, address=claimed)
    assert outcome_of(stored, claim, Item.ADDRESS) is Outcome.MATCH, rule


@pytest.mark.parametrize(("rule", "issued", "claimed"), ADDRESSES_THAT_DO_NOT_MATCH)
def test_addresses_that_do_not_match(rule: str, issued: str, claimed: str) -> None:
    stored = replace(ISSUED, address=issued)
    claim = replace(ISSUED, address=claimed)
    assert outcome_of(stored, claim, Item.ADDRESS) is Outcome.MISMATCH, rule


# --- the answer --------------------------------------------------------------------------


def test_every_item_matches() -> None:
    result = InMemoryResidentRegister({REF: ISSUED}).match(REF, ISSUED)
    assert result.person_known
    assert result.matched
    assert result.differing == ()
    assert [item for item, _ in result.outcomes] == list(Item)
    assert all(outcome is Outcome.MATCH for _, outcome in result.outcomes)


def test_no_address_given_leaves_name_birthdate_and_sex_to_decide() -> None:
    result = InMemoryResidentRegister({REF: ISSUED}).match(REF, replace(ISSUED, address=None))
    assert result.outcome(Item.ADDRESS) is Outcome.NOT_GIVEN
    assert result.matched
    assert result.differing == ()


def test_a_wrong_address_holds_the_match() -> None:
    claim = replace(ISSUED, address="東京都千代田区霞が関二丁目2番2号")
    result = InMemoryResidentRegister({REF: ISSUED}).match(REF, claim)
    assert not result.matched
    assert result.differing == (Item.ADDRESS,)


@pytest.mark.parametrize(
    ("claim", "differs"),
    [
        (replace(ISSUED, birthdate=dt.date(1980, 4, 2)), Item.BIRTHDATE),
        (replace(ISSUED, birthdate=dt.date(1981, 4, 1)), Item.BIRTHDATE),
        (replace(ISSUED, sex="2"), Item.SEX),
        (replace(ISSUED, sex="3"), Item.SEX),
        (replace(ISSUED, name="高橋 次郎"), Item.NAME),
        (replace(ISSUED, name_kana="タカハシ ジロウ"), Item.NAME),
    ],
)
def test_one_item_differing_is_named(claim: FourItems, differs: Item) -> None:
    result = InMemoryResidentRegister({REF: ISSUED}).match(REF, claim)
    assert not result.matched
    assert result.differing == (differs,)
    assert result.outcome(differs) is Outcome.MISMATCH


def test_several_items_differing() -> None:
    claim = FourItems(
        name="佐藤 花子", birthdate=dt.date(1990, 1, 1), sex="2", address="沖縄県那覇市1"
    )
    result = InMemoryResidentRegister({REF: ISSUED}).match(REF, claim)
    assert result.differing == tuple(Item)


def test_a_register_without_an_address_does_not_compare_one() -> None:
    stored = replace(ISSUED, address=None)
    result = InMemoryResidentRegister({REF: stored}).match(REF, ISSUED)
    assert result.outcome(Item.ADDRESS) is Outcome.NOT_GIVEN
    assert result.matched


def test_matching_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    register = InMemoryResidentRegister({REF: ISSUED})
    with caplog.at_level(logging.DEBUG):
        register.match(REF, replace(ISSUED, name="高橋 次郎"))
        register.match_many([(OTHER_REF, ISSUED), (REF, ISSUED)])
    assert caplog.records == []


def test_a_person_the_issuer_never_knew() -> None:
    result = InMemoryResidentRegister({REF: ISSUED}).match(OTHER_REF, ISSUED)
    assert not result.person_known
    assert not result.matched
    assert result.outcomes == ()
    assert result.differing == tuple(Item)
    assert result.outcome(Item.NAME) is Outcome.MISMATCH


def test_matched_needs_name_birthdate_and_sex_compared() -> None:
    only_address = FourItemMatch(
        person_known=True,
        outcomes=(
            (Item.NAME, Outcome.NOT_GIVEN),
            (Item.BIRTHDATE, Outcome.MATCH),
            (Item.SEX, Outcome.MATCH),
            (Item.ADDRESS, Outcome.MATCH),
        ),
    )
    assert not only_address.matched


def test_item_names_are_the_answers_elements() -> None:
    assert [str(item) for item in Item] == ["Name", "Birthdate", "Sex1", "Address"]
    assert [str(o) for o in Outcome] == ["match", "mismatch", "not_given"]


def test_no_value_is_shown_by_items_or_answers() -> None:
    secret_bits = ["髙橋", "太郎", "タカハシ", "霞が関", "1980", "千代田"]
    result = InMemoryResidentRegister({REF: ISSUED}).match(REF, replace(ISSUED, sex="2"))
    for shown in (repr(ISSUED), str(ISSUED), repr(result), str(result), repr(result.outcomes)):
        for bit in secret_bits:
            assert bit not in shown
    assert repr(ISSUED) == "FourItems()"
    # The answer holds only items and outcomes.
    for item, outcome in result.outcomes:
        assert isinstance(item, Item)
        assert isinstance(outcome, Outcome)


def test_match_many_is_map_of_match() -> None:
    register = InMemoryResidentRegister(
        {REF: ISSUED, OTHER_REF: replace(ISSUED, name="鈴木 花子", sex="2", name_kana=None)}
    )
    claims = [
        (REF, ISSUED),
        (REF, replace(ISSUED, address=None)),
        (REF, replace(ISSUED, name="高橋　太郎", address="千代田区霞ヶ関1-2-2")),
        (OTHER_REF, replace(ISSUED, name="鈴木 花子")),
        (OTHER_REF, replace(ISSUED, name="鈴木 花子", sex="2")),
        ("c" * 64, ISSUED),
        (REF, replace(ISSUED, birthdate=dt.date(2000, 1, 1))),
    ]
    assert register.match_many(claims) == [register.match(ref, claim) for ref, claim in claims]
    assert register.match_many([]) == []


def test_the_registers_keys_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from onshi_kernel.four_items import normalise, register

    built = InMemoryResidentRegister({REF: ISSUED})
    calls: list[str] = []

    def counting(value: str) -> str:
        calls.append(value)
        return normalise.name_key(value)

    monkeypatch.setattr(register, "name_key", counting)
    built.match_many([(REF, ISSUED)] * 3)
    assert len(calls) == 3  # the claims' names only, never the stored one again


# --- the file ----------------------------------------------------------------------------


def entries() -> dict[str, FourItems]:
    return {REF: ISSUED, OTHER_REF: replace(ISSUED, name="鈴木 花子", address=None)}


def write(path: Path, doc: object) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def test_the_document_round_trips() -> None:
    doc = register_document(entries())
    assert doc["format"] == REGISTER_FORMAT
    assert parse_register(json.dumps(doc)) == entries()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        ("[]", "not a resident register"),
        ('{"format": "onshi-issuer-directory/1", "certificates": []}', "not a resident register"),
        (json.dumps({"format": REGISTER_FORMAT}), "'residents' list"),
        (json.dumps({"format": REGISTER_FORMAT, "residents": [{"person_ref": "x"}]}), "resident 0"),
        (
            json.dumps(
                {
                    "format": REGISTER_FORMAT,
                    "residents": [
                        {
                            "person_ref": "x",
                            "name": "山田 太郎",
                            "birthdate": "1980-13-01",
                            "sex": "1",
                        }
                    ],
                }
            ),
            "resident 0 is malformed",
        ),
    ],
)
def test_a_file_that_is_not_a_register(text: str, says: str) -> None:
    with pytest.raises(ResidentRegisterError, match=says) as raised:
        parse_register(text)
    assert "山田" not in str(raised.value)


def test_a_repeated_person_is_refused() -> None:
    doc = register_document(entries())
    residents = doc["residents"]
    assert isinstance(residents, list)
    doc["residents"] = [*residents, residents[0]]
    with pytest.raises(ResidentRegisterError, match="repeats"):
        parse_register(json.dumps(doc))


def test_a_missing_file_is_an_empty_register(tmp_path: Path) -> None:
    register = FileResidentRegister([tmp_path / "register.json"], check_interval_s=0)
    assert len(register) == 0
    assert not register.match(REF, ISSUED).person_known


def test_a_bad_file_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "register.json"
    write(path, {"format": "something-else"})
    with pytest.raises(ResidentRegisterError, match=r"register\.json.*not a resident register"):
        FileResidentRegister([path])


def test_the_file_is_reloaded_when_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "register.json"
    write(path, register_document({REF: ISSUED}))
    register = FileResidentRegister([path], check_interval_s=0)
    assert register.match(REF, ISSUED).matched
    assert not register.match(OTHER_REF, ISSUED).person_known

    write(path, register_document(entries()))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert register.match(OTHER_REF, replace(ISSUED, name="鈴木 花子")).matched

    # A broken file later keeps the previous register and says so (without a value).
    path.write_text("{", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert register.match(OTHER_REF, replace(ISSUED, name="鈴木 花子")).matched
    assert "keeping the previous resident register" in caplog.text

    path.unlink()
    assert not register.match(REF, ISSUED).person_known


def test_the_file_is_not_reread_within_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "register.json"
    write(path, register_document({REF: ISSUED}))
    register = FileResidentRegister([path], check_interval_s=3600)
    path.unlink()
    assert register.match(REF, ISSUED).person_known


def test_several_files_add_up(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write(first, register_document({REF: ISSUED}))
    write(second, register_document({OTHER_REF: ISSUED}))
    register = FileResidentRegister([first, second, tmp_path / "absent.json"])
    assert len(register) == 2
    claims = [(REF, ISSUED), (OTHER_REF, ISSUED)]
    assert [m.matched for m in register.match_many(claims)] == [True, True]


def test_the_reading_table_is_jaconvs_conversion_applied_in_one_pass() -> None:
    # kana_key applies jaconv's hiragana → katakana through one str.translate table (speed);
    # it must say what jaconv itself says, for every character of the Hiragana block.
    import jaconv

    from onshi_kernel.four_items.normalise import kana_key

    for code in range(0x3041, 0x30A0):
        char = chr(code)
        assert kana_key(char) == kana_key(jaconv.hira2kata(char)), hex(code)
    assert kana_key("やまだ　きょうこ") == kana_key("ヤマダ キヨウコ") == "ヤマダキヨウコ"
