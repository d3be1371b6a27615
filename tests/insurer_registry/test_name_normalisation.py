"""Names and readings in the form real answers carry them (docs/answer.md): `Name` with one
full-width space between its parts (`山田　太郎`), `NameKana` in half-width katakana
(`ﾔﾏﾀﾞ ﾀﾛｳ`). The registry takes either width, either space and hiragana, and stores the one
form, once, where values come in: the member API and the CSV import."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import jaconv
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import transaction
from insurer_registry.importer.service import ImportRejected, ImportReport, import_csv
from insurer_registry.members.audit import Actor
from insurer_registry.members.names import (
    KANA_INPUT_CLASS,
    KANA_INPUT_RULE,
    NO_HALF_WIDTH_RULE,
    NotKana,
    kana_key,
    name_kana,
    person_name,
)
from insurer_registry.models import ChangeLogEntry, Qualification
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from tests.support.registry import (
    INSURER_A,
    RegisteredInsurer,
    TestResidents,
    Writer,
    member_body,
    my_number,
)

# --- the rules, as vectors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("山田　太郎", "山田　太郎"),
        ("山田 太郎", "山田　太郎"),  # an ASCII space
        ("山田  太郎", "山田　太郎"),  # two
        ("山田　 　太郎", "山田　太郎"),  # a run of both
        (" 山田 太郎　", "山田　太郎"),  # none at either end
        ("山田太郎", "山田太郎"),  # no space is added
        ("SMITH JOHN PAUL", "SMITH　JOHN　PAUL"),
        ("髙橋　﨑子", "髙橋　﨑子"),  # the characters themselves are never touched
    ],
)
def test_a_name_is_joined_by_one_full_width_space(given: str, stored: str) -> None:
    assert person_name(given) == stored


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("ヤマダ タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # the full-width space becomes one ASCII space
        ("やまだ　たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # hiragana
        ("ﾔﾏﾀﾞ　ﾀﾛｳ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("ヤマダ 　 タロウ ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("やマﾀﾞ たロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # mixed
        ("サトー", "ｻﾄｰ"),
        ("ヴァン・ゴッホ", "ｳﾞｧﾝ･ｺﾞｯﾎ"),
        ("ゔぃくとりあ", "ｳﾞｨｸﾄﾘｱ"),
        ("パピプペポ", "ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ"),
        ("ヲ", "ｦ"),
    ],
)
def test_a_reading_is_half_width_katakana_with_one_space(given: str, stored: str) -> None:
    assert name_kana(given) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("YAMADA", f"{KANA_INPUT_RULE} only"),
        ("山田", f"{KANA_INPUT_RULE} only"),
        ("ヤマダ－タロウ", f"{KANA_INPUT_RULE} only"),  # a full-width hyphen, not ー
        ("カ\u3099", f"{KANA_INPUT_RULE} only"),  # a dakuten as a combining mark
        ("ヰノウエ", NO_HALF_WIDTH_RULE),
        ("ゐのうえ", NO_HALF_WIDTH_RULE),
        ("ヶ", NO_HALF_WIDTH_RULE),
        ("ササヽ", NO_HALF_WIDTH_RULE),
    ],
)
def test_a_reading_without_a_half_width_form_is_refused_by_its_rule(
    given: str, reason: str
) -> None:
    with pytest.raises(NotKana) as refused:
        name_kana(given)
    assert str(refused.value) == reason


def test_the_published_kana_class_is_exactly_what_a_reading_may_hold() -> None:
    """Each character of the Basic Multilingual Plane between two kana: taken iff the class
    the API document publishes (`KANA_INPUT_CLASS`) has it."""
    published = re.compile(f"[{KANA_INPUT_CLASS}]")
    differ = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        character = chr(code)
        try:
            name_kana(f"ア{character}ア")
            taken = True
        except NotKana:
            taken = False
        if taken != (published.fullmatch(character) is not None):
            differ.append(f"U+{code:04X}")
    assert differ == []


KANA_BLOCKS = st.one_of(
    st.characters(min_codepoint=0x3041, max_codepoint=0x30FF),  # hiragana, katakana
    st.characters(min_codepoint=0xFF65, max_codepoint=0xFF9F),  # half-width katakana
)


@given(st.text(alphabet=KANA_BLOCKS, min_size=1))
@settings(max_examples=300)
def test_a_reading_converts_as_jaconv_converts_it(reading: str) -> None:
    """The one translation table gives what jaconv's two conversions give on a whole text."""
    expected = jaconv.z2h(jaconv.hira2kata(reading), kana=True, ascii=False, digit=False)
    try:
        assert name_kana(reading) == expected
    except NotKana:
        assert re.fullmatch("[\uff65-\uff9f]+", expected) is None


