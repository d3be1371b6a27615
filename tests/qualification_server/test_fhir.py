"""The card check answered as FHIR R4B (CoverageEligibilityResponse + Coverage, JP Core)."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse

from qualification_server.answers.fhir import EXT_BRANCH, EXT_NUMBER, EXT_SYMBOL
from tests.support.world import World

pytestmark = pytest.mark.db


def _fhir_card_check(world: World, label: str) -> CoverageEligibilityResponse:
    challenge = world.challenge()
    proof = world.proof(label, challenge)
    response = world.client.post(
        "/fhir/v1/eligibility/card",
        json={"challenge": challenge, "certificate": proof["certificate"],
              "proof": {"method": "pin", "signature": proof["signature"]}},
        headers=world.headers(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return CoverageEligibilityResponse.model_validate(response.json())


def test_card_check_as_coverage_eligibility_response(world: World) -> None:
    world.register("yamada-taro")
    resource = _fhir_card_check(world, "yamada-taro")
    assert resource.outcome == "complete"
    assert resource.insurance[0].inforce is True
    contained = {r.__resource_type__: r for r in resource.contained}
    coverage = contained["Coverage"]
    extensions = {e.url: e.valueString for e in coverage.extension}
    assert extensions == {EXT_SYMBOL: "記号12", EXT_NUMBER: "1001", EXT_BRANCH: "00"}
    assert coverage.dependent == "00"
    assert str(coverage.period.start) == "2010-04-01"
    assert coverage.costToBeneficiary[0].valueQuantity.value == 30
    patient = contained["Patient"]
    assert str(patient.birthDate) == "1980-04-01"
    assert patient.gender == "male"
    assert contained["Organization"].identifier[0].value == "01130012"


def test_a_loss_recorded_in_advance_leaves_the_coverage_in_force_until_that_day(
    world: World,
) -> None:
    """An insurer records a loss that starts next month: today the coverage is still in
    force (inforce true); the loss date is the first day without it."""
    import datetime as dt

    from insurer_registry import db as registry_db
    from insurer_registry.insurers.service import get_insurer
    from insurer_registry.members.audit import Actor
    from insurer_registry.members.codes import ReasonOfLoss
    from insurer_registry.members.service import record_loss
    from tests.support.world import KYOKAI

    world.register("yamada-taro")
    with registry_db.transaction(world.registry) as session:
        record_loss(
            session=session, insurer=get_insurer(session=session, number=KYOKAI),
            qualification_id=world.qualification_ids["yamada"],
            loss_date=dt.date.today() + dt.timedelta(days=40), reason=ReasonOfLoss.OTHER,
            actor=Actor.operator("test"),
        )  # fmt: skip
    resource = _fhir_card_check(world, "yamada-taro")
    assert resource.insurance[0].inforce is True
