"""The card check answered as FHIR R4B (CoverageEligibilityResponse + Coverage, JP Core)."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse

from qualification_server.fhir import EXT_BRANCH, EXT_NUMBER, EXT_SYMBOL

from .conftest import World

pytestmark = pytest.mark.db


def test_card_check_as_coverage_eligibility_response(world: World) -> None:
    world.register("yamada-taro")
    challenge = world.challenge()
    proof = world.proof("yamada-taro", challenge)
    response = world.client.post(
        "/fhir/v1/eligibility/card",
        json={"challenge": challenge, "certificate": proof["certificate"],
              "proof": {"method": "pin", "signature": proof["signature"]}},
        headers=world.headers(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    resource = CoverageEligibilityResponse.model_validate(response.json())
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
