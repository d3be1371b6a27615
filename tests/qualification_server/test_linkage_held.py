"""A qualification the registry holds (its registration did not match the issuer's four
items, docs/linkage.md) is never answered: a check that finds nothing else valid gets Q3004,
saying it cannot be shown now and why; other valid qualifications are answered as before."""

from __future__ import annotations

import datetime as dt

import pytest

from card_reader.issuance.residents import Resident
from insurer_registry import db as registry_db
from insurer_registry.insurers.service import get_insurer
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    PersonalFamilyClassification,
    Sex,
)
from insurer_registry.members.domain import MemberRecord
from insurer_registry.members.service import correct_member, register_member
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from onshi_kernel.numbers import InsurerNumber
from qualification_server.contract.codes import CATALOGUE, Code
from tests.support.world import KOKUHO, KYOKAI, World, resident_register_of

pytestmark = pytest.mark.db


def mislink(
    world: World,
    residents: dict[str, Resident],
    label: str,
    *,
    insurer: InsurerNumber,
    number: str,
    name: str,
    since: dt.date,
) -> int:
    """An insurer registers insured number `number` under `label`'s My Number with another
    person's name: held."""
    resident = residents[label]
    with registry_db.transaction(world.registry) as s:
        member = register_member(
            session=s, insurer=get_insurer(session=s, number=insurer),
            person_ref=person_reference(resident.my_number, DEVELOPMENT_PSEUDONYM_KEY),
            record=MemberRecord(
                number=number, branch="00", card_classification=InsuredCardClassification.GENERAL,
                personal_family=PersonalFamilyClassification.INSURED, name=name,
                sex=Sex(resident.sex), birthdate=resident.birth_date, qualification_date=since,
                contribution_ratio=ContributionRatio.THIRTY_PERCENT,
            ),
            actor=Actor.operator("tests"), register=resident_register_of(residents),
        )  # fmt: skip
    assert member.linkage.state.value == "held"
    return member.id


def test_a_card_whose_only_qualification_is_held_gets_q3004_with_its_reason(
    world: World, residents: dict[str, Resident]
) -> None:
    world.register("ito-mai")
    with registry_db.transaction(world.registry) as s:
        # The insurer mistypes the name: the registration no longer matches the issuer's.
        correct_member(
            session=s, insurer=get_insurer(session=s, number=KYOKAI),
            qualification_id=world.qualification_ids["ito-mai"], changes={"name": "伊東　舞"},
            actor=Actor.operator("tests"), register=resident_register_of(residents),
        )  # fmt: skip
    status, answer = world.check("ito-mai")
    assert status == 409
    error = answer["error"]
    assert error["code"] == "Q3004"
    assert error["message"] == CATALOGUE[Code.QUALIFICATION_HELD].front_desk
    assert "保険者が登録内容" in error["message"]
    assert error["detail"] == f"insurer {KYOKAI.digits}: Name"
    for value in ("伊東", "伊藤", residents["ito-mai"].my_number):
        assert value not in str(answer)


def test_a_held_mislink_is_left_out_and_the_valid_qualification_answered(
    world: World, residents: dict[str, Resident]
) -> None:
    world.register("yamada-taro")
    mislink(
        world, residents, "yamada-taro", insurer=KOKUHO, number="8801", name="鈴木　一郎",
        since=dt.date(2024, 4, 1),
    )  # fmt: skip
    status, answer = world.check("yamada-taro")
    assert status == 200, answer
    body = answer["MessageBody"]
    assert body["QualificationValidity"] == "1"
    (result,) = body["ResultList"]["ResultOfQualificationConfirmation"]
    assert result["InsurerNumber"] == KYOKAI.wire
    assert "鈴木" not in str(answer)


def test_a_lookup_by_a_held_insured_number_gets_q3004_not_no_match(
    world: World, residents: dict[str, Resident]
) -> None:
    mislink(
        world, residents, "tanaka-ichiro", insurer=KYOKAI, number="8802", name="田中　次郎",
        since=dt.date(2025, 4, 1),
    )  # fmt: skip
    query = {
        "InsurerNumber": KYOKAI.wire,
        "InsuredIdentificationNumber": "8802",
        "InsuredBranchNumber": "00",
        "Birthdate": "19450228",
    }
    response = world.client.post(
        "/v1/eligibility/insured-number", json={"query": query}, headers=world.headers()
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "Q3004"
    # A wrong birth date is still the refusal an unknown number gets.
    wrong = world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": {**query, "Birthdate": "19450301"}},
        headers=world.headers(),
    )
    assert wrong.json()["error"]["code"] == "Q4001"


def test_registration_with_only_a_held_qualification_is_refused_q3004(
    world: World, residents: dict[str, Resident]
) -> None:
    mislink(
        world, residents, "tanaka-ichiro", insurer=KYOKAI, number="8803", name="田中　次郎",
        since=dt.date(2025, 4, 1),
    )  # fmt: skip
    proof = world.proof("tanaka-ichiro", world.portal_challenge("registration"))
    response = world.client.post("/portal/v1/registrations", json={"proof": proof, "consent": True})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "Q3004"
