"""The lookup the qualification server uses: a person's qualifications across insurers,
history included, the same through both implementations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.errors import AuthenticationFailed
from insurer_registry.lookup import InsuredNumber, QualificationSource
from insurer_registry.lookup.http import HttpQualificationSource
from insurer_registry.lookup.local import RegistryQualificationSource
from insurer_registry.members.codes import QualificationValidity, ReasonOfLoss
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from onshi_kernel.numbers import InsurerNumber
from tests.support.registry import (
    INSURER_A,
    INSURER_B,
    RegisteredInsurer,
    TestResidents,
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


def insured(
    number: str = "1001",
    *,
    branch: str | None = None,
    birthdate: date = date(1980, 4, 1),
    symbol: str | None = "東京１",
    insurer: str = INSURER_A,
) -> InsuredNumber:
    return InsuredNumber(
        insurer_number=InsurerNumber.parse(insurer),
        symbol=symbol,
        number=number,
        branch=branch,
        birthdate=birthdate,
    )


def test_lookup_by_insured_number_finds_the_holder_and_their_history(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    insurer_b: RegisteredInsurer,
) -> None:
    old_id, new_id = job_change(writer, insurer_a, insurer_b)
    (found,) = source.holders_of(insured(branch="01"))
    assert found.person_ref == PERSON
    assert [q.qualification_id for q in found.qualifications] == [new_id, old_id]


def family(writer: Writer, insurer: RegisteredInsurer, residents: TestResidents) -> None:
    """Card number 1001 of insurer A: the insured (00, born 1980) and twins (01 and 02,
    born 2015-05-05), each known to the issuer as registered."""
    for n, branch, birth in ((1, "00", "19800401"), (2, "01", "20150505"), (3, "02", "20150505")):
        body = member_body(
            n,
            InsuredIdentificationNumber="1001",
            InsuredBranchNumber=branch,
            Birthdate=birth,
            PersonalFamilyClassification="1" if branch == "00" else "2",
        )
        residents.know(body)
        assert writer.post("/v1/members", insurer, body).status_code == 201


def test_without_a_branch_the_birth_date_picks_the_holder(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    resident_register: TestResidents,
) -> None:
    family(writer, insurer_a, resident_register)
    (found,) = source.holders_of(insured())
    assert found.person_ref == PERSON
    assert [q.record.branch for q in found.qualifications] == ["00"]


def test_without_a_branch_holders_sharing_the_birth_date_all_match_in_branch_order(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    resident_register: TestResidents,
) -> None:
    family(writer, insurer_a, resident_register)
    twins = source.holders_of(insured(birthdate=date(2015, 5, 5)))
    assert [p.qualifications[0].record.branch for p in twins] == ["01", "02"]
    assert [p.person_ref for p in twins] == [
        person_reference(my_number(n), DEVELOPMENT_PSEUDONYM_KEY) for n in (2, 3)
    ]
    (second,) = source.holders_of(insured(birthdate=date(2015, 5, 5), branch="02"))
    assert second == twins[1]


@pytest.mark.parametrize(
    "asked",
    [
        insured(birthdate=date(1980, 4, 2)),  # the right number, a wrong birth date
        insured(branch="01"),  # a branch whose holder has another birth date
        insured("1002"),  # nobody's number
        insured(symbol=None),  # the number without its 記号
        insured(insurer=INSURER_B),  # the number at another insurer
    ],
    ids=["wrong-birth-date", "other-branch", "unknown-number", "no-symbol", "other-insurer"],
)
def test_a_number_nobody_born_then_holds_finds_nobody(
    source: QualificationSource,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    insurer_b: RegisteredInsurer,
    asked: InsuredNumber,
    resident_register: TestResidents,
) -> None:
    family(writer, insurer_a, resident_register)
    assert source.holders_of(asked) == ()


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


def test_a_held_qualification_comes_as_held_without_its_data_and_the_history_with_it(
    source: QualificationSource, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    body = member_body(1, Name="佐藤　花子", Birthdate="19800402")
    created = writer.post("/v1/members", insurer_a, body).json()
    found = source.qualifications_of(PERSON)
    assert found.qualifications == ()
    (held,) = found.held
    assert (held.qualification_id, held.insurer_number.digits) == (
        created["QualificationId"],
        INSURER_A,
    )
    assert (held.differing, held.person_known) == (("Name", "Birthdate"), True)
    assert held.held_since is not None and held.held_since.tzinfo is not None
    (entry,) = source.linkage_history(PERSON)
    assert (entry.event, entry.state, entry.insurer_name) == (
        "linked",
        "held",
        "東京都ＡＡ健康保険組合",
    )
    assert dict(entry.outcomes) == {
        "Name": "mismatch",
        "Birthdate": "mismatch",
        "Sex1": "match",
        "Address": "not_given",
    }
    assert entry.my_number_last4 == my_number(1)[-4:]
