"""The registry's columns for NameOfOther, NameOfOtherKana, Sex2 and
LimitApplicationCertificateChanged (migration 0003): their rules, the network wire, and the
migration down and up with rows in place."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import downgrade, migrate, transaction
from insurer_registry.importer.service import import_csv
from insurer_registry.lookup.schemas import NetworkQualification
from insurer_registry.lookup.types import QualificationInfo
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import (
    InsuredCardClassification,
    LimitCertificateChanged,
    PersonalFamilyClassification,
    Sex,
)
from insurer_registry.members.domain import InvalidRecord, MemberRecord, accepted_record
from insurer_registry.models import Base
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from onshi_kernel.numbers import InsurerNumber
from tests.support.registry import (
    INSURER_A,
    RegisteredInsurer,
    TestResidents,
    Writer,
    member_body,
    my_number,
)

NEW_COLUMNS = {"name_of_other", "name_of_other_kana", "sex2", "limit_changed"}
RECORD: dict[str, Any] = {
    "number": "1001",
    "branch": "00",
    "card_classification": InsuredCardClassification.GENERAL,
    "personal_family": PersonalFamilyClassification.INSURED,
    "name": "山田　花子",
    "sex": Sex.FEMALE,
    "birthdate": date(1990, 5, 15),
    "qualification_date": date(2020, 4, 1),
}


def problems_of(**values: Any) -> set[str]:
    try:
        accepted_record({**RECORD, **values})
    except InvalidRecord as error:
        return {problem.field for problem in error.problems}
    return set()


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({"name_of_other": "ヤマダ　ハナ", "name_of_other_kana": "ﾔﾏﾀﾞ ﾊﾅ"}, set()),
        ({"sex2": Sex.MALE, "limit_changed": LimitCertificateChanged.CHANGED}, set()),
        ({"name_of_other": " "}, {"NameOfOther"}),
        ({"name_of_other": "あ" * 101}, {"NameOfOther"}),
        ({"name_of_other_kana": "Hana"}, {"NameOfOtherKana"}),
        ({"name_of_other_kana": "ｱ" * 101}, {"NameOfOtherKana"}),
    ],
)
def test_the_new_fields_follow_the_rules_of_their_kind(
    values: dict[str, Any], fields: set[str]
) -> None:
    assert problems_of(**values) == fields


def test_the_network_wire_carries_the_new_elements() -> None:
    record = MemberRecord(
        **RECORD, name_of_other="ヤマダ　ハナ", name_of_other_kana="ﾔﾏﾀﾞ ﾊﾅ", sex2=Sex.MALE,
        limit_changed=LimitCertificateChanged.CHANGED,
    )  # fmt: skip
    info = QualificationInfo(
        qualification_id=7, insurer_number=InsurerNumber(INSURER_A), insurer_name="健保",
        record=record,
    )  # fmt: skip
    wire = NetworkQualification.of(info)
    sent = wire.model_dump(mode="json")
    assert {key: sent[key] for key in ("NameOfOther", "NameOfOtherKana", "Sex2")} == {
        "NameOfOther": "ヤマダ　ハナ",
        "NameOfOtherKana": "ﾔﾏﾀﾞ ﾊﾅ",
        "Sex2": "1",
    }
    assert sent["LimitApplicationCertificateChanged"] == "1"
    assert NetworkQualification.model_validate_json(wire.model_dump_json()).info() == info


@pytest.mark.db
def test_the_api_takes_and_shows_the_new_elements(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    body = member_body(
        1, NameOfOther="ヤマダ ハナ", NameOfOtherKana="やまだ はな", Sex2="1",
        LimitApplicationCertificateChanged="0",
    )  # fmt: skip
    response = writer.post("/v1/members", insurer_a, body)
    assert response.status_code == 201, response.text
    member = response.json()
    assert (member["Sex2"], member["LimitApplicationCertificateChanged"]) == ("1", "0")
    path = f"/v1/members/{member['QualificationId']}"
    cleared = writer.patch(
        path, insurer_a, {"Sex2": None, "LimitApplicationCertificateChanged": "1"}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json().get("Sex2") is None
    assert cleared.json()["LimitApplicationCertificateChanged"] == "1"
    for element, value in (("Sex2", "4"), ("LimitApplicationCertificateChanged", "2")):
        refused = writer.post("/v1/members", insurer_a, member_body(2, **{element: value}))
        assert refused.status_code == 422, (element, refused.text)


def _import(sessions: sessionmaker[Session], *rows: str) -> None:
    header = (
        "InsurerNumber,MyNumber,InsuredIdentificationNumber,InsuredBranchNumber,"
        "InsuredCardClassification,PersonalFamilyClassification,Name,NameOfOther,NameKana,"
        "NameOfOtherKana,Sex1,Sex2,Birthdate,QualificationDate,"
        "LimitApplicationCertificateChanged\n"
    )
    with transaction(sessions) as session:
        import_csv(
            session=session, source=io.BytesIO((header + "".join(rows)).encode()),
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY, actor=Actor.operator("test"),
            register=TestResidents(),
        )  # fmt: skip


@pytest.mark.db
def test_migration_0003_goes_down_and_up_with_rows_in_place(
    migrated_engine: Engine, sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    _import(
        sessions,
        f"{INSURER_A},{my_number(3)},33,00,01,1,山田　花子,ヤマダ　ハナ,ﾔﾏﾀﾞ ﾊﾅｺ,ﾔﾏﾀﾞ ﾊﾅ,2,1,"
        "19900515,20200401,1\n",
    )
    try:
        downgrade(migrated_engine, "0002")
        with migrated_engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("qualifications")}
            assert columns.isdisjoint(NEW_COLUMNS)
            assert connection.execute(text("SELECT count(*) FROM qualifications")).scalar() == 1
    finally:
        migrate(migrated_engine)
    with migrated_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.execute(text("SELECT name, sex2 FROM qualifications")).one() == (
            "山田　花子",
            None,  # what went down with the column does not come back
        )


@pytest.mark.db
@pytest.mark.parametrize(("column", "value"), [("sex2", "4"), ("limit_changed", "2")])
def test_the_database_refuses_a_code_outside_the_list(
    migrated_engine: Engine,
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    column: str,
    value: str,
) -> None:
    _import(
        sessions, f"{INSURER_A},{my_number(4)},44,00,01,1,山田　花子,,,,2,,19900515,20200401,\n"
    )
    with pytest.raises(IntegrityError), migrated_engine.begin() as connection:
        connection.execute(text(f"UPDATE qualifications SET {column} = :value"), {"value": value})
