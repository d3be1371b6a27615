"""No My Number, name or birth date reaches a log, at any level."""

from __future__ import annotations

import io
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from card_reader.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from insurer_registry.audit import Actor
from insurer_registry.db import transaction
from insurer_registry.importer.service import import_csv
from insurer_registry.lookup.local import RegistryQualificationSource
from tests.insurer_registry.conftest import (
    INSURER_A,
    RegisteredInsurer,
    Writer,
    member_body,
    my_number,
)

pytestmark = pytest.mark.db

SECRETS = [my_number(1), my_number(2), "山田", "ヤマダ", "19800401", "1980-04-01"]


def test_member_writes_reads_imports_and_lookups_log_no_personal_data(
    caplog: pytest.LogCaptureFixture,
    client: TestClient,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
) -> None:
    caplog.set_level(logging.DEBUG)
    member = writer.post("/v1/members", insurer_a, member_body(1)).json()
    path = f"/v1/members/{member['QualificationId']}"
    writer.patch(path, insurer_a, {"NameKana": "ヤマダ　タロ", "MyNumber": my_number(2)})
    writer.post("/v1/members", insurer_a, member_body(1, MyNumber="123456789012"))
    client.post("/v1/members/search", json={"MyNumber": my_number(2)}, headers=insurer_a.headers)
    header = (
        "InsurerNumber,MyNumber,InsuredIdentificationNumber,InsuredBranchNumber,"
        "InsuredCardClassification,PersonalFamilyClassification,Name,Sex1,Birthdate,"
        "QualificationDate\n"
    )
    data = header + f"{INSURER_A},{my_number(1)},9,00,01,1,山田　花子,2,19800401,20200401\n"
    with transaction(sessions) as session:
        import_csv(
            session=session,
            source=io.BytesIO(data.encode()),
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY,
            actor=Actor.operator("test"),
        )
    from card_reader.mynumber import person_reference

    person = person_reference(my_number(2), DEVELOPMENT_PSEUDONYM_KEY)
    RegistryQualificationSource(sessions).qualifications_of(person)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "registered qualification" in logged
    for secret in [*SECRETS, person]:
        assert secret not in logged
