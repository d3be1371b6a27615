"""The elements real answers carry beyond the basic ones (docs/answer.md): NameOfOther and
NameOfOtherKana (通称名), Sex2 and LimitApplicationCertificateChanged, from an insurer's CSV
row or API body, through the registry and the server, to the JSON answer and the
connector's answer file, each in its place in the element order."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.spool import Spool
from insurer_registry.api.app import create_app as create_registry_app
from insurer_registry.db import transaction
from insurer_registry.importer.service import import_csv
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import get_insurer, issue_credential
from insurer_registry.members.audit import Actor
from insurer_registry.settings import Settings as RegistrySettings
from onshi_kernel.four_items import InMemoryResidentRegister
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, complete_my_number, person_reference
from tests.support.registry import four_items_of_body
from tests.support.world import KYOKAI, World

from .conftest import read_answer, request_file, search_info

pytestmark = pytest.mark.db

MEMBER = {
    "InsuredIdentificationNumber": "8801",
    "InsuredBranchNumber": "00",
    "InsuredCardClassification": "01",
    "PersonalFamilyClassification": "1",
    "Name": "山田 花子",
    "NameOfOther": "ヤマダ ハナ",
    "NameKana": "やまだ　はなこ",
    "NameOfOtherKana": "ヤマダ ハナ",
    "Sex1": "2",
    "Sex2": "1",
    "Birthdate": "19900515",
    "QualificationDate": "20200401",
    "InsuredCertificateIssuanceDate": "20200401",
    "InsuredCardValidDate": "20200401",
    "LimitApplicationCertificateChanged": "1",
}
# What the answer carries of them, in the answer's form (docs/answer.md).
ANSWERED = {
    "Name": "山田　花子",
    "NameOfOther": "ヤマダ　ハナ",
    "NameKana": "ﾔﾏﾀﾞ ﾊﾅｺ",
    "NameOfOtherKana": "ﾔﾏﾀﾞ ﾊﾅ",
    "Sex1": "2",
    "Sex2": "1",
    "InsuredCertificateIssuanceDate": "20200401",
    "InsuredCardValidDate": "20200401",
    "LimitApplicationCertificateChanged": "1",
}
ORDER = [
    "InsuredName", "Name", "NameOfOther", "NameKana", "NameOfOtherKana", "Sex1", "Sex2",
    "Birthdate", "Address", "PostNumber", "QualificationDate", "DisqualificationDate",
    "InsuredCertificateIssuanceDate", "InsuredCardValidDate", "InsuredCardExpirationDate",
    "InsuredPartialContributionRatio", "PreschoolClassification", "ReasonOfLoss", "InsurerName",
    "ElderlyRecipientCertificateInfo", "LimitApplicationCertificateChanged",
    "LimitApplicationCertificateRelatedConsFlg",
]  # fmt: skip


def issuer_knows_the_member() -> InMemoryResidentRegister:
    """The issuer's register, which knows the member as the insurer states them."""
    body = {"MyNumber": complete_my_number("88010000000"), **MEMBER}
    ref = person_reference(body["MyNumber"], DEVELOPMENT_PSEUDONYM_KEY)
    return InMemoryResidentRegister({ref: four_items_of_body(body)})


def imported_from_csv(world: World) -> None:
    row = {"InsurerNumber": KYOKAI.digits, "MyNumber": complete_my_number("88010000000"), **MEMBER}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(row)
    with transaction(world.registry) as session:
        report = import_csv(
            session=session, source=io.BytesIO(out.getvalue().encode("cp932")),
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY, actor=Actor.operator("test"),
            register=issuer_knows_the_member(),
        )  # fmt: skip
    assert report.inserted == 1


@pytest.fixture
def registry_api(world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The registry's member API on the world's registry, with a credential of KYOKAI."""
    engine = world.registry.kw["bind"]
    with transaction(world.registry) as session:
        kyokai = get_insurer(session=session, number=KYOKAI)
        token = issue_credential(
            session=session, kind=CredentialKind.INSURER, label="test", insurer=kyokai
        ).token
    settings = RegistrySettings(database_url=str(engine.url), env="development")
    app = create_registry_app(settings, engine=engine, register=issuer_knows_the_member())
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def registered_through_the_api(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    body = {"MyNumber": complete_my_number("88010000000"), **MEMBER}
    response = client.post(
        "/v1/members", json=body, headers={**headers, "Idempotency-Key": "round-trip-1"}
    )
    assert response.status_code == 201, response.text
    assert {key: response.json()[key] for key in ANSWERED} == ANSWERED


def json_result(world: World) -> dict[str, Any]:
    query = {
        "InsurerNumber": KYOKAI.digits,
        "InsuredIdentificationNumber": MEMBER["InsuredIdentificationNumber"],
        "Birthdate": MEMBER["Birthdate"],
    }
    response = world.client.post(
        "/v1/eligibility/insured-number", json={"query": query}, headers=world.headers()
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]
    return dict(result)


def xml_result(world: World, spool: Spool, client: QualificationClient) -> list[tuple[str, str]]:
    entry = search_info(MEMBER["InsuredIdentificationNumber"], MEMBER["Birthdate"])
    (spool.req / "OQSsiquc01req_rt.xml").write_bytes(request_file(entry, encoding="Shift_JIS"))
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    found = read_answer(spool.res / "OQSsiquc01res_rt.xml")
    (result,) = found.all("MessageBody/ResultList/ResultOfQualificationConfirmation")
    return [(element.tag, element.text or "") for element in result]


def assert_answered(json: dict[str, Any], xml: list[tuple[str, str]]) -> None:
    assert {key: json[key] for key in ANSWERED} == ANSWERED
    assert dict(xml).items() >= ANSWERED.items()
    for tags in ([key for key in json], [tag for tag, _ in xml]):
        assert [tag for tag in tags if tag in ORDER] == [tag for tag in ORDER if tag in tags]


def test_the_elements_round_trip_from_a_csv_row(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    imported_from_csv(world)
    assert_answered(json_result(world), xml_result(world, spool, client))


def test_the_elements_round_trip_from_an_api_body(
    world: World,
    spool: Spool,
    client: QualificationClient,
    registry_api: tuple[TestClient, dict[str, str]],
) -> None:
    registered_through_the_api(registry_api)
    assert_answered(json_result(world), xml_result(world, spool, client))


def test_the_elements_are_left_out_when_the_insurer_gave_none(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    # The world's members have none of them.
    entry = search_info("1001", "19800401", symbol="記号12")
    (spool.req / "OQSsiquc01req_none.xml").write_bytes(request_file(entry))
    Connector(spool, client, settle_s=0).run_once()
    found = read_answer(spool.res / "OQSsiquc01res_none.xml")
    (result,) = found.all("MessageBody/ResultList/ResultOfQualificationConfirmation")
    tags = {element.tag for element in result}
    assert tags.isdisjoint(
        {"NameOfOther", "NameOfOtherKana", "Sex2", "LimitApplicationCertificateChanged"}
    )
