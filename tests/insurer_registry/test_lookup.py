"""The lookup the qualification server uses: a person's qualifications across insurers,
history included, the same through both implementations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.errors import AuthenticationFailed, InsuredNumberNotFound
from insurer_registry.lookup import QualificationSource
from insurer_registry.lookup.http import HttpQualificationSource
from insurer_registry.lookup.local import RegistryQualificationSource
from insurer_registry.members.codes import QualificationValidity, ReasonOfLoss
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from onshi_kernel.numbers import InsurerNumber
from tests.support.registry import (
    INSURER_A,
    INSURER_B,
    RegisteredInsurer,
    Writer,
    member_body,
    my_number,
)

pytestmark = pytest.mark.db

PERSON = person_reference(my_number(1), DEVELOPMENT_PSEUDONYM_KEY)


@pytest.fixture(params=["in-process", "http"])
def source(
    request: pytest.FixtureRequest,
    sessions: sessionmaker[Session],
    client: TestClient,
    network_token: str,
) -> Iterator[QualificationSource]:
    """Both implementations of the lookup; each test runs against each."""
    if request.param == "in-process":
        yield RegistryQualificationSource(sessions)
    else:
        yield HttpQualificationSource(client=client, token=network_token)


def job_change(writer: Writer, a: RegisteredInsurer, b: RegisteredInsurer) -> tuple[int, int]:
    """Member 1 leaves insurer A on 2024-04-01 and joins insurer B the same day."""
    first = writer.post("/v1/members", a, member_body(1, InsuredBranchNumber="01")).json()
    lost = writer.post(
        f"/v1/members/{first['QualificationId']}/loss",
        a,
        {"DisqualificationDate": "20240401", "ReasonOfLoss": "03"},
    )
    assert lost.status_code == 200
    second = writer.post(
        "/v1/members",
        b,
        member_body(1, InsuredCardSymbol=None, QualificationDate="20240401"),
    ).json()
    return first["QualificationId"], second["QualificationId"]


def test_an_insurer_change_is_kept_as_history(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    insurer_b: RegisteredInsurer,
) -> None:
    old_id, new_id = job_change(writer, insurer_a, insurer_b)
    found = source.qualifications_of(PERSON)
    assert [q.qualification_id for q in found.qualifications] == [new_id, old_id]
    new, old = found.qualifications
    assert (new.insurer_number.digits, new.insurer_name) == (INSURER_B, "札幌市")
    assert (old.insurer_number.digits, old.record.reason_of_loss) == (
        INSURER_A,
        ReasonOfLoss.OTHER_INSURANCE_ACQUIRED,
    )
    assert old.record.branch == "01"
    assert found.current(date(2024, 3, 31)) == (old,)
    assert found.current(date(2024, 4, 1)) == (new,)


def test_validity_follows_the_history(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    insurer_b: RegisteredInsurer,
) -> None:
    old_id, new_id = job_change(writer, insurer_a, insurer_b)
    found = source.qualifications_of(PERSON)
    today = date(2024, 6, 1)
    assert found.validity_on(today) is QualificationValidity.VALID
    assert found.validity_of(new_id, today) is QualificationValidity.VALID
    assert found.validity_of(old_id, today) is QualificationValidity.INVALID_NEWER_EXISTS
    assert found.validity_on(date(2019, 1, 1)) is QualificationValidity.INVALID


def test_a_person_without_qualifications_is_an_empty_answer(
    source: QualificationSource, insurer_a: RegisteredInsurer
) -> None:
    found = source.qualifications_of(PERSON)
    assert found.qualifications == ()
    assert found.validity_on(date(2024, 1, 1)) is QualificationValidity.NOT_FOUND


def test_overlapping_qualifications_at_two_insurers_are_several(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    insurer_b: RegisteredInsurer,
) -> None:
    writer.post("/v1/members", insurer_a, member_body(1))
    writer.post("/v1/members", insurer_b, member_body(1))
    found = source.qualifications_of(PERSON)
    assert found.validity_on(date(2024, 1, 1)) is QualificationValidity.SEVERAL


def test_lookup_by_insured_number_finds_the_holder_and_their_history(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    insurer_b: RegisteredInsurer,
) -> None:
    old_id, new_id = job_change(writer, insurer_a, insurer_b)
    found = source.qualifications_by_insured_number(
        insurer_number=InsurerNumber.parse(INSURER_A),
        symbol="東京１",
        number="1001",
        branch="01",
    )
    assert found.person_ref == PERSON
    assert [q.qualification_id for q in found.qualifications] == [new_id, old_id]


def test_an_unknown_insured_number_is_not_found(
    source: QualificationSource, insurer_a: RegisteredInsurer
) -> None:
    with pytest.raises(InsuredNumberNotFound):
        source.qualifications_by_insured_number(
            insurer_number=InsurerNumber.parse(INSURER_A), symbol=None, number="1", branch="00"
        )


def test_the_answer_carries_the_certificates(
    source: QualificationSource, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    body = member_body(
        1,
        LimitApplicationCertificateRelatedInfo={
            "LimitApplicationCertificateClassification": "02",
            "LimitApplicationCertificateValidStartDate": "20240401",
        },
        SpecificDiseasesCertificateList=[
            {"SpecificDiseasesDiseaseCategory": "3", "SpecificDiseasesValidStartDate": "20240101"}
        ],
    )
    assert writer.post("/v1/members", insurer_a, body).status_code == 201
    (only,) = source.qualifications_of(PERSON).qualifications
    assert only.record.limit is not None
    assert only.record.limit.classification.value == "02"
    assert [c.category.value for c in only.record.specific_diseases] == ["3"]


def test_the_network_endpoint_refuses_insurer_credentials(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    response = client.post(
        "/network/v1/qualifications/by-person",
        json={"PersonRef": PERSON},
        headers=insurer_a.headers,
    )
    assert response.status_code == 401


def test_the_http_source_reports_a_bad_credential(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    source = HttpQualificationSource(client=client, token=insurer_a.token)
    with pytest.raises(AuthenticationFailed):
        source.qualifications_of(PERSON)


def test_history_of_an_imported_qualification_starts_with_its_import(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    header = (
        "InsurerNumber,MyNumber,InsuredIdentificationNumber,InsuredBranchNumber,"
        "InsuredCardClassification,PersonalFamilyClassification,Name,Sex1,Birthdate,"
        "QualificationDate\n"
    )
    data = header + f"{INSURER_A},{my_number(1)},77,00,01,1,山田　太郎,1,19800401,20200401\n"
    headers: dict[str, Any] = {**insurer_a.headers, "Idempotency-Key": "imp"}
    report = client.post("/v1/imports", content=data.encode(), headers=headers).json()
    found = client.post(
        "/v1/members/search", json={"MyNumber": my_number(1)}, headers=insurer_a.headers
    ).json()["Members"][0]
    path = f"/v1/members/{found['QualificationId']}"
    writer.patch(path, insurer_a, {"NameKana": "ヤマダ　タロウ"})
    changes = client.get(f"{path}/history", headers=insurer_a.headers).json()["Changes"]
    assert [(c["Action"], c["ImportId"]) for c in changes] == [
        ("register", report["ImportId"]),
        ("correct", None),
    ]
    assert changes[0]["RequestId"] == "imp"
