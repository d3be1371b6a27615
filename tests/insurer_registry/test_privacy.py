"""No My Number, name or birth date reaches a log, at any level."""

from __future__ import annotations

import hashlib
import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import transaction
from insurer_registry.digests import keyed_digest
from insurer_registry.importer.service import import_csv
from insurer_registry.lookup.local import RegistryQualificationSource
from insurer_registry.members.audit import Actor
from insurer_registry.members.schemas import MemberCreate
from insurer_registry.models import IdempotencyRecord, Import
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from tests.support.registry import (
    INSURER_A,
    RegisteredInsurer,
    TestResidents,
    Writer,
    member_body,
    my_number,
)

pytestmark = pytest.mark.db

CSV_HEADER = (
    "InsurerNumber,MyNumber,InsuredIdentificationNumber,InsuredBranchNumber,"
    "InsuredCardClassification,PersonalFamilyClassification,Name,Sex1,Birthdate,"
    "QualificationDate\n"
)


def _import_one_member(sessions: sessionmaker[Session], n: int) -> str:
    """Import a one-row file for member `n` as the operator; returns the file's text."""
    data = CSV_HEADER + f"{INSURER_A},{my_number(n)},9,00,01,1,山田　花子,2,19800401,20200401\n"
    with transaction(sessions) as session:
        import_csv(
            session=session,
            source=io.BytesIO(data.encode()),
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY,
            actor=Actor.operator("test"),
            register=TestResidents(),
        )
    return data


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
    _import_one_member(sessions, 1)
    from onshi_kernel.mynumber import person_reference

    person = person_reference(my_number(2), DEVELOPMENT_PSEUDONYM_KEY)
    RegistryQualificationSource(sessions).qualifications_of(person)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "registered qualification" in logged
    for secret in [*SECRETS, person]:
        assert secret not in logged


def _every_stored_digest(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        hashes = session.scalars(select(IdempotencyRecord.request_hash)).all()
        files = session.scalars(select(Import.file_digest)).all()
    return [*hashes, *files]


def test_no_stored_digest_gives_a_my_number_back_without_the_key(
    client: TestClient,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
) -> None:
    """An unkeyed SHA-256 of a body or file, next to the member row, is a brute force of
    10¹¹ candidates away from the My Number. Each digest is recomputed here as an attacker
    would, from the real My Number: none matches."""
    body = member_body(1)
    assert writer.post("/v1/members", insurer_a, body).status_code == 201
    csv = _import_one_member(sessions, 2)
    payload = MemberCreate.model_validate(body).model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )  # what the route fingerprints
    canonical = json.dumps(
        ["POST", "/v1/members", payload], sort_keys=True, ensure_ascii=False, default=str
    )
    unkeyed = {
        hashlib.sha256(canonical.encode()).hexdigest(),
        hashlib.sha256(csv.encode()).hexdigest(),
    }
    stored = _every_stored_digest(sessions)
    assert len(stored) == 2
    assert unkeyed.isdisjoint(stored)
    # They are digests all the same: the key reproduces them, so a retry still matches.
    assert (
        keyed_digest(
            DEVELOPMENT_PSEUDONYM_KEY, "import-file", hashlib.sha256(csv.encode()).digest()
        )
        in stored
    )