@pytest.mark.parametrize(
    ("one", "other"),
    [("ヤマダ タロウ", "ﾔﾏﾀﾞﾀﾛｳ"), ("やまだたろう", "ﾔﾏﾀﾞ ﾀﾛｳ"), ("ヰノウエ", "ヰノ ウエ")],
)
def test_search_compares_readings_whatever_their_width_kind_and_spaces(
    one: str, other: str
) -> None:
    assert kana_key(one) == kana_key(other)


# --- at the member API --------------------------------------------------------------------


def register(writer: Writer, insurer: RegisteredInsurer, n: int = 1, **overrides: Any) -> Any:
    response = writer.post("/v1/members", insurer, member_body(n, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.db
def test_the_api_stores_and_answers_names_and_readings_in_the_answers_form(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer, sessions: Any
) -> None:
    member = register(
        writer, insurer_a,
        Name="山田 太郎", NameKana="やまだ　たろう", InsuredName=" 山田  一郎",
        NameOfOther="ヤマダ ハナ", NameOfOtherKana="ヤマダ　ハナ",
    )  # fmt: skip
    expected = {
        "Name": "山田　太郎",
        "NameKana": "ﾔﾏﾀﾞ ﾀﾛｳ",
        "InsuredName": "山田　一郎",
        "NameOfOther": "ヤマダ　ハナ",
        "NameOfOtherKana": "ﾔﾏﾀﾞ ﾊﾅ",
    }
    assert {key: member[key] for key in expected} == expected
    with sessions() as session:
        row = session.get(Qualification, member["QualificationId"])
        assert row is not None
        assert (row.name, row.name_kana, row.insured_name) == (
            "山田　太郎",
            "ﾔﾏﾀﾞ ﾀﾛｳ",
            "山田　一郎",
        )
        assert (row.name_of_other, row.name_of_other_kana) == ("ヤマダ　ハナ", "ﾔﾏﾀﾞ ﾊﾅ")


@pytest.mark.db
def test_a_correction_is_normalised_too(writer: Writer, insurer_a: RegisteredInsurer) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}"
    corrected = writer.patch(path, insurer_a, {"Name": "鈴木 花子", "NameKana": "すずき はなこ"})
    assert corrected.status_code == 200, corrected.text
    assert (corrected.json()["Name"], corrected.json()["NameKana"]) == ("鈴木　花子", "ｽｽﾞｷ ﾊﾅｺ")


@pytest.mark.db
def test_a_restated_name_in_another_width_is_no_change(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a, NameKana="ヤマダ　タロウ")
    path = f"/v1/members/{member['QualificationId']}"
    same = writer.patch(path, insurer_a, {"NameKana": "ﾔﾏﾀﾞ ﾀﾛｳ", "Name": "山田 太郎"})
    assert same.status_code == 200, same.text
    assert same.json()["Version"] == member["Version"]  # nothing changed, nothing logged
    history = client.get(f"{path}/history", headers=insurer_a.headers).json()
    assert [change["Action"] for change in history["Changes"]] == ["register"]


@pytest.mark.db
@pytest.mark.parametrize(
    ("element", "reason"),
    [
        ("NameKana", NO_HALF_WIDTH_RULE),
        ("NameOfOtherKana", NO_HALF_WIDTH_RULE),
    ],
)
def test_the_api_refuses_a_reading_without_a_half_width_form_naming_the_rule(
    writer: Writer, insurer_a: RegisteredInsurer, element: str, reason: str
) -> None:
    response = writer.post("/v1/members", insurer_a, member_body(1, **{element: "ヰノウエ"}))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["problems"] == [{"field": element, "reason": reason}]
    assert "ノウエ" not in response.text  # the value is never echoed


@pytest.mark.db
def test_a_search_by_reading_finds_it_in_any_width(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    register(writer, insurer_a, NameKana="スズキ　ハナコ")
    for asked in ("ｽｽﾞｷ ﾊﾅｺ", "すずきはなこ", "スズキハナコ"):
        found = client.post(
            "/v1/members/search", json={"NameKana": asked}, headers=insurer_a.headers
        )
        assert found.status_code == 200, found.text
        assert len(found.json()["Members"]) == 1, asked


# --- at the CSV import --------------------------------------------------------------------

COLUMNS = [
    "InsurerNumber", "MyNumber", "InsuredIdentificationNumber", "InsuredBranchNumber",
    "InsuredCardClassification", "PersonalFamilyClassification", "InsuredName", "Name",
    "NameOfOther", "NameKana", "NameOfOtherKana", "Sex1", "Birthdate", "QualificationDate",
]  # fmt: skip


def csv_row(n: int, **values: str) -> dict[str, str]:
    row = {
        "InsurerNumber": INSURER_A, "MyNumber": my_number(n),
        "InsuredIdentificationNumber": f"{7000 + n}", "InsuredBranchNumber": "00",
        "InsuredCardClassification": "01", "PersonalFamilyClassification": "1",
        "InsuredName": "", "Name": "山田　太郎", "NameOfOther": "", "NameKana": "",
        "NameOfOtherKana": "", "Sex1": "1", "Birthdate": "19800401",
        "QualificationDate": "20200401",
    }  # fmt: skip
    return {**row, **values}


def csv_bytes(rows: list[dict[str, str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def run_import(sessions: sessionmaker[Session], data: bytes) -> ImportReport:
    with transaction(sessions) as session:
        return import_csv(
            session=session, source=io.BytesIO(data), pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY,
            actor=Actor.operator("test"), register=TestResidents(),
        )  # fmt: skip


def stored(sessions: sessionmaker[Session], column: str) -> list[str | None]:
    with sessions() as session:
        rows = session.scalars(select(Qualification).order_by(Qualification.number))
        return [getattr(row, column) for row in rows]


IMPORTED = [
    csv_row(1, Name="山田 太郎", NameKana="ヤマダ　タロウ"),
    csv_row(2, Name="鈴木　　花子", NameKana="すずき はなこ", InsuredName="鈴木  一郎"),
    csv_row(3, Name=" 佐藤　三郎 ", NameKana="ｻﾄｳ　ｻﾌﾞﾛｳ", NameOfOther="サトウ ジョン",
            NameOfOtherKana="さとう じょん"),
]  # fmt: skip


@pytest.mark.db
@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_the_import_stores_names_and_readings_in_the_answers_form(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, encoding: str
) -> None:
    report = run_import(sessions, csv_bytes(IMPORTED, encoding))
    assert (report.inserted, report.rejected) == (3, 0)
    assert stored(sessions, "name") == ["山田　太郎", "鈴木　花子", "佐藤　三郎"]
    assert stored(sessions, "name_kana") == ["ﾔﾏﾀﾞ ﾀﾛｳ", "ｽｽﾞｷ ﾊﾅｺ", "ｻﾄｳ ｻﾌﾞﾛｳ"]
    assert stored(sessions, "insured_name") == [None, "鈴木　一郎", None]
    assert stored(sessions, "name_of_other") == [None, None, "サトウ　ジョン"]
    assert stored(sessions, "name_of_other_kana") == [None, None, "ｻﾄｳ ｼﾞｮﾝ"]


@pytest.mark.db
def test_reimporting_the_same_names_in_another_form_changes_nothing(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    run_import(sessions, csv_bytes(IMPORTED))
    restated = [
        csv_row(1, Name="山田　太郎", NameKana="ﾔﾏﾀﾞ ﾀﾛｳ"),
        csv_row(2, Name="鈴木 花子", NameKana="スズキ　ハナコ", InsuredName="鈴木　一郎"),
        csv_row(3, Name="佐藤 三郎", NameKana="さとう さぶろう", NameOfOther="サトウ　ジョン",
                NameOfOtherKana="ｻﾄｳ ｼﾞｮﾝ"),
    ]  # fmt: skip
    report = run_import(sessions, csv_bytes(restated))
    assert (report.unchanged, report.updated) == (3, 0)


@pytest.mark.db
def test_the_import_refuses_a_reading_without_a_half_width_form_naming_the_rule(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    rows = [
        csv_row(1),
        csv_row(2, NameKana="ヰノウエ　タロウ"),
        csv_row(3, NameOfOtherKana="YAMADA"),
    ]
    with pytest.raises(ImportRejected) as raised:
        run_import(sessions, csv_bytes(rows))
    reasons = {r.line: r.reason for r in raised.value.report.rejections}
    assert reasons == {
        3: f"NameKana: {NO_HALF_WIDTH_RULE}",
        4: f"NameOfOtherKana: {KANA_INPUT_RULE} only",
    }


@pytest.mark.db
def test_a_reading_stored_before_normalisation_is_normalised_when_an_import_restates_it(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    """Rows stored before are not rewritten by the migration (docs/domain.md); the next
    import that restates them stores the answer's form, logged as a change."""
    run_import(sessions, csv_bytes([csv_row(1, NameKana="ヤマダ タロウ")]))
    with transaction(sessions) as session:  # as an earlier version of the registry stored it
        session.execute(text("UPDATE qualifications SET name_kana = 'ヤマダ　タロウ'"))
    report = run_import(sessions, csv_bytes([csv_row(1, NameKana="ヤマダ タロウ")]))
    assert report.updated == 1
    assert stored(sessions, "name_kana") == ["ﾔﾏﾀﾞ ﾀﾛｳ"]
    with sessions() as session:
        last = session.scalars(select(ChangeLogEntry).order_by(ChangeLogEntry.id.desc())).first()
        assert last is not None and last.fields == ["NameKana"]
